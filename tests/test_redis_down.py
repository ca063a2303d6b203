"""With Redis away (restarting, unreachable), the public endpoints still take leads and events.

Redis is two things in production: the cache the rate limits count in, and django-q2's broker.
Neither being away may cost a lead or a provider's event: the rate limit lets requests through
(it fails open, warning once a minute), and work that cannot be queued is done in the request
(routing) or left, committed, for the minute jobs (deliveries, inbox events) — with its "task
queued" mark cleared, so the next commit tries the queue again at once. The Redis here is a port
where nothing listens: connections are refused, as during a restart.
"""

import json
import logging
import socket

import pytest
from django.test import override_settings
from django_q.conf import Conf

from bridge import outbox, public
from bridge.models import InboundEvent, Lead, LeadRouting, ProviderAccount, RoutingWake

from .intake_helpers import lead_body, post_json

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dead_redis_url():
    """A Redis URL on a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def cache_away(dead_redis_url, monkeypatch):
    """The rate limits' cache is a Redis that refuses connections."""
    monkeypatch.setitem(public._last_warning, "at", float("-inf"))
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead_redis_url,
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    with override_settings(CACHES=caches):
        yield


@pytest.fixture
def broker_away(dead_redis_url, monkeypatch, settings):
    """django-q2's broker is that Redis, and the bridge wakes workers as production does."""
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", dead_redis_url)
    settings.BRIDGE_KICK_WORKERS = True


def test_the_rate_limit_lets_requests_through_and_warns_once(cache_away, caplog):
    with caplog.at_level(logging.WARNING, logger="bridge.public"):
        for _ in range(3):
            public.rate_limit("intake:website", per_minute=1)  # never a 429 while uncounted
    warnings = [r for r in caplog.records if "rate limits are not counted" in r.getMessage()]
    assert len(warnings) == 1


def test_an_intake_lead_is_taken_and_routed_in_the_request(
    cache_away, broker_away, make_source, caplog
):
    _, token = make_source("website")
    with caplog.at_level(logging.WARNING):
        response = post_json(token, lead_body())

    assert response.status_code == 202, response.content
    lead = Lead.objects.get(pk=json.loads(response.content)["id"])
    assert LeadRouting.objects.filter(lead=lead).exists()  # routed here, not left waiting
    assert RoutingWake.objects.get(pk=1).queued_at is None  # the next lead tries the queue
    assert "the queue refused leads" in caplog.text


def test_a_webhook_event_is_stored_for_the_minute_sweep(cache_away, broker_away, make_account):
    account = make_account("aiployees")
    url = f"/hooks/{account.name}/{account.webhook_token.reveal()}/"
    from django.test import Client

    body = {"id": 1, "customer_phone": "+352621123456", "status": "completed"}
    response = Client().post(url, json.dumps(body), content_type="application/json")

    assert response.status_code < 300, response.content
    assert InboundEvent.objects.filter(account=account).count() == 1


def test_a_drain_that_cannot_be_queued_leaves_no_mark_behind(broker_away, make_account):
    account = make_account("aello")
    outbox.kick_accounts([account.pk])
    assert ProviderAccount.objects.get(pk=account.pk).drain_queued_at is None


def test_sync_now_says_the_queue_is_away_and_records_nothing(
    broker_away, fake_account, admin_client
):
    from django.urls import reverse

    from bridge.models import AuditEntry

    leeloo = fake_account("leeloo")
    response = admin_client.post(
        reverse("admin:bridge_provideraccount_changelist"),
        {"action": "sync_now", "_selected_action": [leeloo.pk]},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"]]
    assert any("the job queue (the broker) is not reachable" in text for text in shown), shown
    assert not AuditEntry.objects.exists()

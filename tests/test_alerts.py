"""Alerts: each trigger opens one alert and resolves it, each channel is told once, a failing
channel is retried, the daily digest, the schedule, and the webhook URL kept secret.

Email goes to Django's locmem outbox (``mailoutbox``); webhooks to a real local HTTP server
(``tests/alert_fixtures.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from bridge.alerts import conditions, job, run_alerts
from bridge.alerts.digest import digest_moment
from bridge.models import (
    Alert,
    AlertChannel,
    Delivery,
    InboundEvent,
    Lead,
    SyncRun,
    SyncState,
)
from bridge.models.alerts import mask_url
from bridge.schedules import bridge_jobs
from integrations.secrets import RedactingFilter

pytest_plugins = ["tests.alert_fixtures"]
PUBLIC = "https://crm.example.com"
#: The secret part of the fixtures' webhook URL (tests/alert_fixtures.py).
SECRET_PATH = "/services/T0001/B0002/sEcReTtOkEn123456789"
pytestmark = pytest.mark.usefixtures("public_url")


@pytest.fixture
def public_url(settings):
    settings.BRIDGE_PUBLIC_URL = PUBLIC + "/"


# --- the triggers: make each condition hold, then mend it -----------------------------------


def dead_delivery(account, make_lead):
    from django.contrib.contenttypes.models import ContentType

    lead = make_lead()
    delivery = Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=lead.pk,
        state=Delivery.State.DEAD,
        error_code="invalid_phone",
        error_message="422: phone is not valid",
    )
    return lambda: Delivery.objects.filter(pk=delivery.pk).update(state="cancelled")


def paused_account(account, make_lead):
    account.pause("401 from Aéllo: the API key was refused")
    return account.resume


def throttled_account(account, make_lead):
    now = timezone.now()
    account.throttled_since = now - timedelta(minutes=61)
    account.throttled_until = now + timedelta(minutes=5)
    account.save()

    def mend():
        account.throttled_since = account.throttled_until = None
        account.save()

    return mend


def failing_inbound(account, make_lead):
    event = InboundEvent.objects.create(
        account=account,
        event_type="ORDER",
        received_at=timezone.now(),
        dedup_key="ORDER:9",
        state=InboundEvent.State.FAILED,
        error="No contact matches phone +13105550199",
    )
    return lambda: InboundEvent.objects.filter(pk=event.pk).update(state="processed")


def run(account, status, ago_minutes=0, error=""):
    made = SyncRun.objects.create(account=account, resource="people", status=status, error=error)
    at = timezone.now() - timedelta(minutes=ago_minutes)
    SyncRun.objects.filter(pk=made.pk).update(started_at=at, finished_at=at)
    return made


def failing_sync(account, make_lead):
    run(account, "failed", 20, error="Leeloo answered 500")
    run(account, "failed", 5, error="Leeloo answered 502")
    return lambda: run(account, "succeeded")


def behind_sync(account, make_lead):
    SyncState.objects.filter(account=account, resource="people").update(minutes=15)
    run(account, "succeeded", ago_minutes=50)
    return lambda: run(account, "succeeded")


TRIGGERS = [
    (
        "aello",
        dead_delivery,
        "delivery_dead",
        "1 dead delivery to aello",
        "/admin/bridge/delivery/",
    ),
    (
        "aello",
        paused_account,
        "account_paused",
        "Account aello is paused",
        "/admin/bridge/provideraccount/",
    ),  # noqa: E501
    (
        "aello",
        throttled_account,
        "account_throttled",
        "Account aello has answered 429",
        "/admin/bridge/provideraccount/",
    ),  # noqa: E501
    (
        "leeloo",
        failing_inbound,
        "inbound_failing",
        "1 webhook event from leeloo failed",
        "/admin/bridge/inboundevent/?",
    ),  # noqa: E501
    (
        "leeloo",
        failing_sync,
        "sync_failing",
        "The people sync of leeloo failed twice",
        "/admin/bridge/syncrun/?",
    ),  # noqa: E501
    (
        "leeloo",
        behind_sync,
        "sync_behind",
        "The people sync of leeloo is behind",
        "/admin/bridge/syncrun/?",
    ),  # noqa: E501
]


@pytest.mark.parametrize(
    ("provider", "make", "kind", "subject", "page"),
    TRIGGERS,
    ids=[kind for _, _, kind, _, _ in TRIGGERS],
)
def test_each_trigger_opens_one_alert_sends_it_once_and_resolves_it(
    make_account, make_lead, email_channel, mailoutbox, provider, make, kind, subject, page
):
    account = make_account(provider)
    assert run_alerts()["opened"] == 0 and not Alert.objects.exists()

    mend = make(account, make_lead)
    run_alerts()
    run_alerts()  # a second run opens nothing more and sends nothing again
    alert = Alert.objects.get()
    assert (alert.kind, alert.is_open, alert.pending) == (kind, True, False)
    assert alert.subject.startswith(subject), alert.subject
    assert alert.link.startswith(PUBLIC + page), alert.link
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert sent.to == ["ops@example.com", "boss@example.com"]
    assert subject in sent.subject and alert.link in sent.body
    assert alert.channels_notified == "opened: ops-mail"

    mend()
    assert run_alerts()["resolved"] == 1
    run_alerts()
    alert.refresh_from_db()
    assert alert.resolved_at is not None and not alert.pending
    assert Alert.objects.count() == 1
    assert len(mailoutbox) == 2
    assert mailoutbox[1].subject.startswith("[CRM Bridge] Resolved: ")
    assert alert.channels_notified == "opened: ops-mail; resolved: ops-mail"


def test_a_condition_that_comes_back_is_a_new_alert(make_account, email_channel, mailoutbox):
    account = make_account("aello")
    account.pause("401")
    run_alerts()
    account.resume()
    run_alerts()
    account.pause("401 again")
    run_alerts()
    assert list(Alert.objects.order_by("id").values_list("resolved_at", flat=True))[1] is None
    assert Alert.objects.filter(key=f"account {account.pk} paused").count() == 2
    assert len(mailoutbox) == 3


def test_what_is_not_yet_broken_opens_nothing(make_account, make_lead, email_channel):
    """429 for half an hour, an event waiting for its retry, one failed sync, a disabled
    paused account: no alert."""
    now = timezone.now()
    make_account("aello", throttled_since=now - timedelta(minutes=30))
    make_account("aello", name="off", enabled=False, paused=True)
    leeloo = make_account("leeloo")
    InboundEvent.objects.create(
        account=leeloo,
        received_at=now,
        dedup_key="x",
        state=InboundEvent.State.FAILED,
        next_attempt_at=now + timedelta(minutes=1),
    )
    run(leeloo, "succeeded", 10)
    run(leeloo, "failed", 5)
    assert run_alerts()["opened"] == 0
    assert not Alert.objects.exists()


def test_the_check_costs_the_same_at_one_or_many_dead_deliveries(make_account, make_lead):
    from django.contrib.contenttypes.models import ContentType

    account = make_account("aello")
    lead = make_lead()
    common = {"account": account, "content_type": ContentType.objects.get_for_model(Lead)}
    Delivery.objects.create(object_id=lead.pk, state="dead", **common)
    run_alerts()
    with CaptureQueriesContext(connection) as one:
        run_alerts()
    Delivery.objects.bulk_create(
        [Delivery(object_id=lead.pk, state="dead", **common) for _ in range(200)]
    )
    with CaptureQueriesContext(connection) as many:
        run_alerts()
    assert len(many) == len(one)
    assert all("COUNT(" not in query["sql"].upper() for query in many)


def test_an_alert_resolved_while_it_was_being_sent_still_sends_its_resolution(
    make_account, email_channel, mailoutbox
):
    account = make_account("aello")
    account.pause("401")
    now = timezone.now()
    job.update_alerts(now)
    held = job.claim(Alert.objects.get().pk, now)  # one run is sending it…
    account.resume()
    assert job.update_alerts(timezone.now()) == (0, 1)  # …when another resolves it
    channels = list(AlertChannel.objects.all())
    sent, errors = job.tell_channels(held, channels, {})
    job.record_outcome(held, channels, errors, now)
    assert Alert.objects.get().pending
    run_alerts()
    assert [m.subject for m in mailoutbox] == [
        "[CRM Bridge] CRITICAL: Account aello is paused",
        "[CRM Bridge] Resolved: Account aello is paused",
    ]


def test_a_check_that_fails_neither_opens_nor_resolves(make_account, monkeypatch, caplog):
    account = make_account("aello")
    account.pause("401")
    run_alerts()
    account.resume()

    def broken(now):
        raise RuntimeError("database went away")

    checks = [
        (broken, kinds) if kinds == conditions.CHECKS[0][1] else (check, kinds)
        for check, kinds in conditions.CHECKS
    ]
    monkeypatch.setattr(conditions, "CHECKS", checks)
    assert run_alerts()["resolved"] == 0
    assert Alert.objects.get().is_open
    assert "the broken check failed" in caplog.text
    monkeypatch.undo()
    assert run_alerts()["resolved"] == 1


# --- channels: a failure is recorded and retried; each channel told once -------------------


def test_a_failing_webhook_records_its_error_and_the_next_run_retries(
    make_account, hook, webhook_channel, email_channel, mailoutbox, caplog
):
    account = make_account("aello")
    account.pause("401")
    hook.status = 500
    with caplog.at_level(logging.DEBUG):
        counts = run_alerts()
    assert counts["opened"] == 1 and counts["failed"] == 1
    alert = Alert.objects.get()
    assert alert.pending and alert.send_attempts == 1
    assert "ops-slack (http://127.0.0.1:" in alert.last_error
    assert "answered 500" in alert.last_error
    assert alert.channels_notified == "opened: ops-mail"
    webhook_channel.refresh_from_db()
    assert "answered 500" in webhook_channel.last_error
    logged = []
    for record in caplog.records:  # as the project's log handler writes them
        RedactingFilter().filter(record)
        logged.append(record.getMessage())
    assert any("POST /services/" in line for line in logged) is False
    for text in (alert.last_error, webhook_channel.last_error, *logged):
        assert SECRET_PATH not in text and "sEcReT" not in text

    hook.status = 200
    run_alerts()
    run_alerts()
    alert.refresh_from_db()
    assert not alert.pending
    assert len(hook.received) == 2  # the failed try, then the retry; never again after
    assert len(mailoutbox) == 1  # the email channel was told on the first run only
    assert alert.channels_notified == "opened: ops-mail, ops-slack"


def test_the_webhook_gets_slack_json_at_its_own_url(make_account, hook, webhook_channel):
    account = make_account("aello")
    account.pause("401 from Aéllo")
    run_alerts()
    request = hook.received[0]
    assert request["path"] == SECRET_PATH
    assert request["headers"]["Content-Type"] == "application/json"
    assert list(request["body"]) == ["text"]
    text = request["body"]["text"]
    assert text.startswith("*CRITICAL: Account aello is paused*\n")
    assert "401 from Aéllo" in text
    assert f"{PUBLIC}/admin/bridge/provideraccount/{account.pk}/change/" in text


def test_a_redirect_is_not_followed(make_account, hook, hook_server, webhook_channel):
    """The URL is a secret: a 3xx answer is an error, and nothing goes where it points."""
    elsewhere = hook_server()
    hook.status, hook.location = 307, elsewhere.url("/steal")
    make_account("aello").pause("401")
    run_alerts()
    assert elsewhere.received == []
    alert = Alert.objects.get()
    assert alert.pending and "answered 307 redirecting" in alert.last_error


def test_an_unreachable_webhook_names_the_channel_not_the_url(make_account, db):
    channel = AlertChannel(name="gone", kind="webhook", url=f"http://127.0.0.1:9{SECRET_PATH}")
    channel.save()
    make_account("aello").pause("401")
    run_alerts()
    alert = Alert.objects.get()
    assert alert.last_error == "gone (http://127.0.0.1:9/…6789): could not connect."


def test_no_channel_keeps_the_alert_listed(make_account):
    make_account("aello").pause("401")
    run_alerts()
    alert = Alert.objects.get()
    assert alert.is_open and not alert.pending and alert.channels_notified == "opened: none yet"


# --- the daily digest -----------------------------------------------------------------------


@override_settings(BRIDGE_ALERT_DIGEST_HOUR=0)
def test_the_daily_digest_goes_once_a_day_with_open_alerts_and_counts(
    make_account, email_channel, mailoutbox
):
    make_account("aello").pause("401")
    run_alerts()  # the alert itself; the channel is new, so no digest yet
    assert [m.subject for m in mailoutbox] == ["[CRM Bridge] CRITICAL: Account aello is paused"]
    now = timezone.now()
    AlertChannel.objects.update(digest_sent_at=digest_moment(now) - timedelta(minutes=1))
    assert run_alerts()["digests_sent"] == 1
    run_alerts()
    assert len(mailoutbox) == 2
    digest = mailoutbox[1]
    assert digest.subject == "[CRM Bridge] Daily digest: 1 open alert"
    assert "- [critical] Account aello is paused" in digest.body
    assert "- alerts opened: 1" in digest.body and "- deliveries dead: 0" in digest.body


def test_a_failed_digest_is_retried_next_run(make_account, hook, webhook_channel):
    AlertChannel.objects.update(digest_sent_at=timezone.now() - timedelta(days=2))
    hook.status = 503
    assert run_alerts()["digests_failed"] == 1
    webhook_channel.refresh_from_db()
    assert "answered 503" in webhook_channel.last_error
    hook.status = 200
    assert run_alerts()["digests_sent"] == 1
    assert "Daily digest: 0 open alerts" in hook.texts()[-1]


# --- channels as staff enter them -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"kind": "email", "addresses": ""}, "addresses", "at least one address"),
        (
            {"kind": "email", "addresses": "ops@example.com, not-an-email"},
            "addresses",
            "“not-an-email”",
        ),  # noqa: E501
        ({"kind": "webhook", "url": ""}, "url", "needs its URL"),
        ({"kind": "webhook", "url": "http://hooks.example.com/x"}, "url", "Use https"),
        ({"kind": "webhook", "url": "hooks.slack.com/x"}, "url", "starting with https://"),
    ],
)
def test_a_bad_channel_is_refused_naming_the_field(db, fields, field, words):
    with pytest.raises(ValidationError) as refused:
        AlertChannel(name="bad", **fields).full_clean()
    assert words in " ".join(refused.value.message_dict[field])


def test_the_url_is_stored_encrypted_and_shown_masked(db):
    url = "https://hooks.slack.com/services/T0001/B0002/sEcReTtOkEn123456789"
    channel = AlertChannel.objects.create(name="slack", kind="webhook", url=url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM bridge_alertchannel WHERE id = %s", [channel.pk])
        assert "sEcReT" not in cursor.fetchone()[0]
    assert AlertChannel.objects.get().destination == "https://hooks.slack.com/…6789"
    assert mask_url("https://user:pw@example.com/a") == "https://example.com/…"


def test_admin_pages_show_the_masked_url_and_keep_it_when_left_blank(
    admin_client, hook, webhook_channel
):  # noqa: E501
    change = reverse("admin:bridge_alertchannel_change", args=[webhook_channel.pk])
    for page in (reverse("admin:bridge_alertchannel_changelist"), change):
        html = admin_client.get(page).content.decode()
        assert "sEcReT" not in html and mask_url(hook.url()) in html
    data = {"name": "ops-slack", "kind": "webhook", "enabled": "on", "addresses": "", "url": ""}
    assert admin_client.post(change, data).status_code == 302
    webhook_channel.refresh_from_db()
    assert webhook_channel.plain_url() == hook.url()


def test_the_test_button_answers_with_the_channel_and_the_problem(
    admin_client, hook, webhook_channel
):  # noqa: E501
    url = reverse("admin:bridge_alertchannel_test", args=[webhook_channel.pk])
    response = admin_client.post(url, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said == [f"Test alert sent to ops-slack ({mask_url(hook.url())})."]
    assert "This is a test alert" in hook.texts()[0]
    hook.status = 404
    response = admin_client.post(url, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said == [
        f"The test alert was not sent: ops-slack ({mask_url(hook.url())}): answered 404: "
        "invalid_token"
    ]
    assert admin_client.get(url).status_code == 405


# --- the schedule ---------------------------------------------------------------------------


def test_the_demo_has_an_email_channel_once(db):
    from bridge.demo_data import create_demo_alert_channel

    assert create_demo_alert_channel() is True
    assert create_demo_alert_channel() is False
    assert AlertChannel.objects.get().destination == "ops@example.com"


def test_the_fixtures_secret_is_the_one_checked(secret_path):
    assert secret_path == SECRET_PATH


def test_the_job_runs_every_minute(db):
    found = [job for job in bridge_jobs() if job.func == "bridge.alerts.run_alerts"]
    assert [job.minutes for job in found] == [1]

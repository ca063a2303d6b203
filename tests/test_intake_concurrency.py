"""Retries racing each other on PostgreSQL: the unique constraints decide, one lead results.

The first two tests are deterministic: the "first request" is a transaction the test holds
open with its lead and key written, the retry runs in a thread and blocks on the unique index;
the test sees it waiting (``pg_locks``), commits, and the retry must answer the first lead.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from bridge.models import Contact, IntakeKey, Lead

from .intake_helpers import lead_body, post_json

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_cache"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
]


def in_thread(function):
    """Run ``function`` in a thread with its own database connection; a handle to its result."""
    outcome = {}

    def run():
        from django.db import connection as own

        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc
        finally:
            own.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for_a_blocked_backend(timeout: float = 10.0) -> None:
    """Until another session waits on a lock (the retry, on the unique index)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the retry never waited on the first request's row")


def hold_first_request(source, contact) -> Lead:
    """What the first request writes, inside the caller's open transaction."""
    lead = Lead.objects.create(contact=contact, source=source.name, message="first")
    IntakeKey.objects.create(source=source, key="header:k-1", lead=lead)
    return lead


@pytest.mark.parametrize("contact_is_new", [True, False], ids=["new-contact", "known-contact"])
def test_a_retry_racing_the_first_request_answers_its_lead(make_source, contact_is_new):
    source, token = make_source()
    if not contact_is_new:  # the retry will block on the key, after writing its own lead
        Contact.objects.create(first_name="John", phone="+352621123456")
    with transaction.atomic():
        contact = Contact.objects.filter(phone="+352621123456").first() or Contact.objects.create(
            first_name="John", phone="+352621123456", email="john.doe@example.com"
        )
        first = hold_first_request(source, contact)
        thread, outcome = in_thread(
            lambda: post_json(token, lead_body(), HTTP_IDEMPOTENCY_KEY="k-1")
        )
        wait_for_a_blocked_backend()
    thread.join(timeout=20)
    assert "error" not in outcome, outcome.get("error")
    response = outcome["value"]
    assert response.status_code == 200, response.content
    assert response.json() == {"id": first.pk, "contact_id": contact.pk, "created": False}
    assert Lead.objects.count() == 1
    assert Contact.objects.count() == 1
    assert IntakeKey.objects.count() == 1


def test_simultaneous_double_submits_make_one_lead(make_source):
    source, token = make_source(rate_limit_per_minute=1000)
    for round_ in range(5):
        barrier = threading.Barrier(4)

        def submit(key=f"double-{round_}", barrier=barrier):
            barrier.wait()
            return post_json(token, lead_body(), Client(), HTTP_IDEMPOTENCY_KEY=key)

        runs = [in_thread(submit) for _ in range(4)]
        for thread, _ in runs:
            thread.join(timeout=30)
        assert all("error" not in outcome for _, outcome in runs), runs
        responses = [outcome["value"] for _, outcome in runs]
        assert sorted(r.status_code for r in responses) == [200, 200, 200, 202]
        assert len({r.json()["id"] for r in responses}) == 1
    assert Lead.objects.count() == 5
    assert Contact.objects.count() == 1

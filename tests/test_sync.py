"""Syncs from Leeloo.ai into the mirror models, against the fake Leeloo over real HTTP."""

import gc
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Success

from bridge import dashboard, sync
from bridge.admin.accounts import SyncStateForm
from bridge.models import (
    Channel,
    Connection,
    Contact,
    LeelooUser,
    Order,
    RemoteLink,
    SyncRun,
    SyncState,
    Tag,
    Template,
    TemplateCategory,
    Tunnel,
    TunnelStatsSummary,
)
from bridge.sync import context, people
from integrations.fakes.leeloo import seed_phone
from integrations.leeloo import format_window_bound

# Runs use their own connections (threads, the admin's test client): rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

#: Seeded people talk after every example person of the reference (the latest is 2024-02-16).
SEED_START = datetime(2025, 1, 1, tzinfo=UTC)
FELIKS, MARK_SPENSER, TIIIIK = (
    "5e1c7ce2b4066a01900cdba0",
    "625946dd585052c1629f1b2b",
    "5ef074e9e31801000d73ba10",
)
EXAMPLE_PEOPLE = 5
Status = SyncRun.Status


@pytest.fixture
def leeloo(fake_account):
    """The Leeloo account, with a budget that does not slow the tests down."""
    return fake_account("leeloo", requests_per_second=1000, concurrency=2)


@pytest.fixture
def fake(fakes):
    return fakes.fakes["leeloo"]


def set_state(account, resource, **fields):
    SyncState.objects.filter(account=account, resource=resource).update(**fields)


def cursor_of(account, resource):
    return SyncState.objects.get(account=account, resource=resource).cursor


def people_lists(fakes):
    return fakes.requests_for("leeloo", "GET", "/api/v2/people")


def counts(run):
    return run.created_count, run.updated_count, run.unchanged_count, run.failed_count


def succeeded(run):
    assert run.status == Status.SUCCEEDED, run.error
    return run


# --- paging, counts, unchanged re-runs --------------------------------------------------------


def test_multi_page_pull_creates_each_person_once_with_exact_counts(leeloo, fake, fakes):
    fake.seed_people(245, start=SEED_START)
    run = succeeded(sync.run_sync(leeloo, "people"))
    assert run.full and run.pages == 3
    assert counts(run) == (250, 0, 0, 0)
    assert (run.remote_total, run.linked_total) == (250, 250)
    assert Contact.objects.count() == 250
    lists = people_lists(fakes)
    assert [(r.arg("limit"), r.arg("offset")) for r in lists] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    person = Contact.objects.get(email="person7@example.com")
    assert (person.first_name, person.last_name, person.phone) == ("Person", "7", seed_phone(7))
    remote_id = next(pid for pid, p in fake.people.items() if p["email"] == "person7@example.com")
    assert set(person.tags.values_list("name", flat=True)) == set(fake.people[remote_id]["tags"])
    link = RemoteLink.objects.get(account=leeloo, remote_id=remote_id)
    assert link.object_id == person.pk and link.last_pulled_at is not None
    assert cursor_of(leeloo, "people") == run.window_to


def test_second_run_with_nothing_changed_upstream_changes_nothing(leeloo, fake):
    fake.seed_people(120, start=SEED_START)
    succeeded(sync.run_sync(leeloo, "people"))
    before = (
        list(Contact.objects.order_by("pk").values_list("pk", "updated_at")),
        Tag.objects.count(),
        list(Contact.tags.through.objects.order_by("pk").values_list("pk", flat=True)),
    )
    again = succeeded(sync.run_sync(leeloo, "people", full=True))
    assert counts(again) == (0, 0, 125, 0)
    after = (
        list(Contact.objects.order_by("pk").values_list("pk", "updated_at")),
        Tag.objects.count(),
        list(Contact.tags.through.objects.order_by("pk").values_list("pk", flat=True)),
    )
    assert after == before


def test_every_resource_mirrors_and_a_second_pass_is_all_unchanged(leeloo, fake):
    first = {r: succeeded(sync.run_sync(leeloo, r)) for r in sync.RUN_ORDER}
    for resource, run in first.items():
        assert run.failed_count == 0 and run.linked_total == run.remote_total, resource
    feliks = Contact.objects.get(email="feliks@gmail.com")
    title11 = Order.objects.get(title="Title11")
    # The list lacks description and payment method; the order's detail has them.
    assert (title11.description, title11.payment_method) == ("Description1", "WAYFORPAY")
    assert title11.contact == feliks and title11.currency == "UAH"
    webinar = Tunnel.objects.get(name="Webinar")
    at_leeloo = next(t for t in fake.tunnels.values() if t["name"] == "Webinar")["leadgentools"]
    assert [tool["remote_id"] for tool in webinar.leadgen_tools] == at_leeloo
    assert webinar.leadgen_tools[0] == {
        "remote_id": "5e1f119d6c384804b31e945e",
        "name": "Webinar form",
        "type": "FORM",
    }
    assert webinar.stats["subscribers"] == 10 and webinar.stats_updated_at is not None
    assert TunnelStatsSummary.objects.get(account=leeloo).stats[0]["total_sale_usd"] == 200
    assert LeelooUser.objects.filter(account=leeloo).count() == len(fake.users)
    tiiiik = Channel.objects.get(account=leeloo, person_remote_id=TIIIIK)
    assert tiiiik.utm_marks == {"utm_source": "test_UTM_mark"}
    assert tiiiik.contact == RemoteLink.objects.get(remote_id=TIIIIK).record
    assert Connection.objects.filter(account=leeloo).count() == len(fake.connections)
    assert TemplateCategory.objects.count() == 2
    assert set(Template.objects.values_list("name", flat=True)) == {
        "test template 1",
        "test template 2",
    }
    assert Tag.objects.filter(name="Tag 26").exists()

    second = {r: succeeded(sync.run_sync(leeloo, r, full=True)) for r in sync.RUN_ORDER}
    for resource, run in second.items():
        assert (run.created_count, run.updated_count) == (0, 0), resource
        assert run.unchanged_count + run.failed_count == first[resource].created_count + (
            first[resource].updated_count + first[resource].failed_count
        ), resource


# --- incremental windows and cursors -----------------------------------------------------------


def test_incremental_window_is_sent_as_the_document_says(leeloo, fake, fakes):
    fake.seed_people(200, start=SEED_START)  # one last message a minute, 00:00 to 03:19
    set_state(leeloo, "people", cursor=SEED_START + timedelta(hours=2), lookback_minutes=60)
    run = succeeded(sync.run_sync(leeloo, "people"))
    assert not run.full
    assert run.window_from == SEED_START + timedelta(hours=1)
    assert run.window_to <= run.finished_at
    request, second_page = people_lists(fakes)
    assert request.query == {
        "filter[last_message][from]": ["2025-01-01T01:00:00.000Z"],
        "filter[last_message][to]": [format_window_bound(run.window_to)],
        "limit": ["100"],
        "offset": ["0"],
    }
    assert second_page.arg("offset") == "100"
    assert counts(run)[0] == 140  # 01:00 to 03:19, both ends included
    assert cursor_of(leeloo, "people") == run.window_to

    following = succeeded(sync.run_sync(leeloo, "people"))
    assert following.window_from == run.window_to - timedelta(minutes=60)


def test_full_run_reads_from_the_far_past(leeloo, fakes):
    set_state(leeloo, "people", cursor=timezone.now())
    run = succeeded(sync.run_sync(leeloo, "people", full=True))
    assert people_lists(fakes)[0].arg("filter[last_message][from]") == "2000-01-01T00:00:00.000Z"
    assert counts(run)[0] == EXAMPLE_PEOPLE


def test_500_on_page_3_fails_the_run_cleanly_and_the_next_run_completes(leeloo, fake, fakes):
    fake.seed_people(245, start=SEED_START)
    cursor = SEED_START - timedelta(days=1)  # the window holds the 245 seeded people
    set_state(leeloo, "people", cursor=cursor)
    # Faults match in order: the first lets two list requests through, the second fails one.
    fakes.add_fault("leeloo", "latency", path="/api/v2/people$", method="GET", times=2)
    error = fakes.add_fault("leeloo", "error", path="/api/v2/people$", method="GET", times=1)

    failed = sync.run_sync(leeloo, "people")
    assert failed.status == Status.FAILED and "500" in failed.error
    assert failed.pages == 2 and counts(failed) == (200, 0, 0, 0)
    assert failed.finished_at is not None and error.hits == 1
    assert cursor_of(leeloo, "people") == cursor

    retried = succeeded(sync.run_sync(leeloo, "people"))
    assert retried.window_from == failed.window_from
    assert counts(retried) == (45, 0, 200, 0)
    assert Contact.objects.count() == 245
    assert cursor_of(leeloo, "people") == retried.window_to


def test_a_run_past_its_time_continues_from_its_offset(leeloo, fake, fakes):
    fake.seed_people(245, start=SEED_START)
    run = sync.run_sync(leeloo, "people", max_seconds=0)
    assert run.status == Status.RUNNING and run.next_offset == 100 and run.pages == 1
    assert cursor_of(leeloo, "people") is None
    with pytest.raises(sync.SyncRefused, match="already running"):
        sync.run_sync(leeloo, "people")

    run = succeeded(sync.resume_run(run.pk))
    assert run.pages == 3 and counts(run) == (250, 0, 0, 0)
    assert [r.arg("offset") for r in people_lists(fakes)] == ["0", "100", "200"]
    assert cursor_of(leeloo, "people") == run.window_to
    with pytest.raises(sync.SyncRefused, match="not running"):
        sync.resume_run(run.pk)


def test_pages_are_written_in_batches_of_the_write_batch_size(leeloo, fake, settings):
    fake.seed_people(1045, start=SEED_START)  # 1,050 people: pages of 100
    batches = []
    run = sync.run_sync(leeloo, "people", progress=lambda run: batches.append(run.pages))
    assert succeeded(run).pages == 11 and batches == [10, 11]  # 1,000 records, then the rest
    settings.BRIDGE_SYNC_WRITE_BATCH = 300
    batches.clear()
    succeeded(
        sync.run_sync(leeloo, "people", full=True, progress=lambda r: batches.append(r.pages))
    )
    assert batches == [3, 6, 9, 11]


def test_a_long_list_is_read_in_a_child_process_with_the_same_result(leeloo, fake, fakes, settings):
    import multiprocessing

    settings.BRIDGE_SYNC_READ_PROCESS_PAGES = 2  # "long" from two pages left
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    fake.seed_people(545, start=SEED_START)
    children = []
    run = sync.run_sync(
        leeloo,
        "people",
        progress=lambda run: children.append(len(multiprocessing.active_children())),
    )
    assert succeeded(run).created_count == 550 and Contact.objects.count() == 550
    assert set(children) == {1}  # page 1 read by this process, the rest by one child
    assert [r.arg("offset") for r in people_lists(fakes)] == [str(o) for o in range(0, 600, 100)]
    person = Contact.objects.get(email="person7@example.com")
    assert person.phone == seed_phone(7) and person.tags.exists()
    assert multiprocessing.active_children() == []  # the child is gone with the run


def test_an_error_in_the_child_process_fails_the_run_as_in_this_one(leeloo, fake, fakes, settings):
    settings.BRIDGE_SYNC_READ_PROCESS_PAGES = 1
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    fake.seed_people(545, start=SEED_START)
    fakes.add_fault("leeloo", "latency", path="/api/v2/people$", method="GET", times=3)
    fakes.add_fault("leeloo", "error", path="/api/v2/people$", method="GET", times=1)
    failed = sync.run_sync(leeloo, "people")
    assert (
        failed.status == Status.FAILED
        and "TransientError" in failed.error
        and "500" in failed.error
    )
    assert failed.pages == 3 and counts(failed) == (300, 0, 0, 0)


def test_batches_sharing_a_phone_give_the_result_of_writing_them_one_after_the_other(
    leeloo, fake, settings, caplog
):
    """On PostgreSQL a batch is prepared while the one before it is written; a batch that
    shares a phone with it waits for its commit and is read again, so the later person meets
    the contact the earlier one made, as when the batches are handled in turn."""
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    ids = fake.seed_people(245, start=SEED_START)  # 250 people with the examples: 3 batches
    later = fake.people[ids[150]]  # in the second batch; person 7 is in the first
    later["phone"] = seed_phone(7)
    caplog.set_level("DEBUG", logger="bridge.sync")
    run = succeeded(sync.run_sync(leeloo, "people"))
    assert counts(run) == (249, 0, 0, 1)
    first = next(pid for pid, p in fake.people.items() if p["email"] == "person7@example.com")
    assert f"is already Leeloo person {first}" in run.error
    assert Contact.objects.filter(phone=seed_phone(7)).count() == 1
    assert not RemoteLink.objects.filter(account=leeloo, remote_id=later["id"]).exists()
    if connection.vendor == "postgresql":
        assert "prepared again after they committed" in caplog.text
    assert not [t for t in threading.enumerate() if t.name.startswith("sync-writer")]


def test_a_phone_moved_by_one_batch_is_free_for_the_next(leeloo, fake, settings):
    """Person 7 (first batch) gets a new phone and a person of the second batch takes their
    old one: the second batch must see the first's update, as when written in turn."""
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    ids = fake.seed_people(245, start=SEED_START)
    succeeded(sync.run_sync(leeloo, "people"))
    seventh = next(pid for pid, p in fake.people.items() if p["email"] == "person7@example.com")
    fake.people[seventh]["phone"] = "+13105559999"
    later = fake.people[ids[150]]
    later["phone"] = seed_phone(7)
    run = succeeded(sync.run_sync(leeloo, "people", full=True))
    assert run.failed_count == 0 and run.updated_count == 2
    assert Contact.objects.get(email="person7@example.com").phone == "+13105559999"
    assert Contact.objects.get(email=later["email"]).phone == seed_phone(7)


def test_a_batch_that_fails_to_write_keeps_the_batches_before_it(
    leeloo, fake, settings, monkeypatch
):
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    fake.seed_people(345, start=SEED_START)  # 4 batches of 100 (the examples come first)
    real_steps, written = people.steps(), []

    def fail_the_third(ctx, batch):
        written.append(len(batch.plans))
        if len(written) == 3:
            raise RuntimeError("disk full while writing batch 3")
        real_steps.store(ctx, batch)

    monkeypatch.setattr(people, "steps", lambda: real_steps._replace(store=fail_the_third))
    failed = sync.run_sync(leeloo, "people")
    assert failed.status == Status.FAILED and "disk full" in failed.error
    run = SyncRun.objects.get(pk=failed.pk)
    assert (run.pages, run.next_offset, run.created_count) == (2, 200, 200)
    assert Contact.objects.count() == 200  # nothing after the failure
    # Batch 4 may have been stored beside batch 3 (another writer), then rolled back.
    assert 3 <= len(written) <= 4
    assert not [t for t in threading.enumerate() if t.name.startswith("sync-writer")]


def _store_in_step(monkeypatch, hold: int, until: int, fail: bool = False) -> list[str]:
    """Make batch ``hold`` wait, before it stores (or fails), until batch ``until`` has stored.

    Returns the writer thread of each batch stored, in order of arrival.
    """
    real_steps, threads, stored = people.steps(), [], threading.Event()

    def store(ctx, batch):
        threads.append(threading.current_thread().name)
        n = len(threads)
        if n == hold:
            assert stored.wait(10), f"batch {until} was not stored beside batch {hold}"
            if fail:
                raise RuntimeError(f"batch {hold} failed after batch {until} stored")
        real_steps.store(ctx, batch)
        if n == until:
            stored.set()

    monkeypatch.setattr(people, "steps", lambda: real_steps._replace(store=store))
    return threads


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the write pipeline is PostgreSQL's")
def test_batches_stored_at_once_still_commit_their_offsets_in_order(
    leeloo, fake, settings, monkeypatch
):
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    settings.BRIDGE_SYNC_WRITERS = 2
    fake.seed_people(345, start=SEED_START)
    threads = _store_in_step(monkeypatch, hold=1, until=2)  # batch 2 stores before batch 1
    offsets = []
    run = succeeded(
        sync.run_sync(leeloo, "people", progress=lambda run: offsets.append(run.next_offset))
    )
    assert offsets == [100, 200, 300, 350]
    assert counts(run) == (350, 0, 0, 0) and Contact.objects.count() == 350
    assert len(set(threads)) == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("sync-writer")]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the write pipeline is PostgreSQL's")
def test_a_batch_stored_beside_a_failing_one_is_rolled_back_with_it(
    leeloo, fake, settings, monkeypatch
):
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    settings.BRIDGE_SYNC_WRITERS = 2
    fake.seed_people(345, start=SEED_START)
    _store_in_step(monkeypatch, hold=2, until=3, fail=True)
    failed = sync.run_sync(leeloo, "people")
    assert failed.status == Status.FAILED and "batch 2 failed" in failed.error
    run = SyncRun.objects.get(pk=failed.pk)
    assert (run.pages, run.next_offset, run.created_count) == (1, 100, 100)
    assert Contact.objects.count() == 100  # batch 3 had stored its rows: rolled back too
    assert RemoteLink.objects.filter(account=leeloo).count() == 100
    assert not [t for t in threading.enumerate() if t.name.startswith("sync-writer")]


@pytest.mark.parametrize(
    "name", ["BRIDGE_SYNC_WRITERS", "BRIDGE_SYNC_WRITE_BATCH", "BRIDGE_SYNC_PAGE_SIZE"]
)
def test_a_sync_setting_below_one_fails_the_run_naming_it(leeloo, settings, name):
    setattr(settings, name, 0)
    failed = sync.run_sync(leeloo, "people")
    assert failed.status == Status.FAILED
    assert f"{name} must be at least 1, not 0" in failed.error
    assert Contact.objects.count() == 0


def test_a_page_and_the_offset_after_it_are_written_together(leeloo, fake, settings):
    """A failure while a page is written leaves none of that page and the offset before it."""
    settings.BRIDGE_SYNC_WRITE_BATCH = 100  # a transaction a page
    fake.seed_people(245, start=SEED_START)

    def fail_on_the_second_page(run):
        if run.pages == 2:
            raise RuntimeError("the database went away mid-page")

    failed = sync.run_sync(leeloo, "people", progress=fail_on_the_second_page)
    assert failed.status == Status.FAILED and "went away mid-page" in failed.error
    run = SyncRun.objects.get(pk=failed.pk)
    assert (run.pages, run.next_offset, run.created_count) == (1, 100, 100)
    assert Contact.objects.count() == 100
    assert RemoteLink.objects.filter(account=leeloo).count() == 100


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ANALYZE is PostgreSQL's")
def test_a_large_first_pull_refreshes_the_planners_statistics(leeloo, fake, monkeypatch):
    """Tables filled from empty are re-analysed as they grow, not left to autovacuum."""
    monkeypatch.setattr(context, "ANALYZE_GROWTH", 4)  # 4,000 rows, not 16,000, for the second

    def analyses():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'bridge_contact'"
            )
            return cursor.fetchone()[0]

    fake.seed_people(4500, start=SEED_START)
    set_state(leeloo, "people", fetch_details=False)
    before = analyses()
    succeeded(sync.run_sync(leeloo, "people"))
    assert analyses() - before == 2  # at 1,000 and 4,000 rows created


# --- matching ----------------------------------------------------------------------------------


def test_people_link_to_existing_contacts_by_phone_and_by_email(leeloo, make_contact):
    local = Tag.objects.create(name="Met at fair")
    by_phone = make_contact(
        first_name="Felix", phone="+380966565556", notes="Called twice", company="Acme"
    )
    by_phone.tags.add(local)
    by_email = make_contact(
        first_name="Ray", email="RAY37@hotmail.com", notes="Prefers email", lead_source="webinar"
    )
    run = succeeded(sync.run_sync(leeloo, "people"))
    assert counts(run) == (EXAMPLE_PEOPLE - 2, 2, 0, 0)
    assert Contact.objects.count() == EXAMPLE_PEOPLE

    by_phone.refresh_from_db()
    assert (by_phone.first_name, by_phone.email) == ("Feliks", "feliks@gmail.com")
    assert (by_phone.notes, by_phone.company) == ("Called twice", "Acme")
    assert set(by_phone.tags.values_list("name", flat=True)) == {
        "Met at fair",
        "Mentor",
        "Professional",
    }
    by_email.refresh_from_db()
    assert (by_email.first_name, by_email.last_name) == ("Mark", "Spenser")
    assert by_email.phone == "+380977451111"
    assert (by_email.notes, by_email.lead_source) == ("Prefers email", "webinar")
    # From the person's card, which the list does not carry:
    assert by_email.custom_fields == {"phone": "+48881644207"}
    assert by_email.subscribe_history[0]["tunnelName"] == "Default tunnel"
    for contact, remote_id in ((by_phone, FELIKS), (by_email, MARK_SPENSER)):
        link = RemoteLink.objects.get(account=leeloo, remote_id=remote_id)
        assert (link.content_type.model, link.object_id) == ("contact", contact.pk)
        assert link.last_pulled_at is not None


def test_a_person_linked_to_a_pushed_lead_updates_the_leads_contact(leeloo, make_lead):
    lead = make_lead()
    lead_type = ContentType.objects.get_for_model(lead)
    RemoteLink.objects.create(
        account=leeloo, content_type=lead_type, object_id=lead.pk, remote_id=MARK_SPENSER
    )
    run = succeeded(sync.run_sync(leeloo, "people"))
    assert counts(run) == (EXAMPLE_PEOPLE - 1, 1, 0, 0)
    assert run.linked_total == EXAMPLE_PEOPLE
    lead.contact.refresh_from_db()
    assert lead.contact.phone == "+380977451111"
    link = RemoteLink.objects.get(account=leeloo, remote_id=MARK_SPENSER)
    assert link.content_type == lead_type and link.last_pulled_at is not None


def test_tags_follow_leeloo_by_name_in_any_case_and_local_ones_stay(leeloo, fake):
    client_tag = Tag.objects.create(name="клієнт")  # SQLite's LOWER folds ASCII only
    succeeded(sync.run_sync(leeloo, "people"))
    feliks = Contact.objects.get(email="feliks@gmail.com")
    feliks.tags.add(Tag.objects.create(name="Local"))
    fake.people[FELIKS]["tags"] = ["Mentor", "КЛІЄНТ"]  # "Professional" taken off at Leeloo
    tags_before = Tag.objects.count()
    run = succeeded(sync.run_sync(leeloo, "people", full=True))
    assert counts(run) == (0, 1, EXAMPLE_PEOPLE - 1, 0)
    assert set(feliks.tags.values_list("name", flat=True)) == {"Local", "Mentor", "клієнт"}
    assert Tag.objects.count() == tags_before and client_tag in feliks.tags.all()


def test_a_leeloo_id_linked_to_another_kind_of_record_does_not_stop_a_tag(leeloo, make_lead):
    lead = make_lead()
    RemoteLink.objects.create(
        account=leeloo,
        content_type=ContentType.objects.get_for_model(lead),
        object_id=lead.pk,
        remote_id="5cf7a18586236d000b1256b2",  # the "vip" tag's id
    )
    run = succeeded(sync.run_sync(leeloo, "tags"))
    assert run.failed_count == 0 and run.linked_total == run.remote_total
    vip = RemoteLink.objects.get(
        account=leeloo, remote_id="5cf7a18586236d000b1256b2", content_type__model="tag"
    )
    assert Tag.objects.get(pk=vip.object_id).name == "vip"


# --- locks, failures, budget -------------------------------------------------------------------


def test_overlapping_runs_are_refused(leeloo, fake, fakes):
    fake.seed_people(150, start=SEED_START)
    fakes.add_fault("leeloo", "latency", path="/api/v2/people$", seconds=1.0, times=1)
    outcome = {}

    def first_run():
        try:
            outcome["run"] = sync.run_sync(leeloo, "people")
        finally:
            connection.close()

    thread = threading.Thread(target=first_run)
    thread.start()
    deadline = time.monotonic() + 5
    while not SyncRun.objects.filter(status=Status.RUNNING).exists():
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.02)
    with pytest.raises(
        sync.SyncRefused, match="people sync of account 'leeloo' is already running"
    ):
        sync.run_sync(leeloo, "people")
    thread.join(10)
    assert succeeded(outcome["run"]).created_count == 155
    assert SyncRun.objects.count() == 1
    assert succeeded(sync.run_sync(leeloo, "people")).created_count == 0


def test_a_silent_running_run_is_taken_over(leeloo):
    stale = SyncRun.objects.create(account=leeloo, resource="people")
    SyncRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    succeeded(sync.run_sync(leeloo, "people"))
    stale.refresh_from_db()
    assert stale.status == Status.FAILED and stale.error.startswith("Abandoned")


def test_a_refused_credential_fails_the_run_and_pauses_the_account(leeloo):
    account = leeloo
    account.credential = "not-the-token"
    account.save()
    account.refresh_from_db()
    run = sync.run_sync(account, "tags")
    assert run.status == Status.FAILED and "401" in run.error
    assert "not-the-token" not in run.error
    account.refresh_from_db()
    assert account.paused
    with pytest.raises(sync.SyncRefused, match="paused"):
        sync.run_sync(account, "tags")


@pytest.mark.parametrize("concurrency, slots_held", [(1, 1), (2, 2), (4, 2)])
def test_a_sync_reads_ahead_only_on_a_spare_slot_of_the_budget(
    leeloo, fake, fakes, concurrency, slots_held
):
    """Reading the next page while writing is a second request in flight: a second slot."""
    from bridge.models import AccountSlot

    leeloo.concurrency = concurrency
    leeloo.save()
    fake.seed_people(245, start=SEED_START)
    held = []

    def count_slots(run):
        held.append(AccountSlot.objects.filter(account=leeloo).exclude(holder="").count())

    run = succeeded(sync.run_sync(leeloo, "people", progress=count_slots))
    assert held == [slots_held] and run.created_count == 250
    assert [r.arg("offset") for r in people_lists(fakes)] == ["0", "100", "200"]
    assert not AccountSlot.objects.filter(account=leeloo).exclude(holder="").exists()


def test_a_sync_leases_a_slot_of_the_accounts_sending_budget(leeloo, monkeypatch):
    from bridge import budget

    monkeypatch.setattr("bridge.sync.runs.MIN_SLOT_WAIT", 0.05)  # not the real 10 s
    with budget.Lease(leeloo, leeloo.concurrency) as slots:
        assert len(slots) == 2
        run = sync.run_sync(leeloo, "tags", max_seconds=0.2)  # waits 0.05 s for a slot
    assert run.status == Status.FAILED and "No free sending slot" in run.error
    run = succeeded(sync.run_sync(leeloo, "tags"))
    assert run.created_count == run.remote_total


# --- memory --------------------------------------------------------------------------------


def test_a_large_pull_keeps_memory_flat(leeloo, fake, settings):
    """20,000 people: peak growth stays far below what the rows would take held at once.

    Measured on SQLite with 500-person pages: ~3.3 MB peak growth for the whole pull. Held at
    once, 20,000 unsaved Contact instances take ~17 MB and the parsed people ~25 MB, so a pull
    that collected either breaks the 10 MB bound, which still leaves room for other databases
    and Python versions.
    """
    count = 20_000
    fake.seed_people(count - EXAMPLE_PEOPLE, start=SEED_START)
    set_state(leeloo, "people", fetch_details=False)  # one request per page, not per person
    settings.BRIDGE_SYNC_PAGE_SIZE = 500  # larger pages than the default: a stricter test
    # The test process's own objects need not be re-scanned by every collection of the pull
    # (what the pull makes is still collected): halves the time in a long test session.
    gc.collect()
    gc.freeze()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        run = sync.run_sync(leeloo, "people")
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    assert succeeded(run).created_count == count and run.pages == count // 500
    assert Contact.objects.count() == count and run.linked_total == count
    assert peak < 10 * 1024 * 1024, f"peak growth {peak / 1e6:.1f} MB"


# --- schedules -----------------------------------------------------------------------------


def expected_jobs(*accounts):
    return {sync.task_args(account.pk, r) for account in accounts for r in sync.RESOURCES}


def test_schedules_exist_after_migrate_for_each_leeloo_account(leeloo, make_account):
    second = make_account("leeloo", name="leeloo-eu")
    make_account("aello")
    Schedule.objects.filter(func=sync.TASK).delete()
    call_command("migrate", verbosity=0)
    schedules = Schedule.objects.filter(func=sync.TASK)
    assert set(schedules.values_list("args", flat=True)) == expected_jobs(leeloo, second)
    people = schedules.get(args=f"({leeloo.pk}, 'people')")
    assert people.name == "sync leeloo: people"
    assert people.schedule_type == Schedule.MINUTES
    assert people.minutes == SyncState.DEFAULT_MINUTES["people"]


def test_schedules_follow_the_accounts_intervals_and_switches(leeloo):
    def schedule(resource):
        return Schedule.objects.filter(func=sync.TASK, args=sync.task_args(leeloo.pk, resource))

    state = SyncState.objects.get(account=leeloo, resource="orders")
    state.minutes = 5
    state.save()
    assert schedule("orders").get().minutes == 5
    state.enabled = False
    state.save()
    assert not schedule("orders").exists() and schedule("people").exists()
    leeloo.enabled = False
    leeloo.save()
    assert not Schedule.objects.filter(func=sync.TASK).exists()
    leeloo.enabled = True
    leeloo.save()
    assert Schedule.objects.filter(func=sync.TASK).count() == len(sync.RESOURCES) - 1


def test_the_scheduled_task_runs_a_sync(leeloo):
    summary = sync.run_sync_task(leeloo.pk, "tags")
    assert summary["status"] == "succeeded" and summary["created"] == summary["remote_total"]
    SyncRun.objects.create(account=leeloo, resource="tags")
    assert "already running" in sync.run_sync_task(leeloo.pk, "tags")["refused"]


def test_a_cluster_runs_queued_syncs_and_continues_them_in_fresh_tasks(
    leeloo, fake, qcluster, monkeypatch
):
    fake.seed_people(245, start=SEED_START)
    Schedule.objects.filter(func=sync.TASK).delete()  # only the runs queued below
    monkeypatch.setenv("BRIDGE_SYNC_TASK_SECONDS", "0")  # the cluster's tasks: a page each
    qcluster()
    assert sync.enqueue_syncs(leeloo, ["people", "tags"]) == 2
    resumed = Success.objects.filter(func="bridge.sync.resume_sync_task")
    deadline = time.monotonic() + 60
    # Done: both runs finished, and the tasks that continued people after pages 1 and 2 saved.
    while SyncRun.objects.exclude(status=Status.RUNNING).count() < 2 or resumed.count() < 2:
        assert time.monotonic() < deadline, list(SyncRun.objects.values("resource", "status"))
        time.sleep(0.2)
    people = succeeded(SyncRun.objects.get(resource="people"))
    assert people.pages == 3 and counts(people) == (250, 0, 0, 0)
    tags = succeeded(SyncRun.objects.get(resource="tags"))  # ran beside people, which may
    assert tags.created_count + tags.updated_count == len(fake.tags)  # have made some by name
    assert tags.linked_total == len(fake.tags)
    assert resumed.count() == 2


def test_the_dashboard_judges_staleness_by_the_accounts_own_interval(leeloo):
    run = succeeded(sync.run_sync(leeloo, "tags"))  # tags: every 60 minutes by default
    later = run.finished_at + timedelta(minutes=90)
    (health,) = dashboard.latest_syncs(later)[leeloo.pk]
    assert not health.stale and health.expected_every == timedelta(minutes=60)
    set_state(leeloo, "tags", minutes=30)
    (health,) = dashboard.latest_syncs(later)[leeloo.pk]
    assert health.stale


# --- the command ---------------------------------------------------------------------------


def test_sync_command_prints_each_batch_and_a_summary(leeloo, fake, settings):
    settings.BRIDGE_SYNC_WRITE_BATCH = 100
    fake.seed_people(145, start=SEED_START)
    out = StringIO()
    call_command("sync", "--account", "leeloo", "--resource", "people", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "people: 1 page(s) — 100 created, 0 updated, 0 unchanged, 0 failed",
        "people: 2 page(s) — 150 created, 0 updated, 0 unchanged, 0 failed",
    ]
    assert lines[2].startswith("people: succeeded in ")
    assert lines[2].endswith(
        "150 created, 0 updated, 0 unchanged, 0 failed; 150 linked locally of 150 at Leeloo."
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--account", "nobody"], "--account: no account named 'nobody'"),
        (["--account", "aello"], "--account: 'aello' is at Aéllo"),
        (["--account", "leeloo", "--resource", "leads"], "--resource: invalid choice: 'leads'"),
    ],
)
def test_sync_command_names_the_bad_argument(leeloo, make_account, arguments, named):
    make_account("aello")
    with pytest.raises(CommandError, match=named):
        call_command("sync", *arguments)


def test_sync_command_exits_non_zero_when_a_run_fails(leeloo, fakes):
    fakes.add_fault("leeloo", "error", path="/api/v2/tags$", status=503)
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 sync run") as failure:
        call_command("sync", "--account", "leeloo", "--resource", "tags", stdout=out)
    assert failure.value.returncode == 1
    assert "tags: failed" in out.getvalue() and "503" in out.getvalue()


# --- the admin -----------------------------------------------------------------------------


def test_sync_now_queues_every_resource_and_shows_the_accounts_runs(admin_client, leeloo):
    response = admin_client.post(
        reverse("admin:bridge_provideraccount_changelist"),
        {"action": "sync_now", "_selected_action": [leeloo.pk]},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:bridge_sync_progress"))
    queued = [task.task for task in OrmQ.objects.all()]
    assert sorted(task["args"][1] for task in queued) == sorted(sync.RESOURCES)
    assert {task["func"] for task in queued} == {sync.TASK}
    assert {task["args"][0] for task in queued} == {leeloo.pk}
    page = admin_client.get(response["Location"])
    assert page.status_code == 200
    rows = page.context["progress"]["rows"]
    assert {row["status"] for row in rows} == {"queued"} and len(rows) == len(sync.RUN_ORDER)
    assert not page.context["progress"]["finished"]


def test_sync_progress_counts_what_each_run_has_read(admin_client, leeloo, fake):
    from django.utils import timezone

    since = timezone.now()
    run = succeeded(sync.run_sync(leeloo, "people"))
    url = reverse("admin:bridge_sync_progress_json")
    data = admin_client.get(url, {"accounts": leeloo.pk, "since": since.isoformat()}).json()
    people = next(row for row in data["rows"] if row["resource"] == "people")
    assert people["status"] == "succeeded"
    assert people["done"] == run.created_count + run.updated_count + run.unchanged_count
    assert people["total"] == run.remote_total == len(fake.people)
    assert not data["finished"]  # the other resources have not run
    bad = admin_client.get(url, {"accounts": "x", "since": since.isoformat()})
    assert bad.status_code == 400


def test_a_succeeded_runs_progress_is_full_and_links_to_the_run(admin_client, leeloo, fake):
    from django.utils import timezone

    first = succeeded(sync.run_sync(leeloo, "people"))
    since = timezone.now()
    again = succeeded(sync.run_sync(leeloo, "people"))  # incremental: reads only changes
    assert again.pk != first.pk
    url = reverse("admin:bridge_sync_progress_json")
    data = admin_client.get(url, {"accounts": leeloo.pk, "since": since.isoformat()}).json()
    people = next(row for row in data["rows"] if row["resource"] == "people")
    assert people["full"] and people["run_id"] == again.pk
    assert people["done"] < people["total"] == len(fake.people)
    assert people["counts"] == (
        f"{people['done']} read (changes since the last run; {len(fake.people)} at the provider)"
    )
    page = admin_client.get(
        reverse("admin:bridge_sync_progress"), {"accounts": leeloo.pk, "since": since.isoformat()}
    ).content.decode()
    run_url = reverse("admin:bridge_syncrun_change", args=[again.pk])
    assert f'<a href="{run_url}">people</a>' in page
    assert '<progress max="1" value="1"' in page


def test_sync_now_on_the_account_page_only_for_who_may_run_it(
    client, admin_client, django_user_model, leeloo, fake_account
):
    from django.contrib.auth.models import Permission

    change = reverse("admin:bridge_provideraccount_change", args=[leeloo.pk])
    html = admin_client.get(change).content.decode()
    assert 'id="sync-now"' in html and 'name="action" value="sync_now"' in html
    aello = fake_account("aello")  # pushes only: nothing to sync
    other = reverse("admin:bridge_provideraccount_change", args=[aello.pk])
    assert 'id="sync-now"' not in admin_client.get(other).content.decode()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provideraccount"))
    client.force_login(viewer)
    page = client.get(change)
    assert page.status_code == 200 and 'id="sync-now"' not in page.content.decode()
    refused = client.post(
        reverse("admin:bridge_provideraccount_changelist"),
        {"action": "sync_now", "_selected_action": [leeloo.pk], "index": 0},
    )
    assert refused.status_code in (302, 403) and not SyncRun.objects.exists()


def test_account_page_shows_each_resources_last_run_and_cursor(admin_client, leeloo):
    run = succeeded(sync.run_sync(leeloo, "tags"))
    page = admin_client.get(reverse("admin:bridge_provideraccount_change", args=[leeloo.pk]))
    html = page.content.decode()
    assert "Syncs from the provider" in html
    assert reverse("admin:bridge_syncrun_change", args=[run.pk]) in html
    assert "never synced" in html  # the resources not run yet
    assert "Last run (+created ~updated =unchanged !failed)" in html  # the counts' key
    assert (
        f'title="{run.created_count} created, {run.updated_count} updated, '
        f'{run.unchanged_count} unchanged, {run.failed_count} failed">+{run.created_count} '
    ) in html
    assert page.context["inline_admin_formsets"][0].formset.total_form_count() == len(
        sync.RESOURCES
    )


def test_a_cursor_moves_back_never_forward(leeloo):
    state = SyncState.objects.get(account=leeloo, resource="people")
    state.cursor = SEED_START
    state.save()
    data = {
        "enabled": True,
        "minutes": 15,
        "lookback_minutes": 60,
        "fetch_details": True,
        "reconcile_hours": 24,
        "reconcile_hour": 3,
    }
    later = SyncStateForm({**data, "cursor": "2025-01-02 00:00:00"}, instance=state)
    assert not later.is_valid() and "cursor" in later.errors
    earlier = SyncStateForm({**data, "cursor": "2024-12-01 00:00:00"}, instance=state)
    assert earlier.is_valid(), earlier.errors
    earlier.save()
    assert cursor_of(leeloo, "people") < SEED_START


def test_the_syncing_providers_are_those_that_declare_resources(make_account):
    """No provider is named in the sync machinery: a provider class lists what it syncs."""
    from integrations.registry import providers, syncing_providers

    declared = {cls.id: cls.syncs for cls in providers().values()}
    assert syncing_providers() == tuple(pid for pid, syncs in declared.items() if syncs)
    assert {resource.name for resource in declared["leeloo"]} == set(sync.RESOURCES)
    assert sync.can_sync(make_account("leeloo"))
    assert not sync.can_sync(make_account("aloware"))

"""The scheduled full reconcile: people edited without a new message, people gone from Leeloo,
and the reconcile schedules. Against the fake Leeloo over real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import Schedule

from bridge import sync
from bridge.models import Contact, Lead, RemoteLink, SyncRun, SyncState
from bridge.sync import reconcile

pytestmark = pytest.mark.django_db(transaction=True)

FELIKS, MARK_SPENSER, TIIIIK = (
    "5e1c7ce2b4066a01900cdba0",
    "625946dd585052c1629f1b2b",
    "5ef074e9e31801000d73ba10",
)
SEED_START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def leeloo(fake_account):
    return fake_account("leeloo", requests_per_second=1000, concurrency=2)


@pytest.fixture
def fake(fakes):
    return fakes.fakes["leeloo"]


def succeeded(run):
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def link_of(account, remote_id, model=Contact):
    return RemoteLink.objects.get(
        account=account,
        remote_id=remote_id,
        content_type=ContentType.objects.get_for_model(model),
    )


def reconcile_people(account):
    """What the reconcile schedule runs, in this process."""
    summary = reconcile.reconcile_task(account.pk, "people")
    return SyncRun.objects.get(pk=summary["run"])


# --- people edited without a new message ---------------------------------------------------


def test_an_edit_without_a_new_message_is_missed_by_incremental_runs_and_reconciled(leeloo, fake):
    succeeded(sync.run_sync(leeloo, "people"))  # the first run reads everyone
    feliks = Contact.objects.get(pk=link_of(leeloo, FELIKS).object_id)
    assert feliks.email == "feliks@gmail.com"
    # Edited in Leeloo's app: a new email, no message, so its last-message time stays.
    fake.people[FELIKS]["email"] = "feliks.new@gmail.com"
    fake.people[FELIKS]["name"] = "Feliks Renamed"
    incremental = succeeded(sync.run_sync(leeloo, "people"))
    assert not incremental.full and incremental.updated_count == 0
    feliks.refresh_from_db()
    assert feliks.email == "feliks@gmail.com"  # missed: the window is by last message
    run = succeeded(reconcile_people(leeloo))
    assert run.full and run.updated_count == 1 and run.gone_count == 0
    assert run.unchanged_count == run.remote_total - 1  # compared, not written
    feliks.refresh_from_db()
    assert (feliks.email, feliks.first_name, feliks.last_name) == (
        "feliks.new@gmail.com",
        "Feliks",
        "Renamed",
    )


def test_two_people_changed_differently_in_one_batch_each_keep_their_other_fields(leeloo, fake):
    # The batch writes the union of the changed columns for every contact it updates, from
    # the rows it compared: one's new name must not carry the other's old email, or back.
    succeeded(sync.run_sync(leeloo, "people"))
    before = {
        remote_id: Contact.objects.get(pk=link_of(leeloo, remote_id).object_id)
        for remote_id in (FELIKS, MARK_SPENSER, TIIIIK)
    }
    fake.people[FELIKS]["name"] = "Feliks Renamed"
    fake.people[MARK_SPENSER]["email"] = "mark.new@example.com"
    run = succeeded(reconcile_people(leeloo))
    assert run.updated_count == 2
    after = {remote_id: Contact.objects.get(pk=c.pk) for remote_id, c in before.items()}
    assert (after[FELIKS].first_name, after[FELIKS].last_name) == ("Feliks", "Renamed")
    assert after[FELIKS].email == before[FELIKS].email
    assert after[MARK_SPENSER].email == "mark.new@example.com"
    assert after[MARK_SPENSER].first_name == before[MARK_SPENSER].first_name
    assert after[MARK_SPENSER].phone == before[MARK_SPENSER].phone
    assert after[TIIIIK].updated_at == before[TIIIIK].updated_at  # compared, not written


# --- people gone from Leeloo ---------------------------------------------------------------


def test_a_person_deleted_at_leeloo_is_marked_gone_never_deleted_and_unmarked_on_return(
    leeloo, fake, admin_client
):
    succeeded(sync.run_sync(leeloo, "people"))
    tiiiik_contact = link_of(leeloo, TIIIIK).object_id
    person = dict(fake.people[TIIIIK])
    fake.remove_person(TIIIIK)
    assert succeeded(sync.run_sync(leeloo, "people")).gone_count is None  # incremental: no
    assert link_of(leeloo, TIIIIK).remote_gone_at is None
    run = succeeded(reconcile_people(leeloo))
    assert run.gone_count == 1
    gone = link_of(leeloo, TIIIIK)
    assert gone.remote_gone_at is not None
    assert Contact.objects.filter(pk=tiiiik_contact).exists()  # the contact stays
    marked = RemoteLink.objects.filter(account=leeloo, remote_gone_at__isnull=False)
    assert list(marked.values_list("remote_id", flat=True)) == [TIIIIK]
    # Staff find it in the admin with the filter.
    page = admin_client.get(reverse("admin:bridge_remotelink_changelist") + "?gone=yes")
    assert page.status_code == 200
    assert TIIIIK in page.content.decode() and FELIKS not in page.content.decode()
    contacts = admin_client.get(reverse("admin:bridge_contact_changelist") + "?gone=yes")
    assert list(contacts.context["cl"].result_list) == [Contact.objects.get(pk=tiiiik_contact)]
    # A second reconcile leaves the mark as it was (it is not moved forward).
    succeeded(reconcile_people(leeloo))
    assert link_of(leeloo, TIIIIK).remote_gone_at == gone.remote_gone_at
    # Back at Leeloo (restored, with a new message): the next run that lists it unmarks it.
    person["lastMessageTime"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    fake.add_person(person)
    succeeded(sync.run_sync(leeloo, "people"))
    assert link_of(leeloo, TIIIIK).remote_gone_at is None


def test_people_listed_but_not_mirrored_or_linked_through_a_lead_are_not_gone(
    leeloo, fakes, make_lead
):
    lead = make_lead()
    RemoteLink.objects.create(  # a pushed lead is the person Mark Spenser
        account=leeloo,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=lead.pk,
        remote_id=MARK_SPENSER,
    )
    succeeded(sync.run_sync(leeloo, "people"))
    # Feliks is listed, but his card cannot be read: he is counted as failed, not mirrored.
    fakes.add_fault("leeloo", "error", path=f"/api/v2/people/{FELIKS}$", status=404)
    run = succeeded(reconcile_people(leeloo))
    assert run.failed_count == 1 and FELIKS in run.error
    assert run.gone_count == 0
    assert link_of(leeloo, FELIKS).remote_gone_at is None
    assert link_of(leeloo, MARK_SPENSER, Lead).remote_gone_at is None


def test_a_failed_or_interrupted_full_run_marks_nobody(leeloo, fake, fakes, settings):
    settings.BRIDGE_SYNC_PAGE_SIZE = 20
    settings.BRIDGE_SYNC_WRITE_BATCH = 20
    fake.seed_people(55, start=SEED_START)
    succeeded(sync.run_sync(leeloo, "people"))
    fake.remove_person(TIIIIK)
    # Failed on the third page: the people after it were not read, so none may be judged.
    fakes.add_fault("leeloo", "latency", path="/api/v2/people$", method="GET", times=2)
    fakes.add_fault("leeloo", "error", path="/api/v2/people$", method="GET", times=1)
    failed = sync.run_sync(leeloo, "people", full=True)
    assert failed.status == SyncRun.Status.FAILED and failed.gone_count is None
    assert not RemoteLink.objects.filter(remote_gone_at__isnull=False).exists()
    fakes.clear_faults()
    # Interrupted (the task's time is up after a batch): still running, nobody marked yet.
    interrupted = sync.run_sync(leeloo, "people", full=True, max_seconds=0)
    assert interrupted.status == SyncRun.Status.RUNNING and interrupted.next_offset == 20
    assert not RemoteLink.objects.filter(remote_gone_at__isnull=False).exists()
    # Continued to the end of the list: now it knows.
    while interrupted.status == SyncRun.Status.RUNNING:
        interrupted = sync.resume_run(interrupted.pk, max_seconds=0)
    assert succeeded(interrupted).gone_count == 1
    assert list(
        RemoteLink.objects.filter(remote_gone_at__isnull=False).values_list("remote_id", flat=True)
    ) == [TIIIIK]


# --- the schedules -------------------------------------------------------------------------


def reconcile_schedule(account, resource):
    return Schedule.objects.filter(
        func=reconcile.TASK,
        args=sync.task_args(account.pk, resource),
        schedule_type=Schedule.MINUTES,
    )


def test_every_stored_schedule_names_a_function_that_resolves(leeloo):
    """Schedule rows hold dotted paths (``bridge.sync.run_sync_task``, and the reconcile's
    ``bridge.reconcile.reconcile_task`` from before the sync became a package): each must
    still import, or the cluster fails the schedule at its next run."""
    call_command("setup_schedules")
    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {sync.TASK, reconcile.TASK} <= funcs
    for func in funcs | {"bridge.sync.resume_sync_task"}:
        assert callable(import_string(func)), func
    assert import_string(reconcile.TASK) is reconcile.reconcile_task


def test_each_resource_has_a_nightly_reconcile_schedule_by_default(leeloo, make_account):
    make_account("aello")
    schedules = Schedule.objects.filter(func=reconcile.TASK)
    assert set(schedules.values_list("args", flat=True)) == {
        sync.task_args(leeloo.pk, resource) for resource in sync.RESOURCES
    }
    people = reconcile_schedule(leeloo, "people").get()
    assert people.name == "reconcile leeloo: people"
    assert (people.schedule_type, people.minutes) == (Schedule.MINUTES, 24 * 60)
    first = people.next_run.astimezone(UTC)
    assert (first.hour, first.minute, first.second) == (3, 0, 0)
    assert timedelta(0) < first - datetime.now(UTC) <= timedelta(hours=24)
    # After migrate (and setup_schedules) too, when they were lost.
    schedules.delete()
    call_command("setup_schedules")
    assert Schedule.objects.filter(func=reconcile.TASK).count() == len(sync.RESOURCES)
    assert reconcile_schedule(leeloo, "people").get().next_run.astimezone(UTC).hour == 3


def test_the_reconcile_schedule_follows_a_changed_setting(leeloo, admin_client):
    state = SyncState.objects.get(account=leeloo, resource="people")
    url = reverse("admin:bridge_provideraccount_change", args=[leeloo.pk])
    page = admin_client.get(url).content.decode()
    assert "reconcile_hours" in page and "reconcile_hour" in page  # next to the interval
    state.reconcile_hours, state.reconcile_hour = 6, 1
    state.save()
    people = reconcile_schedule(leeloo, "people").get()
    assert people.minutes == 6 * 60
    assert people.next_run.astimezone(UTC).hour in (1, 7, 13, 19)
    assert people.next_run - datetime.now(UTC) <= timedelta(hours=6)
    state.reconcile_hours = 0
    state.save()
    assert not reconcile_schedule(leeloo, "people").exists()
    assert reconcile_schedule(leeloo, "orders").exists()
    leeloo.enabled = False
    leeloo.save()
    assert not Schedule.objects.filter(func=reconcile.TASK).exists()


def test_the_reconcile_task_runs_a_full_run_and_tries_again_when_its_resource_is_busy(leeloo):
    summary = reconcile.reconcile_task(leeloo.pk, "tags")
    run = SyncRun.objects.get(pk=summary["run"])
    assert succeeded(run).full and summary["created"] == summary["remote_total"]
    # The tags' own schedule started a run at the same moment: the reconcile comes back.
    SyncRun.objects.create(account=leeloo, resource="tags")
    for _ in range(2):  # refused twice: still one retry waiting
        refused = reconcile.reconcile_task(leeloo.pk, "tags")
        assert "already running" in refused["refused"]
    (retry,) = Schedule.objects.filter(func=reconcile.TASK, schedule_type=Schedule.ONCE)
    assert retry.args == sync.task_args(leeloo.pk, "tags") and retry.repeats == -1
    wait = retry.next_run - datetime.now(UTC)
    assert timedelta(minutes=4) < wait <= timedelta(minutes=reconcile.RETRY_MINUTES)
    # Retimed schedules leave the retry alone; the recurring one is still one per resource.
    state = SyncState.objects.get(account=leeloo, resource="tags")
    state.reconcile_hours = 12
    state.save()
    assert Schedule.objects.filter(pk=retry.pk).exists()
    assert reconcile_schedule(leeloo, "tags").filter(schedule_type=Schedule.MINUTES).count() == 1

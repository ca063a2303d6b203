"""People unchanged at Leeloo and locally since their last pull are settled without being
compared (``bridge.sync.fingerprints``); anything changed on either side is compared and
written as before. Against the fake Leeloo over real HTTP."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType

from bridge import merge, sync
from bridge.models import Contact, ListedPerson, RemoteLink, SyncRun, SyncState
from bridge.sync import fingerprints, people

pytestmark = pytest.mark.django_db(transaction=True)

FELIKS, MARK_SPENSER = "5e1c7ce2b4066a01900cdba0", "625946dd585052c1629f1b2b"
TIIIIK = "5ef074e9e31801000d73ba10"
SEED_START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def leeloo(fake_account):
    """A Leeloo account whose runs read the people list alone (a full run with cards reads
    and compares every card: see the last tests)."""
    account = fake_account("leeloo", requests_per_second=1000, concurrency=2)
    sync.ensure_sync_states(account)
    SyncState.objects.filter(account=account, resource="people").update(fetch_details=False)
    return account


@pytest.fixture
def fake(fakes):
    return fakes.fakes["leeloo"]


@pytest.fixture
def compared(monkeypatch):
    """The contact ids each run reads to compare (a spy on the real loader)."""
    seen: list[int] = []
    real = people.load_contact_rows

    def spy(ids, fields):
        seen.extend(ids)
        return real(ids, fields)

    monkeypatch.setattr(people, "load_contact_rows", spy)
    return seen


def reconcile(account) -> SyncRun:
    run = sync.run_sync(account, "people", full=True)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def link_of(account, remote_id) -> RemoteLink:
    return RemoteLink.objects.get(
        account=account,
        remote_id=remote_id,
        content_type=ContentType.objects.get_for_model(Contact),
    )


def contact_of(account, remote_id) -> Contact:
    return Contact.objects.get(pk=link_of(account, remote_id).object_id)


def test_a_reconcile_compares_only_the_person_changed_at_leeloo(leeloo, fake, compared):
    first = reconcile(leeloo)
    assert first.created_count == first.remote_total > 2
    hashes = dict(RemoteLink.objects.filter(account=leeloo).values_list("remote_id", "pulled_hash"))
    assert all(len(value) == 24 for value in hashes.values())
    compared.clear()
    fake.people[FELIKS]["name"] = "Feliks Renamed"  # no new message

    run = reconcile(leeloo)

    feliks = contact_of(leeloo, FELIKS)
    assert compared == [feliks.pk]
    assert (run.updated_count, run.unchanged_count) == (1, run.remote_total - 1)
    assert (feliks.first_name, feliks.last_name) == ("Feliks", "Renamed")
    assert link_of(leeloo, FELIKS).pulled_hash != hashes[FELIKS]
    assert link_of(leeloo, MARK_SPENSER).pulled_hash == hashes[MARK_SPENSER]
    # Only the person compared is stamped; the settled ones were listed all the same, so the
    # complete run marks nobody gone, and its list of who it saw ends with it.
    stamps = dict(
        RemoteLink.objects.filter(account=leeloo).values_list("remote_id", "last_pulled_at")
    )
    assert stamps.pop(FELIKS) >= run.started_at
    assert max(stamps.values()) < run.started_at
    assert run.gone_count == 0 and not RemoteLink.objects.filter(remote_gone_at__isnull=False)
    assert not ListedPerson.objects.exists()


def test_a_tag_changed_at_leeloo_is_a_change(leeloo, fake, compared):
    reconcile(leeloo)
    compared.clear()
    fake.people[FELIKS]["tags"] = ["Mentor"]
    run = reconcile(leeloo)
    feliks = contact_of(leeloo, FELIKS)
    assert compared == [feliks.pk] and run.updated_count == 1
    assert set(feliks.tags.values_list("name", flat=True)) == {"Mentor"}


def test_a_staff_edit_of_a_leeloo_field_is_still_put_back(leeloo, fake, compared):
    reconcile(leeloo)
    feliks = contact_of(leeloo, FELIKS)
    feliks.email = "typed.by.staff@example.com"
    feliks.save()
    compared.clear()
    run = reconcile(leeloo)
    assert compared == [feliks.pk] and run.updated_count == 1
    feliks.refresh_from_db()
    assert feliks.email == "feliks@gmail.com"
    compared.clear()
    assert reconcile(leeloo).updated_count == 0 and compared == []  # settled again


def test_a_leeloo_tag_staff_took_off_is_put_back(leeloo, fake, compared):
    reconcile(leeloo)
    feliks = contact_of(leeloo, FELIKS)
    leeloo_tag = feliks.tags.order_by("name").first()
    feliks.tags.remove(leeloo_tag)  # the m2m API: recorded in the tag history, contact touched
    compared.clear()
    run = reconcile(leeloo)
    assert compared == [feliks.pk] and run.updated_count == 1
    assert leeloo_tag in feliks.tags.all()


def test_a_contact_deleted_locally_is_made_again(leeloo, fake):
    reconcile(leeloo)
    contact_of(leeloo, FELIKS).delete()  # its links go with it
    run = reconcile(leeloo)
    assert run.created_count == 1 and contact_of(leeloo, FELIKS).email == "feliks@gmail.com"


def test_a_full_run_reading_cards_compares_everyone(leeloo, fake, compared):
    reconcile(leeloo)
    SyncState.objects.filter(account=leeloo, resource="people").update(fetch_details=True)
    compared.clear()
    run = reconcile(leeloo)
    assert len(set(compared)) == run.remote_total


def test_a_person_gone_is_marked_among_settled_people_and_unmarked_when_back(leeloo, fake):
    reconcile(leeloo)
    person = dict(fake.people[TIIIIK])
    fake.remove_person(TIIIIK)
    run = reconcile(leeloo)
    assert run.gone_count == 1 and run.unchanged_count == run.remote_total
    marked = RemoteLink.objects.filter(account=leeloo, remote_gone_at__isnull=False)
    assert list(marked.values_list("remote_id", flat=True)) == [TIIIIK]
    fake.add_person(person)  # back, unchanged: a link marked gone is never settled
    back = reconcile(leeloo)
    assert back.gone_count == 0 and not marked.exists()
    assert link_of(leeloo, TIIIIK).last_pulled_at >= back.started_at


def test_an_interrupted_full_run_remembers_whom_it_listed_across_its_tasks(
    leeloo, fake, fakes, settings
):
    settings.BRIDGE_SYNC_PAGE_SIZE = 20
    settings.BRIDGE_SYNC_WRITE_BATCH = 20
    fake.seed_people(55, start=SEED_START)
    reconcile(leeloo)
    fake.remove_person(TIIIIK)
    # Failed on the third page: nobody marked, and what it listed is forgotten.
    fakes.add_fault("leeloo", "latency", path="/api/v2/people$", method="GET", times=2)
    fakes.add_fault("leeloo", "error", path="/api/v2/people$", method="GET", times=1)
    failed = sync.run_sync(leeloo, "people", full=True)
    assert failed.status == SyncRun.Status.FAILED and not ListedPerson.objects.exists()
    fakes.clear_faults()
    run = sync.run_sync(leeloo, "people", full=True, max_seconds=0)
    while run.status == SyncRun.Status.RUNNING:  # everyone it listed so far was settled
        assert ListedPerson.objects.filter(run=run).count() == run.next_offset
        run = sync.resume_run(run.pk, max_seconds=0)
    assert run.status == SyncRun.Status.SUCCEEDED and run.gone_count == 1
    assert run.unchanged_count == run.remote_total
    marked = RemoteLink.objects.filter(remote_gone_at__isnull=False)
    assert list(marked.values_list("remote_id", flat=True)) == [TIIIIK]
    assert not ListedPerson.objects.exists()


def test_what_a_dead_run_listed_is_forgotten_by_the_next_run_to_end(leeloo, fake):
    dead = SyncRun.objects.create(account=leeloo, resource="people", full=True, status="failed")
    ListedPerson.objects.bulk_create(ListedPerson(run=dead, remote_id=FELIKS) for _ in range(3))
    reconcile(leeloo)
    assert not ListedPerson.objects.exists()


def test_a_link_moved_by_a_merge_is_compared_again(leeloo, fake, compared):
    reconcile(leeloo)
    feliks = contact_of(leeloo, FELIKS)
    survivor = Contact.objects.create(first_name="Survivor", phone="+13105550143")
    merge.merge_contacts(survivor, [feliks])
    assert link_of(leeloo, FELIKS).pulled_hash == ""
    compared.clear()
    reconcile(leeloo)
    assert survivor.pk in compared


def test_the_fingerprint_covers_each_list_field_and_the_tags_as_a_set(monkeypatch):
    person = {
        "first_name": "Ann",
        "last_name": "Lee",
        "email_key": "ann@example.com",
        "phone_key": "+15550001111",
        "channels": [{"account_id": "1"}],
        "last_message_at": None,
        "tags": ["VIP", "lead"],
    }
    same = fingerprints.person_fingerprint(person)
    assert fingerprints.person_fingerprint({**person, "tags": ["lead", "VIP"]}) == same
    for name, other in [
        ("first_name", "Anne"),
        ("last_name", "Li"),
        ("email_key", "ann@example.org"),
        ("phone_key", "+15550001112"),
        ("channels", []),
        ("last_message_at", "2026-01-01"),
        ("tags", ["VIP"]),
    ]:
        assert fingerprints.person_fingerprint({**person, name: other}) != same, name
    monkeypatch.setattr(fingerprints, "VERSION", "2")  # a new version: every digest differs
    assert fingerprints.person_fingerprint(person) != same

"""People unchanged at Leeloo and locally since their last pull are settled without being
compared (``bridge.sync.fingerprints``); anything changed on either side is compared and
written as before. Against the fake Leeloo over real HTTP."""

import pytest
from django.contrib.contenttypes.models import ContentType

from bridge import merge, sync
from bridge.models import Contact, RemoteLink, SyncRun, SyncState
from bridge.sync import fingerprints, people

pytestmark = pytest.mark.django_db(transaction=True)

FELIKS, MARK_SPENSER = "5e1c7ce2b4066a01900cdba0", "625946dd585052c1629f1b2b"


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
    # Settled people are still stamped as listed (a complete run marks the unstamped gone).
    stamps = RemoteLink.objects.filter(account=leeloo).values_list("last_pulled_at", flat=True)
    assert min(stamps) >= run.started_at and run.gone_count == 0


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


def test_a_link_moved_by_a_merge_is_compared_again(leeloo, fake, compared):
    reconcile(leeloo)
    feliks = contact_of(leeloo, FELIKS)
    survivor = Contact.objects.create(first_name="Survivor", phone="+13105550143")
    merge.merge_contacts(survivor, [feliks])
    assert link_of(leeloo, FELIKS).pulled_hash == ""
    compared.clear()
    reconcile(leeloo)
    assert survivor.pk in compared


def test_the_fingerprint_covers_each_list_field_and_the_tags_as_a_set():
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
    assert fingerprints.person_fingerprint({**person, "tags": ["Lead", "vip"]}) == same
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

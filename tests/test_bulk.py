"""bridge.db.copies: plain rows into tables (COPY on PostgreSQL, bulk_create elsewhere)."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction

from bridge.db import copies
from bridge.models import Contact, ListedPerson, RemoteLink, SyncRun, Tag


def test_insert_rows_returns_the_new_ids_in_order_and_fills_defaults(db):
    ids = copies.insert_copies(
        Contact,
        [
            {"first_name": "Ann", "phone": "+13105550143", "channels": [{"from": "TELEGRAM"}]},
            {"first_name": "Bob", "email": "bob@example.com", "custom_fields": {"vip": "yes"}},
        ],
    )
    ann, bob = (Contact.objects.get(pk=pk) for pk in ids)
    assert (ann.first_name, ann.phone, ann.channels) == (
        "Ann",
        "+13105550143",
        [{"from": "TELEGRAM"}],
    )
    assert (bob.first_name, bob.email, bob.custom_fields) == (
        "Bob",
        "bob@example.com",
        {"vip": "yes"},
    )
    # Left out: the model's defaults, and auto_now(_add) times set now.
    assert ann.other_phones == [] and ann.notes == "" and ann.date_of_birth is None
    assert ann.created_at is not None and ann.updated_at is not None


def test_insert_rows_takes_foreign_keys_and_datetimes(db, make_account, make_contact):
    account = make_account()
    contact = make_contact()
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    (link_id,) = copies.insert_copies(
        RemoteLink,
        [
            {
                "account_id": account.pk,
                "content_type_id": ContentType.objects.get_for_model(Contact).pk,
                "object_id": contact.pk,
                "remote_id": "p-1",
                "remote_updated_at": when,
            }
        ],
    )
    link = RemoteLink.objects.get(pk=link_id)
    assert (link.account, link.object_id, link.remote_id) == (account, contact.pk, "p-1")
    assert link.remote_updated_at == when


def test_insert_rows_refuses_a_duplicate_and_writes_nothing(transactional_db, make_contact):
    make_contact(phone="+13105550143")
    before = Contact.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        copies.insert_copies(Contact, [{"first_name": "New"}, {"phone": "+13105550143"}])
    assert Contact.objects.count() == before


def test_insert_rows_of_nothing_is_nothing(db):
    assert copies.insert_copies(Contact, []) == []


def test_add_pairs_skips_rows_already_there(db, make_contact):
    contact = make_contact()
    vip, new = Tag.objects.create(name="VIP"), Tag.objects.create(name="New")
    contact.tags.add(vip)
    copies.add_pairs(
        Contact.tags.through, "contact_id", "tag_id", [(contact.pk, vip.pk), (contact.pk, new.pk)]
    )
    assert set(contact.tags.values_list("name", flat=True)) == {"VIP", "New"}
    assert Contact.tags.through.objects.filter(contact=contact).count() == 2


def test_add_pairs_for_new_rows_inserts_them_and_would_refuse_a_duplicate(
    transactional_db, make_contact
):
    """``new=True`` (the left rows were made in this transaction) drops the conflict check:
    the rows go in, and a pair that did exist would be refused, not silently skipped."""
    contact = make_contact()
    vip = Tag.objects.create(name="VIP")
    through = Contact.tags.through
    copies.add_pairs(through, "contact_id", "tag_id", [(contact.pk, vip.pk)], new=True)
    assert list(contact.tags.values_list("name", flat=True)) == ["VIP"]
    with pytest.raises(IntegrityError), transaction.atomic():
        copies.add_pairs(through, "contact_id", "tag_id", [(contact.pk, vip.pk)], new=True)
    assert through.objects.filter(contact=contact).count() == 1


def test_update_objects_writes_each_objects_own_values_of_every_type(db, make_contact):
    ann = make_contact(first_name="Ann", phone="+13105550143")
    bob = make_contact(first_name="Bob", email="bob@example.com")
    untouched = make_contact(first_name="Cy")
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    ann.first_name, ann.channels, ann.last_message_at = "Anne", [{"from": "TELEGRAM"}], when
    bob.first_name, bob.channels, bob.last_message_at = 'Bo\'b \\ "x"', [], None
    bob.email = ""
    copies.update_objects(Contact, [ann, bob], ["first_name", "channels", "last_message_at"])
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert (ann.first_name, ann.channels, ann.last_message_at) == (
        "Anne",
        [{"from": "TELEGRAM"}],
        when,
    )
    assert (bob.first_name, bob.channels, bob.last_message_at) == ('Bo\'b \\ "x"', [], None)
    assert bob.email == "bob@example.com"  # not named: left as it was
    assert Contact.objects.get(pk=untouched.pk).first_name == "Cy"


def test_update_objects_of_many_rows_writes_them_all(db):
    ids = copies.insert_copies(Contact, [{"first_name": f"n{i}"} for i in range(1201)])
    contacts = [Contact(pk=pk, first_name=f"m{i}") for i, pk in enumerate(ids)]
    copies.update_objects(Contact, contacts, ["first_name"])
    names = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "first_name"))
    assert names == {pk: f"m{i}" for i, pk in enumerate(ids)}


def test_update_objects_refuses_a_duplicate_and_writes_nothing(transactional_db, make_contact):
    ann = make_contact(phone="+13105550143")
    bob = make_contact(phone="+13105550144", first_name="Bob")
    bob.phone, bob.first_name = ann.phone, "Robert"
    with pytest.raises(IntegrityError), transaction.atomic():
        copies.update_objects(Contact, [bob], ["phone", "first_name"])
    assert Contact.objects.get(pk=bob.pk).first_name == "Bob"


def test_insert_column_adds_a_row_per_value_with_the_fixed_ones(db, make_account):
    run = SyncRun.objects.create(account=make_account(), resource="people")
    copies.insert_column(ListedPerson, "remote_id", ['p"1', "p\\2", "p3"], run_id=run.pk)
    copies.insert_column(ListedPerson, "remote_id", [], run_id=run.pk)
    rows = ListedPerson.objects.order_by("pk").values_list("run_id", "remote_id")
    assert list(rows) == [(run.pk, 'p"1'), (run.pk, "p\\2"), (run.pk, "p3")]


def test_insert_rows_with_their_keys_in_different_orders_put_each_value_in_its_column(db):
    ids = copies.insert_copies(
        Contact,
        [
            {"first_name": "Ann", "last_name": "Lee", "channels": [{"from": "A"}]},
            {"channels": [{"from": "B"}], "last_name": "Bo", "first_name": "Bob"},
            {"last_name": "Cy", "first_name": "Cyd"},
        ],
    )
    rows = Contact.objects.filter(pk__in=ids).order_by("pk")
    assert list(rows.values_list("first_name", "last_name", "channels")) == [
        ("Ann", "Lee", [{"from": "A"}]),
        ("Bob", "Bo", [{"from": "B"}]),
        ("Cyd", "Cy", []),
    ]

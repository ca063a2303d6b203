"""SentState and its triggers (bridge/db/sent_state.py): the table follows every write to
deliveries, leads and contacts — ORM saves, bulk UPDATEs and DELETEs, a merge — on whichever
database the suite runs (SQLite, or PostgreSQL with DATABASE_URL); ``manage.py sent_state``
finds a table gone wrong and rebuilds it; and the filters answer as reading the deliveries did.
"""

import random
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from bridge.db import sent_state
from bridge.merge import merge_contacts
from bridge.models import Contact, Delivery, Lead, SentState

State = Delivery.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def aello(make_account):
    return make_account("aello", name="aello-main")


@pytest.fixture
def aloware(make_account):
    return make_account("aloware", name="aloware-sales")


def push(record, account, state=State.PENDING, operation="push", **fields):
    return Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        operation=operation,
        state=state,
        **fields,
    )


def row(record, account) -> SentState | None:
    kind = ContentType.objects.get_for_model(record)
    return SentState.objects.filter(content_type=kind, object_id=record.pk, account=account).first()


def assert_matches_deliveries():
    """The table holds exactly what the deliveries say (the rebuild's own query)."""
    assert sent_state.differences() == (0, 0)


def test_the_triggers_are_installed():
    assert sent_state.triggers_installed() == sent_state.expected_trigger_count()


def test_a_push_through_its_life(make_lead, aello):
    lead = make_lead()
    first = push(lead, aello)
    assert row(lead, aello).status == "sending"
    assert row(lead, aello).contact_id == lead.contact_id
    assert row(lead, aello).newest_push_id == first.pk

    first.state, first.attempts, first.error_message = State.FAILED, 1, "HTTP 503"
    first.save()
    assert row(lead, aello).status == "failing"

    first.state = State.DELIVERED
    first.save()
    delivered = row(lead, aello)
    assert delivered.status == "delivered" and delivered.delivered_at is not None

    second = push(lead, aello)  # a re-push: sending again, but it was delivered once
    state = row(lead, aello)
    assert state.status == "sending" and state.delivered_at == delivered.delivered_at
    assert state.newest_push_id == second.pk

    second.state = State.CANCELLED  # cancelled pushes do not count: back to the first
    second.save()
    assert row(lead, aello).status == "delivered"
    assert row(lead, aello).newest_push_id == first.pk
    assert_matches_deliveries()

    first.delete()
    assert row(lead, aello) is None  # only a cancelled push left: not sent
    assert_matches_deliveries()


def test_what_is_not_a_counted_push_writes_nothing(make_lead, aello):
    lead = make_lead()
    push(lead, aello, State.DELIVERED, operation="add_tag")
    push(lead, aello, State.CANCELLED)
    assert not SentState.objects.exists()


def test_bulk_updates_and_deletes_are_followed(make_lead, aello, aloware):
    leads = [make_lead() for _ in range(6)]
    for lead in leads:
        push(lead, aello)
        push(lead, aloware, State.DELIVERED)
    Delivery.objects.filter(account=aello).update(state=State.DEAD, attempts=8)
    assert set(SentState.objects.filter(account=aello).values_list("status", flat=True)) == {"dead"}
    Delivery.objects.filter(account=aloware, object_id__in=[lead.pk for lead in leads[:3]]).delete()
    assert SentState.objects.filter(account=aloware).count() == 3
    # A change of a column the state does not read (the claim's lease) rewrites nothing.
    before = list(SentState.objects.order_by("object_id", "account_id").values())
    Delivery.objects.update(claimed_by="worker-1")
    assert list(SentState.objects.order_by("object_id", "account_id").values()) == before
    assert_matches_deliveries()


def test_a_delivery_moved_to_another_record_or_account_moves_its_state(make_lead, aello, aloware):
    one, other = make_lead(), make_lead()
    delivery = push(one, aello, State.DELIVERED)
    Delivery.objects.filter(pk=delivery.pk).update(object_id=other.pk)
    assert row(one, aello) is None and row(other, aello).status == "delivered"
    Delivery.objects.filter(pk=delivery.pk).update(account=aloware)
    assert row(other, aello) is None and row(other, aloware).status == "delivered"
    Delivery.objects.filter(pk=delivery.pk).update(operation="add_tag")
    assert not SentState.objects.exists()
    assert_matches_deliveries()


def test_leads_and_contacts_carry_their_rows(make_contact, make_lead, aello):
    person, elsewhere = make_contact(), make_contact()
    lead = make_lead(contact=person)
    push(lead, aello, State.DELIVERED)
    push(person, aello, State.DEAD, attempts=8)
    assert set(SentState.objects.values_list("contact_id", flat=True)) == {person.pk}

    Lead.objects.filter(pk=lead.pk).update(contact=elsewhere)  # a lead moved to another person
    assert row(lead, aello).contact_id == elsewhere.pk
    assert row(person, aello).contact_id == person.pk

    Lead.objects.filter(pk=lead.pk).delete()  # its deliveries stay, about nobody
    assert row(lead, aello) is None
    Contact.objects.filter(pk=person.pk).delete()
    assert not SentState.objects.exists()
    assert_matches_deliveries()


def test_a_merge_leaves_the_table_right(make_contact, make_lead, aello, aloware):
    survivor, duplicate = make_contact(), make_contact()
    lead = make_lead(contact=duplicate)
    push(lead, aello, State.FAILED, attempts=2)
    push(duplicate, aloware, State.DELIVERED)
    merge_contacts(survivor, [duplicate])
    assert row(lead, aello).contact_id == survivor.pk
    assert row(survivor, aloware).status == "delivered"
    assert not SentState.objects.filter(contact_id=duplicate.pk).exists()
    assert_matches_deliveries()


def test_the_command_finds_a_table_gone_wrong_and_rebuilds_it(make_lead, aello):
    for lead in [make_lead() for _ in range(3)]:
        push(lead, aello, State.DELIVERED)
    out = StringIO()
    call_command("sent_state", stdout=out)
    assert "Rows missing or wrong: 0; rows that should not be there: 0." in out.getvalue()

    with connection.cursor() as cursor:  # as a restore without triggers would leave it
        cursor.execute("UPDATE bridge_sentstate SET status = 'dead'")
    with pytest.raises(CommandError, match="sent_state --rebuild"):
        call_command("sent_state", stdout=StringIO())

    out = StringIO()
    call_command("sent_state", "--rebuild", stdout=out)
    assert "Rebuilt: 3 rows." in out.getvalue()
    assert "Rows missing or wrong: 0" in out.getvalue()
    assert_matches_deliveries()


# --- The filters answer as reading the deliveries did -------------------------------------

STATES = [State.PENDING, State.FAILED, State.DEAD, State.DELIVERED, State.SKIPPED, State.CANCELLED]


def column_status(delivery: Delivery) -> str:
    """The column's status of one delivery, as bridge/admin/sent_to.py defines it."""
    tried = delivery.attempts > 0 or delivery.error_code or delivery.error_message
    if delivery.state in (State.PENDING, State.SENDING, State.FAILED):
        return "failing" if tried else "sending"
    return "dead" if delivery.state == State.DEAD else "delivered"


def expected_lists(account) -> dict[str, dict[str, set[int]]]:
    """Each filter's rows, computed from the deliveries in Python: a record's newest counted
    push decides; a contact counts its own and its leads' ("delivered": ever)."""
    newest, ever = {}, set()
    for delivery in Delivery.objects.filter(account=account, operation="push").order_by("pk"):
        if delivery.state == State.CANCELLED:
            continue
        key = (delivery.content_type.model, delivery.object_id)
        newest[key] = column_status(delivery)
        if delivery.state in (State.DELIVERED, State.SKIPPED):
            ever.add(key)
    lead_ids = set(Lead.objects.values_list("pk", flat=True))
    lists = {"lead": {}, "contact": {}}
    for name, wanted in (("delivered_to", {"delivered"}), ("failed_at", {"failing", "dead"})):
        lists["lead"][name] = {
            pk for (model, pk), s in newest.items() if model == "lead" and s in wanted
        }
    lists["lead"]["not_sent_to"] = lead_ids - {pk for (m, pk) in newest if m == "lead"}
    person = dict(Lead.objects.values_list("pk", "contact_id"))

    def contacts(keys):
        return {pk if model == "contact" else person[pk] for model, pk in keys}

    lists["contact"]["delivered_to"] = contacts(ever)
    lists["contact"]["failed_at"] = contacts(
        k for k, s in newest.items() if s in ("failing", "dead")
    )
    all_contacts = set(Contact.objects.values_list("pk", flat=True))
    lists["contact"]["not_sent_to"] = all_contacts - contacts(newest)
    return lists


def test_the_filters_answer_as_the_deliveries_say(
    admin_client, make_contact, make_lead, aello, aloware
):
    chance = random.Random(18)
    contacts = [make_contact() for _ in range(12)]
    leads = [make_lead(contact=chance.choice(contacts)) for _ in range(25)]
    for _ in range(90):
        record = chance.choice(leads + contacts)
        push(
            record,
            chance.choice([aello, aloware]),
            chance.choice(STATES),
            attempts=chance.choice([0, 0, 1, 3]),
            error_code=chance.choice(["", "", "timeout"]),
        )
    # Some change afterwards, as workers and staff change them.
    for delivery in Delivery.objects.order_by("?")[:30]:
        delivery.state = chance.choice(STATES)
        delivery.save()
    assert_matches_deliveries()
    for account in (aello, aloware):
        expected = expected_lists(account)
        for model in ("lead", "contact"):
            url = reverse(f"admin:bridge_{model}_changelist")
            for name, ids in expected[model].items():
                response = admin_client.get(url, {name: account.pk, "all": ""})
                listed = {obj.pk for obj in response.context["cl"].result_list}
                assert listed == ids, (account.name, model, name)


# --- Two transactions writing one record's deliveries at once (PostgreSQL) -----------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time")
def test_two_transactions_on_one_key_take_turns_and_leave_it_right(make_lead, aello):
    """The first holds the key's row until it commits; the second then computes from a
    snapshot holding the first's change — no duplicate key, no stale state."""
    import threading

    from django.db import connections, transaction

    lead = make_lead()
    older = push(lead, aello, State.DELIVERED)
    newer = push(lead, aello, State.PENDING)
    first_wrote, errors = threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=newer.pk).update(state=State.DEAD, attempts=8)
                first_wrote.set()
                threading.Event().wait(0.5)  # the second waits for this commit meanwhile
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            first_wrote.set()
            connections.close_all()

    def second():
        try:
            first_wrote.wait(5)
            with transaction.atomic():
                Delivery.objects.filter(pk=older.pk).update(delivered_at=None)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert row(lead, aello).status == "dead"  # the first's change, kept by the second
    assert_matches_deliveries()

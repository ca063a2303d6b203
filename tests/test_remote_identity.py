"""A remote id is unique per account and kind of record: Leeloo gives a tag and a tunnel one id.

The sync (fake Leeloo over real HTTP), the outbox's link writing on each of its SQL paths
(row by row, the pipelined ``executemany`` and the one-statement ``jsonb_to_recordset`` on
PostgreSQL), and migration 0013 keeping the links it finds.
"""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from bridge import outbox, sync
from bridge.db import outcomes as db_outcomes
from bridge.models import Contact, Lead, Order, RemoteLink, Tag, Tunnel

pytestmark = pytest.mark.django_db(transaction=True)

#: The reference's "Tag #1" and "My tunnel" share this id (leeloo-api-v2-reference.txt).
SHARED_ID = "595f5d522a934035decc093d"


@pytest.fixture
def leeloo(fake_account):
    return fake_account("leeloo", requests_per_second=1000, concurrency=2)


def test_a_leeloo_tag_and_tunnel_with_the_same_id_both_mirror(leeloo, fakes):
    fake = fakes.fakes["leeloo"]
    assert fake.tags[SHARED_ID]["name"] == "Tag #1"
    assert fake.tunnels[SHARED_ID]["name"] == "My tunnel"
    for resource in ("tags", "tunnels"):
        run = sync.run_sync(leeloo, resource)
        assert run.status == "succeeded", run.error
        assert run.failed_count == 0, run.error
        assert run.linked_total == run.remote_total
    links = RemoteLink.objects.filter(account=leeloo, remote_id=SHARED_ID)
    by_kind = {link.content_type.model: link.object_id for link in links}
    assert Tag.objects.get(pk=by_kind["tag"]).name == "Tag #1"
    assert Tunnel.objects.get(pk=by_kind["tunnel"]).name == "My tunnel"
    # A second pass finds both by their own links: nothing new, nothing failed.
    again = sync.run_sync(leeloo, "tunnels")
    assert (again.created_count, again.failed_count) == (0, 0)
    assert RemoteLink.objects.filter(account=leeloo, remote_id=SHARED_ID).count() == 2


def test_the_database_refuses_one_id_twice_for_one_kind_only(make_account, make_contact):
    account = make_account("leeloo")
    contact, other = make_contact(), make_contact()
    tag = Tag.objects.create(name="t")
    types = ContentType.objects.get_for_models(Contact, Tag)
    RemoteLink.objects.create(
        account=account, content_type=types[Contact], object_id=contact.pk, remote_id="same"
    )
    RemoteLink.objects.create(
        account=account, content_type=types[Tag], object_id=tag.pk, remote_id="same"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RemoteLink.objects.create(
            account=account, content_type=types[Contact], object_id=other.pk, remote_id="same"
        )


def link_item(account, model, object_id, remote_id, first=True):
    return db_outcomes.Link(
        account.pk,
        ContentType.objects.get_for_model(model).pk,
        object_id,
        remote_id,
        "h",
        timezone.now(),
        first,
    )


def records(make_lead):
    """Two leads and an order (of the first lead's contact): two kinds of record."""
    lead, second = make_lead(), make_lead()
    order = Order.objects.create(contact=lead.contact, title="Order", price=10, currency="USD")
    return lead, second, order


@pytest.mark.parametrize(
    "path",
    [
        "one by one",  # a writer that is not threaded: one statement per link
        "together, known records",  # one statement per link, in one write
        "together, first links",  # PostgreSQL: one INSERT … FROM jsonb_to_recordset
    ],
)
def test_pushed_links_of_two_kinds_may_share_a_remote_id(
    path, make_lead, make_account, monkeypatch
):
    account = make_account("leeloo")
    lead, second, order = records(make_lead)
    first = path != "together, known records"
    one_statement = []
    real = db_outcomes.insert_first_links
    monkeypatch.setattr(
        db_outcomes, "insert_first_links", lambda links: one_statement.append(1) or real(links)
    )
    lead_link = link_item(account, Lead, lead.pk, "r-shared", first)
    order_link = link_item(account, Order, order.pk, "r-shared", first)
    if path == "one by one":
        linked = [*db_outcomes.upsert_links([lead_link]), *db_outcomes.upsert_links([order_link])]
    else:
        linked = db_outcomes.upsert_links([lead_link, order_link])
    assert linked == [True, True]
    expected_one_statement = path == "together, first links" and connection.vendor == "postgresql"
    assert bool(one_statement) == expected_one_statement
    kinds = RemoteLink.objects.filter(account=account, remote_id="r-shared")
    assert sorted(kinds.values_list("content_type__model", "object_id")) == [
        ("lead", lead.pk),
        ("order", order.pk),
    ]
    # Within one kind the first link still stands, on the same path.
    refused = link_item(account, Lead, second.pk, "r-shared", first)
    other = link_item(account, Order, order.pk, "r-order", False)
    answers = (
        db_outcomes.upsert_links([refused])
        if path == "one by one"
        else db_outcomes.upsert_links([refused, link_item(account, Lead, second.pk, "r-2", first)])
    )
    assert answers[0] is False
    assert db_outcomes.upsert_links([other]) == [True]  # a record's link may move to a new id
    assert not RemoteLink.objects.filter(remote_id="r-shared", object_id=second.pk).exists()


def test_a_drain_links_a_lead_and_an_order_to_one_remote_id(make_lead, make_account):
    """Through the writer a drain uses (threaded, batched), as deliveries are finished."""
    account = make_account("leeloo")
    lead, _, order = records(make_lead)
    outbox.enqueue(Lead, {account: [lead.pk]})
    outbox.enqueue(Order, {account: [order.pk]})
    deliveries = outbox.claim_due(account.pk, 2)
    assert len(deliveries) == 2
    writer = outbox.OutcomeWriter()
    try:
        futures = [
            writer.link(d, "same-person", "h", timezone.now(), first=True) for d in deliveries
        ]
        assert all(future.result(timeout=10) is not None for future in futures)
    finally:
        writer.close()
    assert RemoteLink.objects.filter(account=account, remote_id="same-person").count() == 2


def test_migration_0013_keeps_every_link_and_allows_one_id_per_kind(make_account, make_contact):
    account = make_account("leeloo")
    contact = make_contact()
    tag = Tag.objects.create(name="kept")
    types = ContentType.objects.get_for_models(Contact, Tag)
    before = ("bridge", "0012_remotelink_content_type_without_constraint")
    after = ("bridge", "0013_remotelink_identity_per_type")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("bridge")
    try:
        executor.migrate([before])
        old = MigrationExecutor(connection).loader.project_state([before]).apps
        OldLink = old.get_model("bridge", "RemoteLink")
        OldLink.objects.create(
            account_id=account.pk,
            content_type_id=types[Contact].pk,
            object_id=contact.pk,
            remote_id="p-1",
            pushed_hash="",
        )
        with pytest.raises(IntegrityError), transaction.atomic():  # the old identity
            OldLink.objects.create(
                account_id=account.pk,
                content_type_id=types[Tag].pk,
                object_id=tag.pk,
                remote_id="p-1",
                pushed_hash="",
            )
        MigrationExecutor(connection).migrate([after])
        new = MigrationExecutor(connection).loader.project_state([after]).apps
        NewLink = new.get_model("bridge", "RemoteLink")
        kept = NewLink.objects.get(account_id=account.pk, remote_id="p-1")
        assert (kept.content_type_id, kept.object_id) == (types[Contact].pk, contact.pk)
        NewLink.objects.create(
            account_id=account.pk,
            content_type_id=types[Tag].pk,
            object_id=tag.pk,
            remote_id="p-1",
            pushed_hash="",
        )
        assert NewLink.objects.filter(remote_id="p-1").count() == 2
    finally:
        MigrationExecutor(connection).migrate(latest)

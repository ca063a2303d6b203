"""A person's timeline: every kind of event, newest first, paged, from the rows that record them."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bridge import outbox
from bridge.models import (
    Activity,
    Contact,
    Delivery,
    Lead,
    Order,
    ProviderAccount,
    RemoteLink,
    Tag,
    TagChange,
)
from bridge.timeline import contact_timeline, lead_timeline


def at(minutes_ago: int):
    return timezone.now() - timedelta(minutes=minutes_ago)


@pytest.fixture
def story(make_contact, make_lead, make_account):
    """A contact with two leads and one event of every kind, at known times."""
    contact = make_contact(first_name="Ann", last_name="Story")
    account = make_account("leeloo", name="leeloo-main")
    first = make_lead(contact=contact, received_at=at(100), product_title="Midlum", source="web")
    second = make_lead(contact=contact, received_at=at(50), product_title="Master", source="ads")
    lead_type = ContentType.objects.get_for_model(Lead)
    contact_type = ContentType.objects.get_for_model(Contact)
    Delivery.objects.create(
        account=account,
        content_type=lead_type,
        object_id=first.pk,
        state=Delivery.State.DEAD,
        attempts=1,
        last_http_status=422,
        error_code="ERR-DEALERSHIP",
        error_message="Dealership not found",
    )
    Delivery.objects.filter(object_id=first.pk).update(updated_at=at(90))
    delivered = Delivery.objects.create(
        account=account,
        content_type=contact_type,
        object_id=contact.pk,
        state=Delivery.State.DELIVERED,
        attempts=1,
        last_http_status=201,
        remote_id="P-77",
        delivered_at=at(80),
    )
    link = RemoteLink.objects.create(
        account=account, content_type=contact_type, object_id=contact.pk, remote_id="P-77"
    )
    RemoteLink.objects.filter(pk=link.pk).update(created_at=at(79), last_pulled_at=at(10))
    Order.objects.create(
        contact=contact, title="Course", price=100, currency="USD", remote_created_at=at(40)
    )
    Activity.objects.create(
        kind=Activity.Kind.CALL,
        account=account,
        contact=contact,
        lead=second,
        occurred_at=at(30),
        summary="Call answered, 2 min: interested",
    )
    Activity.objects.create(
        kind=Activity.Kind.MESSAGE,
        account=account,
        contact=contact,
        occurred_at=at(20),
        summary="Incoming message: is it available?",
    )
    return {"contact": contact, "first": first, "second": second, "delivered": delivered}


def test_the_contacts_timeline_holds_every_kind_newest_first(story):
    page = contact_timeline(story["contact"])
    assert [(e.kind, e.title) for e in page.entries] == [
        ("sync", "Read from leeloo-main by a sync"),
        ("message", "Message at leeloo-main"),
        ("call", "Call at leeloo-main"),
        ("order", "Order: Course"),
        ("lead", "Lead received"),
        ("link", "Linked to leeloo-main"),
        ("push", "Push → leeloo-main"),
        ("push", "Push → leeloo-main"),
        ("lead", "Lead received"),
    ]
    times = [e.at for e in page.entries]
    assert times == sorted(times, reverse=True)
    dead = page.entries[7]
    assert dead.state == "dead"
    assert dead.detail == "Dead · HTTP 422 · ERR-DEALERSHIP Dealership not found"
    assert page.entries[6].detail == "Delivered · HTTP 201 · remote id P-77"
    assert page.entries[4].detail == "Master, ref 10864675 · from ads"
    assert page.entries[3].detail == "100.00 USD · Opened"
    assert not page.has_next and not page.has_previous


def test_a_leads_timeline_is_its_own_story(story):
    second = lead_timeline(story["second"])
    assert [e.kind for e in second.entries] == ["call", "lead"]
    first = lead_timeline(story["first"])
    assert [(e.kind, e.state) for e in first.entries] == [("push", "dead"), ("lead", "")]


def test_tags_added_and_removed_take_their_place_in_the_contacts_story(story, make_account):
    contact, vip = story["contact"], Tag.objects.create(name="VIP")
    contact.tags.add(vip)
    contact.tags.remove(vip)
    leeloo = ProviderAccount.objects.get(name="leeloo-main")
    TagChange.objects.filter(action="added").update(at=at(60), source="sync", account=leeloo)
    TagChange.objects.filter(action="removed").update(at=at(35))
    entries = contact_timeline(story["contact"]).entries
    assert [(e.kind, e.title, e.detail) for e in entries if e.kind == "tag"] == [
        ("tag", "Tag removed: VIP", "by the bridge"),
        ("tag", "Tag added: VIP", "by a sync of leeloo-main"),
    ]
    kinds = [e.kind for e in entries]
    assert kinds.index("tag") == kinds.index("order") - 1  # 35 min ago: newer than the order
    times = [e.at for e in entries]
    assert times == sorted(times, reverse=True)
    # A tag belongs to the person: the leads' own timelines do not show it.
    assert "tag" not in {e.kind for e in lead_timeline(story["second"]).entries}


def test_pages_follow_each_other_without_gaps_or_repeats(story):
    whole = contact_timeline(story["contact"], size=100).entries
    pages = [contact_timeline(story["contact"], page=n, size=4) for n in (1, 2, 3)]
    assert [p.has_next for p in pages] == [True, True, False]
    assert [e for p in pages for e in p.entries] == whole
    assert contact_timeline(story["contact"], page=4, size=4).entries == []


@pytest.mark.django_db(transaction=True)  # the outbox's sending threads read committed rows
def test_a_real_push_shows_with_the_providers_answer(make_lead, fake_account):
    account = fake_account("aello", name="aello-dealership")
    lead = make_lead()
    outbox.enqueue(Lead, {account: [lead.pk]})
    outbox.run_until_settled([account.pk], timeout=30)
    push = next(e for e in lead_timeline(lead).entries if e.kind == "push")
    assert push.title == "Push → aello-dealership"
    assert push.state == "delivered"
    assert push.detail.startswith("Delivered · HTTP 202 · remote id ")
    assert push.url == reverse(
        "admin:bridge_delivery_change", args=[Delivery.objects.get(object_id=lead.pk).pk]
    )


def test_the_contact_page_shows_the_timeline_in_a_fixed_number_of_queries(
    story, admin_client, make_lead
):
    contact = story["contact"]
    url = reverse("admin:bridge_contact_change", args=[contact.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="timeline"' in page
    assert "Dealership not found" in page and "Call answered, 2 min" in page
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for minutes in range(30):
        make_lead(contact=contact, received_at=at(200 + minutes))
        tag = Tag.objects.create(name=f"Tag {minutes}")
        contact.tags.add(tag)  # history grows; the tags inline stays as it was
        contact.tags.remove(tag)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)
    assert len(many) == len(few)
    assert "Older ›" in response.content.decode()
    older = admin_client.get(url, {"timeline": "2"}).content.decode()
    assert "‹ Newer" in older and "Page 2" in older


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "99999999999", ""])
def test_a_bad_page_number_shows_the_first_page(story, admin_client, raw):
    url = reverse("admin:bridge_lead_change", args=[story["first"].pk])
    response = admin_client.get(url, {"timeline": raw})
    assert response.status_code == 200
    assert "Page 1" in response.content.decode()


def test_a_person_with_no_history_says_so(make_contact, admin_client):
    contact = make_contact()
    response = admin_client.get(reverse("admin:bridge_contact_change", args=[contact.pk]))
    assert "Nothing has happened yet" in response.content.decode()


def test_the_add_page_has_no_timeline(admin_client):
    response = admin_client.get(reverse("admin:bridge_contact_add"))
    assert response.status_code == 200
    assert 'id="timeline"' not in response.content.decode()

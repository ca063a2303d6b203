"""A person's story in one list, newest first: what the contact and lead pages show as "Timeline".

Each kind of event is read from the rows that already record it — nothing is written for the
timeline: leads received (``Lead.received_at``), pushes and their outcome per account
(``Delivery``, with the provider's answer), remote ids linked and the last time a sync read
the person (``RemoteLink``), orders (``Order``), tags added and removed, and by what
(``TagChange``), and what the services told by webhook: calls, messages, order events,
subscriptions (``Activity``).

A page is read the same way at any table size: each source gives at most ``page × size`` of
its newest rows for this person through an index that starts with the person (the contact's
foreign key, or a record's content type and id), the rows are merged by time, and the page is
cut from the merge. A person's history is short; a page never scans other people's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from heapq import merge
from itertools import islice

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.urls import reverse

from bridge.models import Activity, Contact, Delivery, Lead, Order, RemoteLink, TagChange

#: Entries on one page of a timeline.
PAGE_SIZE = 25


@dataclass(frozen=True)
class Entry:
    """One line of a timeline: when, what kind, a title and a detail line for a person."""

    at: datetime
    kind: str  # lead, push, link, sync, order, tag, call, message, subscription
    title: str
    detail: str = ""
    url: str = ""
    state: str = ""  # a delivery's state (delivered, failed, dead…), for its badge


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry] = field(default_factory=list)
    number: int = 1
    has_next: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def contact_timeline(contact: Contact, page: int = 1, size: int = PAGE_SIZE) -> TimelinePage:
    """The contact's whole story: its leads, and what happened to it and to them."""
    leads = Lead.objects.filter(contact=contact)
    # The ids as a list, not a subquery: with ``IN (SELECT …)`` beside the contact's own
    # condition PostgreSQL scanned every delivery (~200 ms at a million leads); with the ids
    # it reads delivery_record_idx for each (docs/benchmarks.md).
    lead_ids = list(leads.values_list("pk", flat=True))
    records = _records(Contact, [contact.pk]) | _records(Lead, lead_ids)
    sources = [
        lambda n: _lead_entries(leads.order_by("-received_at", "-pk")[:n]),
        lambda n: _delivery_entries(records, n),
        lambda n: _link_entries(records, n),
        lambda n: _order_entries(contact, n),
        lambda n: _tag_entries(contact, n),
        lambda n: _activity_entries(Activity.objects.filter(contact=contact), n),
    ]
    return _page(sources, page, size)


def lead_timeline(lead: Lead, page: int = 1, size: int = PAGE_SIZE) -> TimelinePage:
    """The lead's own story: received, pushed, linked, and the calls and messages about it."""
    records = _records(Lead, [lead.pk])
    sources = [
        lambda n: _lead_entries([lead]),
        lambda n: _delivery_entries(records, n),
        lambda n: _link_entries(records, n),
        lambda n: _activity_entries(Activity.objects.filter(lead=lead), n),
    ]
    return _page(sources, page, size)


def _page(sources, page: int, size: int) -> TimelinePage:
    """Page ``page`` of the sources merged newest first (each read up to the page's end)."""
    page = max(1, page)
    wanted = page * size + 1  # one more tells whether a next page exists
    lists = [sorted(source(wanted), key=_newest_first) for source in sources]
    merged = list(islice(merge(*lists, key=_newest_first), wanted))
    return TimelinePage(
        entries=merged[(page - 1) * size : page * size],
        number=page,
        has_next=len(merged) > page * size,
    )


def _newest_first(entry: Entry):
    return -entry.at.timestamp()


def _records(model, ids) -> Q:
    """Rows (deliveries, links) about records of ``model`` whose ids are ``ids``."""
    return Q(content_type=ContentType.objects.get_for_model(model), object_id__in=ids)


def _lead_entries(leads) -> list[Entry]:
    entries = []
    for lead in leads:
        reference = f"ref {lead.product_reference}" if lead.product_reference else ""
        product = ", ".join(p for p in (lead.product_title, reference) if p)
        detail = " · ".join(p for p in (product, f"from {lead.source}" if lead.source else "") if p)
        entries.append(
            Entry(
                at=lead.received_at,
                kind="lead",
                title="Lead received",
                detail=detail,
                url=reverse("admin:bridge_lead_change", args=[lead.pk]),
            )
        )
    return entries


def _delivery_entries(records: Q, limit: int) -> list[Entry]:
    deliveries = (
        Delivery.objects.filter(records)
        .select_related("account")
        .annotate(happened=Coalesce("delivered_at", "updated_at"))
        .order_by("-happened", "-pk")[:limit]
    )
    return [
        Entry(
            at=delivery.happened,
            kind="push",
            title=("Test: " if delivery.is_test else "")
            + f"{delivery.operation.replace('_', ' ').capitalize()} → {delivery.account.name}",
            detail=_provider_answer(delivery),
            url=reverse("admin:bridge_delivery_change", args=[delivery.pk]),
            state=delivery.state,
        )
        for delivery in deliveries
    ]


def _provider_answer(delivery: Delivery) -> str:
    """What the provider said, in a line: status, remote id or its error; or what waits."""
    parts = [delivery.get_state_display()]
    if delivery.last_http_status:
        parts.append(f"HTTP {delivery.last_http_status}")
    if delivery.remote_id:
        parts.append(f"remote id {delivery.remote_id}")
    error = " ".join(p for p in (delivery.error_code, delivery.error_message) if p)
    if error:
        parts.append(error[:200])
    if delivery.attempts > 1:
        parts.append(f"{delivery.attempts} attempts")
    return " · ".join(parts)


def _link_entries(records: Q, limit: int) -> list[Entry]:
    links = RemoteLink.objects.filter(records).select_related("account")
    entries = []
    for link in links.order_by("-created_at", "-pk")[:limit]:
        entries.append(
            Entry(
                at=link.created_at,
                kind="link",
                title=f"Linked to {link.account.name}",
                detail=f"remote id {link.remote_id}",
            )
        )
    pulled = links.filter(last_pulled_at__isnull=False).order_by("-last_pulled_at", "-pk")
    for link in pulled[:limit]:
        entries.append(
            Entry(
                at=link.last_pulled_at,
                kind="sync",
                title=f"Read from {link.account.name} by a sync",
                # A person unchanged since is not read again (bridge.sync.fingerprints).
                detail=f"remote id {link.remote_id} (the latest read that compared it; "
                "any since found it unchanged)",
            )
        )
    return entries


def _order_entries(contact: Contact, limit: int) -> list[Entry]:
    orders = (
        Order.objects.filter(contact=contact)
        .annotate(placed=Coalesce("remote_created_at", "created_at"))
        .order_by("-placed", "-pk")[:limit]
    )
    return [
        Entry(
            at=order.placed,
            kind="order",
            title=f"Order: {order.title}",
            detail=" · ".join(
                p
                for p in (
                    f"{order.price} {order.currency}" if order.price is not None else "",
                    order.get_status_display() if order.status else "",
                )
                if p
            ),
            url=reverse("admin:bridge_order_change", args=[order.pk]),
        )
        for order in orders
    ]


def _tag_entries(contact: Contact, limit: int) -> list[Entry]:
    """Tags added and removed, newest first (``tagchange_contact_idx``)."""
    changes = (
        TagChange.objects.filter(contact=contact)
        .select_related("account", "user")
        .order_by("-at", "-pk")[:limit]
    )
    return [
        Entry(
            at=change.at,
            kind="tag",
            title=f"Tag {change.action}: {change.tag_name}",
            detail=_changed_by(change),
        )
        for change in changes
    ]


def _changed_by(change: TagChange) -> str:
    """ "by a sync of leeloo-main", "by staff (alice)", "by a merge"…"""
    by = f"by {change.get_source_display()}"
    if change.account is not None:
        by += f" of {change.account.name}"
    if change.user is not None:
        by += f" ({change.user.get_username()})"
    return by


def _activity_entries(activities, limit: int) -> list[Entry]:
    rows = activities.select_related("account").order_by("-occurred_at", "-pk")[:limit]
    return [
        Entry(
            at=activity.occurred_at,
            kind=activity.kind,
            title=f"{activity.get_kind_display()} at {activity.account.name}",
            detail=activity.summary,
        )
        for activity in rows
    ]

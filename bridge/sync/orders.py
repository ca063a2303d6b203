"""Leeloo orders into Order rows, linked to their person's contact; details when they moved."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from bridge.models import Order
from integrations.errors import PermanentError

from . import paging
from .context import Context
from .upsert import Links, changes, fit, person_contacts, unique_by_remote_id, write


def pull_orders(ctx: Context) -> None:
    """Every order (the list has no filter), linked to its person's contact."""
    paging.read_resource(ctx, upsert_orders)


def order_values(order: dict, contact_id: int | None, detailed: bool, new: bool) -> dict:
    """The provider-owned Order fields; local ones (offer, payment system, comments…) stay.

    An order whose person the bridge does not know yet keeps its contact until it does.
    """
    values = {
        "title": order["title"],
        "remote_created_at": order["remote_created_at"],
        "remote_updated_at": order["remote_updated_at"],
    }
    if order["price"] is not None:
        values["price"] = order["price"].quantize(Decimal("0.01"))
    elif new:
        values["price"] = Decimal("0.00")
    currency = order["currency"].upper()
    if len(currency) == 3 and currency.isalpha():
        values["currency"] = currency
    if order["status"]:
        values["status"] = order["status"].upper()
    if contact_id:
        values["contact_id"] = contact_id
    if detailed:
        values["description"] = order["description"]
        values["payment_method"] = order["payment_method"].upper()
    return fit(Order, values)


def upsert_orders(ctx: Context, orders: list[dict]) -> None:
    """One page of orders into Order rows, by their RemoteLink; new or changed ones' details.

    The list lacks the description and payment method, so the detail is read for an order that
    is new, whose ``updatedAt`` moved since the last pull, or on a full run.
    """
    orders = unique_by_remote_id(ctx, orders)
    links = Links(ctx, Order, [o["remote_id"] for o in orders])
    existing = Order.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    contacts = person_contacts(ctx.account, [o["person_id"] for o in orders])
    created, updated, fields = [], [], set()
    for order in orders:
        remote_id = order["remote_id"]
        link = links.by_remote.get(remote_id)
        obj = existing.get(link.object_id) if link else None
        detailed = _order_detail(ctx, order, link, obj)
        if detailed is None:
            continue
        values = order_values(order, contacts.get(order["person_id"]), detailed, obj is None)
        if obj is None:
            obj = Order(**values)
            created.append(obj)
        elif changed := changes(obj, values):
            for name in changed:
                setattr(obj, name, values[name])
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
        links.pulled(remote_id, obj, order["remote_updated_at"])
    with transaction.atomic(savepoint=False):  # inside the page's (see paging.read_pages)
        write(Order, created, updated, fields)
        links.save()
    ctx.count(created=len(created), updated=len(updated))


def _order_detail(ctx: Context, order: dict, link, obj) -> bool | None:
    """Read the order's detail when needed; True when read, None when the order is gone."""
    if not ctx.details:
        return False
    fresh = link is not None and obj is not None and link.remote_updated_at is not None
    if fresh and not ctx.run.full and link.remote_updated_at == order["remote_updated_at"]:
        return False
    try:
        detail = ctx.read_detail(order["remote_id"])
    except PermanentError as error:
        ctx.fail(order["remote_id"], f"its detail could not be read: {error}")
        return None
    for name in ("description", "payment_method", "price", "currency", "status"):
        if detail[name] not in ("", None):
            order[name] = detail[name]
    return True

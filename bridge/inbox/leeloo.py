"""Leeloo's webhooks into the mirror: orders and sales, subscriptions, incoming messages.

The person is found by the event's communication channel (``account_id``, mirrored by the
channels sync), then by the matching rule (person id link, phone, email). An order is upserted
by its Leeloo id (the same RemoteLink the orders sync keeps), so a webhook and a later pull
agree on one row.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.utils import timezone

from bridge.models import Channel, Contact, Order, RemoteLink, Tunnel

from .people import (
    Applying,
    NotYet,
    Unmatched,
    describe,
    find_or_create_person,
    linked_record,
    record_activity,
)

#: An order's status never moves back: a SALE that arrived before its ORDER stays paid.
STATUS_RANK = {"OPENED": 0, "ORDER": 1, "PENDING": 2, "SUCCESS": 3}


def person(ctx: Applying) -> Contact:
    """The contact of the event's person: channel, then the matching rule, else created."""
    who = ctx.data["person"]
    if who["channel_id"]:
        contact_id = (
            Channel.objects.filter(account=ctx.account, remote_id=who["channel_id"])
            .values_list("contact_id", flat=True)
            .first()
        )
        if contact_id:
            return Contact.objects.get(pk=contact_id)
    if not who["phone"] and not who["email"] and who["channel_id"] and not ctx.last_attempt:
        raise NotYet(
            f"Channel {who['channel_id']} is not synced yet and the event has no phone or email."
        )
    first, _, last = who["name"].partition(" ")
    return find_or_create_person(
        ctx,
        phone=who["phone"],
        email=who["email"],
        remote_id=who["person_id"],
        first_name=first,
        last_name=last,
    )


def order_status(data: dict, current: str = "") -> str:
    """SALE → paid, ORDER → order; never lower than what the order already is."""
    wanted = "SUCCESS" if data["paid"] else "ORDER"
    if current and STATUS_RANK.get(current, 99) >= STATUS_RANK[wanted]:
        return current
    return wanted


def upsert_order(ctx: Applying, contact: Contact) -> tuple[Order, bool]:
    """The order of the event, created or updated by its Leeloo id; (order, created)."""
    data = ctx.data
    order = linked_record(ctx, Order, data["order_id"])
    created = order is None
    if created:
        order = Order(title=data["offer_name"] or f"Leeloo order {data['order_id']}")
    elif data["offer_name"]:
        order.title = data["offer_name"]
    order.contact = order.contact or contact
    if data["price"] is not None:
        order.price = data["price"].quantize(Decimal("0.01"))
    if data["currency"]:
        order.currency = data["currency"]
    order.status = order_status(data, "" if created else order.status)
    if data["payment_method_id"]:
        order.payment_credits_id = data["payment_method_id"]
    order.remote_created_at = order.remote_created_at or data["created_at"]
    if data["paid"]:
        order.payment_date = order.payment_date or data["created_at"] or ctx.event.received_at
    try:
        order.full_clean(exclude=["contact"])
    except ValidationError as error:
        raise Unmatched(f"The order cannot be stored: {describe(error)}") from None
    order.save()
    if created:
        RemoteLink.objects.create(
            account=ctx.account,
            content_type=ContentType.objects.get_for_model(Order),
            object_id=order.pk,
            remote_id=data["order_id"],
            last_pulled_at=timezone.now(),
        )
    return order, created


def apply_order(ctx: Applying) -> None:
    """ORDER or SALE: the order upserted, linked to the buyer, and an order activity."""
    data = ctx.data
    if not data["order_id"]:
        raise Unmatched("data.order_id is missing: the order cannot be upserted.")
    contact = person(ctx)
    order, created = upsert_order(ctx, contact)
    word = "Sale" if data["paid"] else "Order"
    record_activity(
        ctx,
        "order",
        order.contact or contact,
        summary=f"{word}: {order.title} — {order.price} {order.currency}",
        occurred_at=data["created_at"],
        remote_id=data["order_id"],
        details={
            "type": data["type"],
            "order_id": data["order_id"],
            "order": order.pk,
            "created": created,
            "offer_name": data["offer_name"],
            "price": data["price"],
            "currency": data["currency"],
            "payment_method": data["payment_method_id"],
        },
    )


def history_entry(ctx: Applying, tunnel: Tunnel | None) -> dict:
    """A subscribe-history entry in the shape Leeloo's person card uses."""
    data = ctx.data
    return {
        "tunnelName": data["tunnel_name"] or (tunnel.name if tunnel else ""),
        "leadgentoolName": data["leadgentool_name"] or tool_name(tunnel, data["leadgentool_id"]),
        "trafficSource": data["traffic_source"],
        "tunnelId": data["tunnel_id"],
        "leadgentoolId": data["leadgentool_id"],
        "trafficSourceId": data["traffic_source_id"],
        "accountId": data["person"]["channel_id"],
    }


def tool_name(tunnel: Tunnel | None, tool_id: str) -> str:
    """The name of a tunnel's lead-generation tool, as the tunnels sync mirrored it."""
    for tool in (tunnel.leadgen_tools if tunnel else None) or []:
        if isinstance(tool, dict) and tool.get("remote_id") == tool_id:
            return str(tool.get("name") or "")
    return ""


def apply_subscription(ctx: Applying) -> None:
    """SUBSCRIPTION: the tool added to the contact's subscribe history, and an activity."""
    data = ctx.data
    contact = person(ctx)
    tunnel = linked_record(ctx, Tunnel, data["tunnel_id"])
    entry = history_entry(ctx, tunnel)
    history = list(contact.subscribe_history or [])
    key = (entry["tunnelId"], entry["leadgentoolId"], entry["accountId"])
    if not any(
        isinstance(item, dict)
        and (item.get("tunnelId"), item.get("leadgentoolId"), item.get("accountId")) == key
        for item in history
    ):
        history.append(entry)
        contact.subscribe_history = history
        contact.save(update_fields=["subscribe_history", "updated_at"])
    tool = entry["leadgentoolName"] or data["leadgentool_id"] or "a lead-generation tool"
    where = entry["tunnelName"] or data["tunnel_id"]
    record_activity(
        ctx,
        "subscription",
        contact,
        summary=f"Subscribed to {tool}" + (f" ({where})" if where else ""),
        occurred_at=data["created_at"],
        remote_id=data["leadgentool_id"],
        details={**entry, "tunnel": tunnel.pk if tunnel else None},
    )


def apply_message(ctx: Applying) -> None:
    """INCOMING MESSAGE: a message activity; the contact's (and channel's) last message time."""
    data = ctx.data
    contact = person(ctx)
    at = data["created_at"] or ctx.event.received_at
    if contact.last_message_at is None or contact.last_message_at < at:
        contact.last_message_at = at
        contact.save(update_fields=["last_message_at", "updated_at"])
    channel_id = data["person"]["channel_id"]
    if channel_id:
        Channel.objects.filter(account=ctx.account, remote_id=channel_id).exclude(
            last_message_at__gte=at
        ).update(last_message_at=at)
    text = data["text"] or "(no text)"
    record_activity(
        ctx,
        "message",
        contact,
        summary=f"Message: {text}"[:255],
        occurred_at=at,
        remote_id=data["message_id"],
        details={"text": data["text"], "source": data["source"], "channel_id": channel_id},
    )


APPLIERS = {"order": apply_order, "subscription": apply_subscription, "message": apply_message}

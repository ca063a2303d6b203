"""Leeloo's webhooks: ``{"type": "<EVENT>", "data": {...}}``, one request per event.

ORDER and SALE bodies are documented by the vendor; SUBSCRIPTION and INCOMING MESSAGE bodies
are shown on the same page but not verified (``provider-docs/inbound-events.md``), so their
fields are read under the names the rest of the API uses for the same things (snake_case as
in ORDER, or camelCase as in a person's ``subscribeHistory``), and the incoming-message type
is recognised under the spellings it may take. No event id exists: ORDER and SALE dedupe on
(type, ``order_id``); the others on their natural ids when present, else the body's hash.
"""

from __future__ import annotations

from typing import Any

from ..events import Event, EventReader, WebhookSetup, require_object, text, timestamp
from .wire import parse_decimal

#: Leeloo's type (upper-cased, spaces and dashes read as "_") → the bridge's kind.
KIND_BY_TYPE = {
    "ORDER": "order",
    "SALE": "order",
    "SUBSCRIPTION": "subscription",
    "INCOMING_MESSAGE": "message",
    "INCOMINGMESSAGE": "message",
    "NEW_MESSAGE": "message",
    "MESSAGE": "message",
}


def first(data: dict, *names: str, limit: int = 1000) -> str:
    """The first of ``names`` present in ``data``, as text (snake_case or camelCase)."""
    for name in names:
        value = text(data.get(name), limit)
        if value:
            return value
    return ""


def read_person(data: dict) -> dict:
    """Who the event is about: the channel (``account_id``), person id, phone and email."""
    return {
        "channel_id": first(data, "account_id", "accountId", limit=64),
        "person_id": first(data, "person_id", "personId", limit=64),
        "phone": first(data, "phone", "phone_number", limit=32),
        "email": first(data, "email", limit=254),
        "name": first(data, "name", "full_name", "fullName", limit=300),
    }


def read_order(event_type: str, data: dict) -> dict:
    """ORDER / SALE: the order id, offer, price, currency, payment method id and time."""
    return {
        "order_id": first(data, "order_id", "orderId", limit=64),
        "offer_name": first(data, "offer_name", "offerName", limit=255),
        "price": parse_decimal(data.get("price")),
        "currency": first(data, "currency", limit=8).upper(),
        "payment_method_id": first(data, "payment_method", "paymentMethod", limit=64),
        "paid": event_type == "SALE",
        "created_at": timestamp(data.get("created_at") or data.get("createdAt")),
    }


def read_subscription(data: dict) -> dict:
    """SUBSCRIPTION (unverified body): the tunnel, its lead-generation tool, the time."""
    return {
        "tunnel_id": first(data, "tunnel_id", "tunnelId", limit=64),
        "tunnel_name": first(data, "tunnel_name", "tunnelName", limit=200),
        "leadgentool_id": first(data, "leadgentool_id", "leadgentoolId", limit=64),
        "leadgentool_name": first(data, "leadgentool_name", "leadgentoolName", limit=200),
        "traffic_source_id": first(data, "traffic_source_id", "trafficSourceId", limit=64),
        "traffic_source": first(data, "traffic_source", "trafficSource", limit=200),
        "created_at": timestamp(data.get("created_at") or data.get("createdAt")),
    }


def read_message(data: dict) -> dict:
    """INCOMING MESSAGE (unverified body): the message id, its text and time."""
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    return {
        "message_id": first(data, "message_id", "messageId", "id", limit=64)
        or first(message, "id", limit=64),
        "text": first(data, "text", "message", "body", limit=10_000)
        or first(message, "text", "body", limit=10_000),
        "source": first(data, "source", "channel", limit=50),
        "created_at": timestamp(
            data.get("created_at") or data.get("createdAt") or message.get("createdAt")
        ),
    }


def dedup_key(event_type: str, kind: str, data: dict, body: dict) -> str:
    """(type, order id) for orders; the natural ids of the others; "" to use the body hash."""
    if kind == "order" and data["order_id"]:
        return f"{event_type}:{data['order_id']}"
    if kind == "message" and data["message_id"]:
        return f"MESSAGE:{data['message_id']}"
    if kind == "subscription" and data["leadgentool_id"] and data["created_at"]:
        person = data["person"]["channel_id"] or data["person"]["person_id"]
        return f"SUBSCRIPTION:{person}:{data['leadgentool_id']}:{data['created_at'].isoformat()}"
    return ""


class LeelooEvents(EventReader):
    """ORDER, SALE, SUBSCRIPTION and INCOMING MESSAGE, all sent to the one webhook URL."""

    setup = WebhookSetup(
        steps=(
            "In Leeloo.ai, open Settings → Leeloo API.",
            "Tick “Webhook enabled” and paste the URL above as the Webhook URL.",
            "Tick the events: Order, Sale, Subscription and Incoming Message, then save.",
        ),
        mapped=(
            "ORDER and SALE upsert the order by its Leeloo id, linked to the buyer's contact "
            "(channel, then phone, then email); a SALE marks it paid.",
            "SUBSCRIPTION adds the funnel's lead-generation tool to the contact's subscribe "
            "history and a subscription activity.",
            "INCOMING MESSAGE adds a message activity and moves the contact's last message time.",
        ),
    )

    def read(self, body: Any) -> Event:
        envelope = require_object(body)
        raw_type = text(envelope.get("type"), 64)
        event_type = "_".join(raw_type.upper().replace("-", " ").split())
        kind = KIND_BY_TYPE.get(event_type, "")
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        if not kind:
            return Event(raw_type, "", "", {})
        if kind == "order":
            parsed = read_order(event_type, data)
        elif kind == "subscription":
            parsed = read_subscription(data)
        else:
            parsed = read_message(data)
        parsed["person"] = read_person(data)
        parsed["type"] = event_type
        return Event(raw_type, kind, dedup_key(event_type, kind, parsed, envelope), parsed)

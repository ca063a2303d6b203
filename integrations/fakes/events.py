"""Event bodies the fake providers send to a bridge's receiver (``/_control/emit``).

Each body is the documented shape (``provider-docs/inbound-events.md``) with composed values;
``fields`` given by the caller replace or add to them. A fake that sends events builds its own
(``FakeProvider.event_body``: Aiployees, Aloware); Leeloo's are built here, beside its fake.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any


def now_iso() -> str:
    """Now, as Leeloo and Autocalls write it: ISO 8601 UTC with milliseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def object_id() -> str:
    """A Leeloo-style id: 24 hex digits."""
    return secrets.token_hex(12)


#: Leeloo's event types as the fake sends them, and the data each starts from.
LEELOO_TYPES = ("ORDER", "SALE", "SUBSCRIPTION", "INCOMING_MESSAGE")


def leeloo_body(event_type: str, fields: dict) -> dict:
    """``{"type", "data"}`` for ORDER, SALE, SUBSCRIPTION or INCOMING_MESSAGE."""
    kind = event_type.upper().replace(" ", "_")
    if kind not in LEELOO_TYPES:
        raise ValueError(f"Leeloo sends {', '.join(LEELOO_TYPES)}, not {event_type!r}.")
    person = {
        "account_id": object_id(),
        "email": "jane@example.com",
        "phone": "+352621123456",
        "created_at": now_iso(),
    }
    if kind in ("ORDER", "SALE"):
        data = {
            "order_id": object_id(),
            **person,
            "offer_name": "Test drive deposit",
            "price": 500,
            "currency": "EUR",
        }
        if kind == "SALE":
            data["payment_method"] = object_id()
    elif kind == "SUBSCRIPTION":
        data = {
            **person,
            "tunnel_id": object_id(),
            "tunnel_name": "Spring sale",
            "leadgentool_id": object_id(),
            "leadgentool_name": "Landing form",
        }
    else:
        data = {**person, "message_id": object_id(), "text": "Is the truck still available?"}
    return {"type": kind, "data": {**data, **fields}}


def event_body(fake: Any, event_type: str, fields: dict) -> Any:
    """The body ``fake`` sends for ``event_type``: its own builder, else the ones here."""
    if fake.id == "leeloo":
        return leeloo_body(event_type, fields)
    return fake.event_body(event_type, fields)

"""What a provider's webhook body means, as plain data: the events seam.

A provider that calls the bridge back declares an :class:`EventReader` as its class attribute
``Provider.events`` (``None`` for one that sends nothing, like Aéllo). The reader turns one
decoded JSON body into an :class:`Event`: the provider's own name for it, what kind of thing
happened (``KINDS``, or ``""`` when the bridge does nothing with it), the key that makes a
repeated delivery recognisable, and the fields the bridge reads, as plain values.

Like anymail's ``webhooks/<esp>.py``, parsing belongs to the provider's module; storing the
request, deduplicating and writing the mirror are the bridge's (``bridge/inbox/``). Nothing
here imports Django. Where the vendor's document is silent (see
``provider-docs/inbound-events.md``), each reader says which reading it assumes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

#: What the bridge does something with. "order": an order or sale; "subscription": a person
#: subscribed to a funnel's lead-generation tool; "message": a person wrote; "contact": a
#: contact's fields changed; "call": a call or SMS ended with a disposition; "post_call": an
#: AI call's result for a pushed lead.
KINDS = ("order", "subscription", "message", "contact", "call", "post_call")


class EventShapeError(ValueError):
    """The body is JSON but not the shape the provider sends (a list, a bare string…)."""


@dataclass(frozen=True)
class Event:
    """One webhook body read: type as the provider names it, kind, dedup key, plain data.

    ``kind`` is ``""`` for a type the bridge does not map (it is stored and marked ignored);
    ``dedup_key`` is ``""`` when the provider gives no natural key (the bridge then uses a
    hash of the body).
    """

    type: str
    kind: str = ""
    dedup_key: str = ""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookSetup:
    """What staff need to point the provider at the bridge: where to paste the URL, what
    authentication the provider can add, and what the bridge maps (for the account page)."""

    steps: tuple[str, ...]
    mapped: tuple[str, ...]
    #: Authentication styles the provider can send with each request ("basic", "bearer").
    auth_styles: tuple[str, ...] = ()


class EventReader:
    """Base of a provider's webhook reader: subclasses implement :meth:`read`."""

    setup: ClassVar[WebhookSetup] = WebhookSetup(steps=(), mapped=())

    def read(self, body: Any) -> Event:
        """The event a decoded JSON body carries; EventShapeError when it is not an event."""
        raise NotImplementedError


# --- helpers the readers share ------------------------------------------------------------


def require_object(body: Any, what: str = "the body") -> dict:
    """``body`` when it is a JSON object, else EventShapeError naming what it is."""
    if not isinstance(body, dict):
        raise EventShapeError(f"{what} must be a JSON object, not {type_name(body)}.")
    return body


def type_name(value: Any) -> str:
    """JSON's name for a decoded value's type, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def text(value: Any, limit: int = 1000) -> str:
    """A scalar as stripped text (numbers too), cut to ``limit``; "" for None or objects."""
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()[:limit]


def number(value: Any) -> float | None:
    """A number from a number or numeric text; None otherwise (never NaN or infinity)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(str(value).strip())
    except ValueError:
        return None
    return result if result == result and abs(result) != float("inf") else None


def integer(value: Any) -> int | None:
    """A whole number (seconds, ids) or None, bounded so no column overflows."""
    result = number(value)
    if result is None or abs(result) > 2**31:
        return None
    return int(result)


def timestamp(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` or an offset) or ``YYYY-MM-DD HH:MM:SS``; zone-less times are UTC."""
    raw = text(value, 64)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def plain_object(value: Any, limit: int = 100) -> dict:
    """A JSON object of scalars (variables, custom fields), at most ``limit`` keys; {} else."""
    if not isinstance(value, dict):
        return {}
    kept = {}
    for key, item in list(value.items())[:limit]:
        if isinstance(item, str | int | float | bool) or item is None:
            kept[str(key)[:100]] = item if not isinstance(item, str) else item[:2000]
    return kept


def body_hash(value: Any) -> str:
    """A stable hash of a decoded body (keys sorted), for keys built from the content."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()

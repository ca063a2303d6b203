"""Leeloo.ai's wire formats: the envelope, a page, dates, prices, ids and error reasons.

The small pieces every other part of the package shares: how Leeloo writes a date or a price,
how an id becomes one URL segment, how a list page and its ``meta`` look, and how a reason is
read out of an error body (JSON, plain text or a proxy's HTML).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from ..errors import PayloadError

API = "/api/v2"

#: Where the widest "last message" window starts, for lookups that must see every person
#: (GET /people refuses to answer without a window).
EVERYONE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


# --- plain data ---------------------------------------------------------------------------


@dataclass
class Envelope:
    """An opened Leeloo answer: ``data``, ``meta`` and the side-loaded records, if any."""

    data: Any
    meta: dict = field(default_factory=dict)
    #: ``included`` (people) or ``linked`` (tunnels): records the answer side-loads.
    linked: dict = field(default_factory=dict)


@dataclass
class Page:
    """One page of a list: its items (parsed when a parser was given) and Leeloo's meta."""

    items: list
    meta: dict
    offset: int
    limit: int

    @property
    def total(self) -> int | None:
        """The largest count Leeloo reported, or None when it reported none.

        The reference's examples disagree on ``filteredCount``: with ``limit=3`` the chat
        messages report ``filteredCount: 3, totalCount: 52``, the orders ``20`` and ``93``. It
        may be the size of the filtered list or of the page. We take the larger of the two so
        that a page-sized ``filteredCount`` can never end a sync early; the empty or short
        page ends it instead.
        """
        counts = [_int(self.meta.get(key)) for key in ("filteredCount", "totalCount")]
        counts = [count for count in counts if count is not None]
        return max(counts) if counts else None

    @property
    def listed_total(self) -> Any:
        """The list's size as staff are shown it: ``totalCount`` when Leeloo sent one, else
        :attr:`total` (the sync reads it as a number)."""
        return self.meta.get("totalCount", self.total)


# --- dates, numbers and small helpers ------------------------------------------------------


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from Leeloo's dates, None when blank or unreadable.

    Leeloo writes both ``2015-04-02T14:20Z`` and ``2020-02-06T11:30:30.035Z``; the document
    says every date is UTC, so a date without an offset is read as UTC.
    """
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime | str | None) -> str:
    """A UTC timestamp as Leeloo writes them: ``2020-02-04T11:46:48.803Z``."""
    moment = _as_utc(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_window_bound(value: datetime | date) -> str:
    """One end of a ``filter[last_message]`` window, the one place its format is chosen.

    The document types the bounds as ``js_date`` and its example sends bare dates
    (``2015-04-02``). A JavaScript ``Date`` reads both that and a full UTC timestamp; we send
    the full timestamp (as Leeloo writes its own dates) so that an incremental sync's window is
    exact. A ``date`` is sent as a bare date. Assumption: Leeloo compares both bounds
    inclusively; if it turns out to accept dates only, change this function alone.
    """
    if isinstance(value, datetime):
        return format_datetime(value)
    return value.isoformat()


def format_payment_date(value: datetime | str | None) -> str:
    """An order's payment date in the form the update endpoint documents: ``2018-06-27 07:32``."""
    return _as_utc(value).strftime("%Y-%m-%d %H:%M")


def _as_utc(value: datetime | str | None) -> datetime:
    if value is None or value == "":
        return datetime.now(UTC)
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        raise PayloadError(f"'{value}' is not a date Leeloo.ai can take (use ISO 8601).")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_decimal(value: Any) -> Decimal | None:
    """A price as Decimal (via its text, so 19.9 stays 19.9), None when missing."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def format_price(value: Any) -> str:
    """A price as the text the order update documents (``'100'``), without float noise."""
    amount = parse_decimal(value)
    if amount is None:
        raise PayloadError(f"'{value}' is not a price.", field_errors={"price": [str(value)]})
    return str(amount.quantize(Decimal(1))) if amount == amount.to_integral() else str(amount)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _segment(value: Any, name: str) -> str:
    """An id as one URL path segment; refuses blanks so no call goes to a wrong endpoint."""
    text = str(value or "").strip()
    if not text:
        raise PayloadError(f"Leeloo.ai needs a {name}.", field_errors={name: ["required"]})
    return quote(text, safe="")


def _id_list(value: Any) -> list[str]:
    """Ids from a list or a comma-separated option value."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(item).strip() for item in items if str(item).strip()]


def _items(data: Any, key: str) -> list:
    """The list inside ``data`` (``{"categories": [...]}``) or ``data`` itself when it is one."""
    if isinstance(data, dict):
        data = data.get(key)
    return data if isinstance(data, list) else []


def leeloo_message(body: Any) -> str:
    """Leeloo's reason from an error body: its ``message``, ``error`` or ``errors``."""
    if isinstance(body, dict):
        for key in ("message", "error", "errors"):
            text = _flatten_message(body.get(key))
            if text:
                return text
        return ""
    if isinstance(body, str):
        return _text_message(body)
    return ""


def _flatten_message(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("message"):
            return str(value["message"])
        return "; ".join(f"{key}: {_flatten_message(item)}" for key, item in value.items())
    if isinstance(value, list):
        return "; ".join(filter(None, (_flatten_message(item) for item in value)))
    return str(value)


def _text_message(text: str) -> str:
    """A short reason from a text or HTML body (a proxy's 502 page, the 429 sentence)."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
        text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(html.unescape(text).split())[:300]


def _required(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise PayloadError(f"Leeloo.ai needs '{name}'.", field_errors={name: ["required"]})
    return text

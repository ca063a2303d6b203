"""Leeloo.ai (messaging CRM): API v2, ``X-Leeloo-AuthToken`` header, ``{"status": 1}`` envelope.

Every endpoint of the v2 reference has one small method here, named after what it does. Leeloo
wraps every answer as ``{"status": 1, "data": ..., "meta": {...}}`` and says "no" with
``"status": 0`` in a 200; :meth:`LeelooProvider.check_success` turns that into a
:class:`PermanentError` and :meth:`LeelooProvider.call` is the one place the envelope is opened.
The ``parse_*`` functions turn Leeloo's items into plain dicts for the bridge's mirror models,
and the ``op_*`` methods are the write operations the outbox asks for by name.

Quirks of the document, recorded where they matter: several writes are form-data, not JSON;
``POST /people`` answers with a communication channel whose ``person_id`` is the person; the
reference's list examples disagree on what ``filteredCount`` means; all dates are UTC.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from . import paging
from .base import ApiResponse, Operation, Option, Provider, PushResult
from .errors import ConfigurationError, InvalidResponse, PayloadError, PermanentError
from .phones import phone_key

API = "/api/v2"

#: Where the widest "last message" window starts, for lookups that must see every person
#: (GET /people refuses to answer without a window).
EVERYONE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)

CALL_FIELDS = (
    "user_id",
    "from",
    "to",
    "date",
    "account_id",
    "record_link",
    "status",
    "duration",
    "type",
)
CALL_STATUSES = ("TALKING", "SUCCESS", "NO_ANSWER", "CLOSED_BY_SYSTEM")
CALL_TYPES = ("INBOUND", "OUTBOUND")
#: The document's own value for "this call has no recording".
NO_RECORDING = "NOT_DEFINED"
ORDER_UPDATE_STATUSES = ("RESOLVED", "REJECTED")
CUSTOM_FIELD_TYPES = ("EMAIL", "PHONE", "DATE", "KEYWORD", "NUMBER")
GENDERS = ("MALE", "FEMALE", "OTHER")  # Leeloo's NOT_DEFINED / NO_DATA mean "unknown" ("")


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


def split_name(name: str) -> tuple[str, str]:
    """First and last name from Leeloo's single ``name`` ("Mark Spenser" -> Mark, Spenser)."""
    parts = (name or "").split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else ((parts[0], "") if parts else ("", ""))


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


# --- parsers: Leeloo's items as the bridge's plain data ------------------------------------


# What the people sync reads of a listed person; its card read brings the card-only fields.
# Each person crosses from the process that reads the pages: pickling and unpickling the
# fields nobody reads cost more CPU than any one step of writing a batch.
SYNC_PERSON_FIELDS = (
    "remote_id",
    "first_name",
    "last_name",
    "email_key",
    "phone_key",
    "tags",
    "channels",
    "last_message_at",
    "remote_updated_at",
)


def parse_person_keyed(item: dict, region: str = "US") -> dict:
    """A listed person as the people sync reads it: ``SYNC_PERSON_FIELDS``, with its phone
    as the bridge matches it (E.164, or "") worked out.

    Reading a number is the dearest part of a person, so the sync has it done where the page
    is read (a thread or a child process), not where the page is written. The email is
    already folded by ``parse_person``.
    """
    person = parse_person(item)
    person["phone_key"] = phone_key(person["phone"], region)
    person["email_key"] = person["email"]
    return {name: person[name] for name in SYNC_PERSON_FIELDS}


def parse_person(item: dict) -> dict:
    """A Leeloo person as plain data for the Contact mirror.

    ``POST /people`` answers with the new *communication channel*: its ``id`` is the channel
    and ``person_id`` the person, so a ``person_id`` key wins and the channel becomes the
    person's only channel.
    """
    item = item or {}
    name = str(item.get("name") or "")
    first_name, last_name = split_name(name)
    links = item.get("links") or {}
    image = str(item.get("profileImage") or "")
    gender = str(item.get("gender") or "").upper()
    channels = list(item.get("accounts") or [])
    if item.get("person_id") and not channels:
        channels = [
            {
                "account_id": item.get("id", ""),
                "connection_id": item.get("connection_id", ""),
                "connection_status": item.get("connectionStatus", ""),
                "from": item.get("from", ""),
            }
        ]
    return {
        "remote_id": str(item.get("person_id") or item.get("id") or ""),
        "name": name,
        "first_name": first_name,
        "last_name": last_name,
        "email": str(item.get("email") or "").strip().lower(),
        "phone": str(item.get("phone") or "").strip(),
        "tags": [str(tag) for tag in item.get("tags") or []],
        "gender": gender if gender in GENDERS else "",
        "locale": str(item.get("locale") or ""),
        "profile_image": "" if image == "NOT_DEFINED" else image,
        "channels": channels,
        "subscribe_history": list(item.get("subscribeHistory") or []),
        "custom_fields": parse_custom_fields(item.get("custom_fields")),
        "last_message_at": parse_datetime(item.get("lastMessageTime")),
        "remote_created_at": parse_datetime(item.get("created_at") or item.get("createdAt")),
        "remote_updated_at": parse_datetime(item.get("updated_at") or item.get("updatedAt")),
        "contacted_user_ids": [link.get("id") for link in links.get("contactedUsers") or []],
        "order_ids": [link.get("id") for link in links.get("orders") or []],
    }


def parse_custom_fields(fields: Any) -> dict:
    """Leeloo's ``[{type, name, value}]`` as the mirror's ``{name: value}``."""
    if isinstance(fields, dict):
        return dict(fields)
    return {
        str(entry["name"]): entry.get("value")
        for entry in fields or []
        if isinstance(entry, dict) and entry.get("name")
    }


def build_custom_fields(fields: dict) -> list[dict]:
    """The mirror's ``{name: value}`` as Leeloo's ``[{type, name, value}]``.

    A value may be ``{"type": "DATE", "value": ...}`` to say its type; otherwise the type is
    guessed from the value (the fields must already exist in Leeloo, Content -> Fields).
    """
    built = []
    for name, value in (fields or {}).items():
        if isinstance(value, dict) and "value" in value:
            kind, value = str(value.get("type") or "").upper(), value["value"]
        else:
            kind = _custom_field_type(value)
        if kind not in CUSTOM_FIELD_TYPES:
            raise PayloadError(
                f"Custom field '{name}' has type '{kind}'; Leeloo.ai takes "
                f"{', '.join(CUSTOM_FIELD_TYPES)}.",
                field_errors={name: [kind]},
            )
        built.append({"type": kind, "name": str(name), "value": value})
    return built


def _custom_field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "KEYWORD"
    if isinstance(value, int | float | Decimal):
        return "NUMBER"
    text = str(value or "")
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return "EMAIL"
    if re.fullmatch(r"\+\d{7,15}", text):
        return "PHONE"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", text) and parse_datetime(text):
        return "DATE"
    return "KEYWORD"


def parse_order(item: dict) -> dict:
    """A Leeloo order as plain data for the Order mirror (price as Decimal)."""
    item = item or {}
    return {
        "remote_id": str(item.get("id") or ""),
        "person_id": str(item.get("person_id") or item.get("personId") or ""),
        "title": str(item.get("title") or ""),
        "description": str(item.get("description") or ""),
        "price": parse_decimal(item.get("price")),
        "currency": str(item.get("currency") or ""),
        "status": str(item.get("status") or ""),
        "payment_method": str(item.get("paymentMethod") or ""),
        "remote_created_at": parse_datetime(item.get("createdAt") or item.get("created_at")),
        "remote_updated_at": parse_datetime(item.get("updatedAt") or item.get("updated_at")),
    }


def parse_tag(item: dict) -> dict:
    """A Leeloo tag: id and name."""
    return {"remote_id": str(item.get("id") or ""), "name": str(item.get("name") or "")}


def parse_leadgen_tool(item: dict) -> dict:
    """A lead-generation tool (LGT) of a tunnel: id, name and type (LINK, QR, FORM…)."""
    return {
        "remote_id": str(item.get("id") or ""),
        "name": str(item.get("name") or ""),
        "type": str(item.get("type") or ""),
    }


def parse_tunnel(item: dict, linked: dict | None = None) -> dict:
    """A sales tunnel with its lead-generation tools (from ``linked``, or bare ids)."""
    item = item or {}
    tools_by_id = {
        str(tool.get("id")): parse_leadgen_tool(tool)
        for tool in (linked or {}).get("leadgentools") or []
    }
    tool_ids = [str(link.get("id")) for link in (item.get("links") or {}).get("leadgentools") or []]
    tools = [tools_by_id.get(tool_id) or {"remote_id": tool_id} for tool_id in tool_ids]
    tools += [tool for tool_id, tool in tools_by_id.items() if tool_id not in tool_ids]
    return {
        "remote_id": str(item.get("id") or ""),
        "name": str(item.get("name") or ""),
        "leadgen_tools": tools,
        "remote_created_at": parse_datetime(item.get("createdAt")),
        "remote_updated_at": parse_datetime(item.get("updatedAt")),
    }


_STATS_KEYS = {
    "subscribers": "subscribers",
    "uniqSubscribers": "uniq_subscribers",
    "orders": "orders",
    "sales": "sales",
    "uniqSales": "uniq_sales",
    "visits": "visits",
    "uniqVisits": "uniq_visits",
    "shows": "shows",
    "uniqShows": "uniq_shows",
    "totalSale": "total_sale_usd",
    "totalExpenses": "total_expenses",
}


def parse_stats(item: dict) -> dict:
    """A tunnel's statistics with snake_case keys; numbers stay JSON numbers (for JSONField).

    The reference shows no tunnel id in the stats; ``tunnel_id`` is kept when Leeloo sends one.
    """
    item = item or {}
    stats = {ours: item.get(theirs, 0) or 0 for theirs, ours in _STATS_KEYS.items()}
    tunnel_id = item.get("tunnel_id") or item.get("tunnelId") or item.get("id")
    if tunnel_id:
        stats["tunnel_id"] = str(tunnel_id)
    return stats


def parse_user(item: dict) -> dict:
    """A platform user (a manager orders and people are assigned to)."""
    return {
        "remote_id": str(item.get("id") or ""),
        "name": str(item.get("name") or ""),
        "remote_created_at": parse_datetime(item.get("createdAt")),
        "remote_updated_at": parse_datetime(item.get("updatedAt")),
    }


def parse_channel(item: dict) -> dict:
    """A communication channel (a person's chat on one messenger) with its UTM marks."""
    return {
        "remote_id": str(item.get("id") or ""),
        "person_id": str(item.get("person_id") or ""),
        "name": str(item.get("name") or ""),
        "source": str(item.get("from") or ""),
        "bot_status": str(item.get("botStatus") or ""),
        "last_message_at": parse_datetime(item.get("lastMessageTime")),
        "remote_created_at": parse_datetime(item.get("createdAt")),
        "utm_marks": dict(item.get("utmMarks") or {}),
    }


def parse_connection(item: dict) -> dict:
    """A connection: one of the account's bots (telegram, sendGrid…)."""
    return {
        "remote_id": str(item.get("id") or ""),
        "type": str(item.get("type") or ""),
        "name": str(item.get("name") or ""),
    }


def parse_template_category(item: dict) -> dict:
    """A message template category: id and name."""
    return {"remote_id": str(item.get("id") or ""), "name": str(item.get("name") or "")}


def parse_template(item: dict) -> dict:
    """A message template: id and its ``message_name``."""
    return {"remote_id": str(item.get("id") or ""), "name": str(item.get("message_name") or "")}


def parse_message(item: dict) -> dict:
    """A chat message: text, who wrote it (``type``), whether it was read, when."""
    return {
        "remote_id": str(item.get("id") or ""),
        "text": str(item.get("text") or ""),
        "type": str(item.get("type") or ""),
        "read": bool(item.get("read")),
        "remote_created_at": parse_datetime(item.get("createdAt")),
        "remote_updated_at": parse_datetime(item.get("updatedAt")),
    }


def parse_traffic_source(item: dict) -> dict:
    """A traffic source created in an LGT: ids, name, description and its link hash."""
    return {
        "remote_id": str(item.get("id") or ""),
        "name": str(item.get("name") or ""),
        "description": str(item.get("description") or ""),
        "leadgentool_id": str(item.get("leadgentool_id") or ""),
        "tunnel_id": str(item.get("tunnel_id") or ""),
        "hash": str(item.get("hash") or ""),
        "remote_created_at": parse_datetime(item.get("createdAt")),
    }


def parse_comment(item: dict) -> dict:
    """A comment left on a person's card."""
    return {
        "remote_id": str(item.get("id") or ""),
        "text": str(item.get("text") or ""),
        "person_id": str(item.get("entity_id") or ""),
        "remote_created_at": parse_datetime(item.get("created_at")),
    }


# --- payloads ------------------------------------------------------------------------------


def record_kind(record: dict) -> str:
    """ "order", "lead" or "contact": which of bridge.records' shapes ``record`` has."""
    if "payment_credits_id" in record or "offer_id" in record:
        return "order"
    if isinstance(record.get("contact"), dict) and "product" in record:
        return "lead"
    return "contact"


def person_fields(record: dict) -> dict:
    """Name, email and phone of a contact record, or of a lead record's contact."""
    contact = record.get("contact") if isinstance(record.get("contact"), dict) else record
    name = contact.get("full_name") or " ".join(
        part for part in (contact.get("first_name"), contact.get("last_name")) if part
    )
    email = str(contact.get("email") or "").strip().lower()
    phone = str(contact.get("phone") or "").strip()
    return {
        "name": name or email or phone,
        "email": email,
        "phone": phone,
        "custom_fields": dict(contact.get("custom_fields") or {}),
    }


def build_call_form(call: dict) -> dict:
    """The form of ``POST /calls``; every field is required, so a missing one is named here."""
    form = {name: call.get(name) for name in CALL_FIELDS}
    if form["record_link"] in (None, ""):
        form["record_link"] = NO_RECORDING
    for name in CALL_FIELDS:
        if form[name] in (None, ""):
            raise PayloadError(
                f"A Leeloo.ai call needs '{name}'.", field_errors={name: ["required"]}
            )
    form["status"] = str(form["status"]).upper()
    form["type"] = str(form["type"]).upper()
    for name, allowed in (("status", CALL_STATUSES), ("type", CALL_TYPES)):
        if form[name] not in allowed:
            raise PayloadError(
                f"A Leeloo.ai call's '{name}' must be one of {', '.join(allowed)}, "
                f"not '{form[name]}'.",
                field_errors={name: [form[name]]},
            )
    duration = _int(form["duration"])
    if duration is None or duration < 0:
        raise PayloadError(
            f"A Leeloo.ai call's 'duration' is whole seconds, not '{form['duration']}'.",
            field_errors={"duration": [str(form["duration"])]},
        )
    form["duration"] = str(duration)
    form["date"] = format_datetime(form["date"])
    return {name: str(value) for name, value in form.items()}


def parse_variables(value: Any) -> dict:
    """A template's variables from a dict, or ``name=value`` items (a list or comma-separated)."""
    if isinstance(value, dict):
        return dict(value)
    items = _id_list(value)
    if any("=" not in item for item in items):
        raise PayloadError(
            "Template variables are name=value pairs.", field_errors={"variables": items}
        )
    return dict(item.split("=", 1) for item in items)


def build_order_update_form(record: dict, params: dict) -> dict:
    """The form of ``POST /orders/{id}``: status (RESOLVED/REJECTED) and what was paid."""
    status = str(params.get("status") or record.get("status") or "").upper()
    if status not in ORDER_UPDATE_STATUSES:
        raise PayloadError(
            f"A Leeloo.ai order can only be set to {' or '.join(ORDER_UPDATE_STATUSES)}, "
            f"not '{status}'.",
            field_errors={"status": [status]},
        )
    form = {"status": status}
    payment_date = params.get("payment_date") or record.get("payment_date")
    if payment_date:
        form["paymentDate"] = format_payment_date(payment_date)
    currency = params.get("currency") or record.get("currency")
    if currency:
        form["currency"] = str(currency).upper()
    price = params.get("price", record.get("price"))
    if price not in (None, ""):
        form["price"] = format_price(price)
    comments = params.get("user_comments") or record.get("user_comments")
    if comments:
        form["userComments"] = str(comments)
    return form


# --- the provider --------------------------------------------------------------------------

PEOPLE = ("contact", "lead")


def _ask(
    name: str,
    label: str,
    help: str = "",  # noqa: A002 - Option's own field name
    *,
    kind: str = "text",
    required: bool = False,
    choices: tuple = (),
) -> Option:
    """An option staff type for one push only (no account-wide default)."""
    return Option(
        name, label, kind, help, choices=choices, required=required, account_default=False
    )


TAG_NAME = _ask("tag", "Tag", "The tag's name, as in Settings, CRM, Tags.")
TAG_ID = _ask("tag_id", "Tag id", "Or its id ('Copy ID' next to the tag).")
CHANNEL = _ask(
    "account_id", "Channel id", "Communication channel; blank: the person's first channel."
)


class LeelooProvider(Provider):
    """Leeloo.ai API v2: people, orders, tags, tunnels, messages, calls and users."""

    id = "leeloo"
    name = "Leeloo.ai"
    base_urls = {"production": "https://api.leeloo.ai"}
    pushes = ("contact", "lead", "order")
    fake = "integrations.fakes.leeloo.FakeLeeloo"
    contact_requirements = (("email", "phone"),)
    # The reference says "Request Body(form-data)" for tags, order updates, calls and tunnel
    # subscriptions: sent as multipart/form-data, the literal meaning. If Leeloo turns out to
    # read only urlencoded forms, this flag is the one switch.
    multipart_forms = True
    push_options = (
        Option(
            "leadgentool_id",
            "Lead-generation tool",
            help="LGT new people are added to; the account's option when blank.",
        ),
        Option(
            "connected_users_ids",
            "Connected users",
            kind="list",
            help="Platform user ids connected to new people.",
        ),
    )
    account_options = {
        "leadgentool_id": "Lead-generation tool (LGT) new people are added to: in a sales "
        "funnel, right-click the LGT and choose 'Copy LGT ID'. Required to create people.",
        "connected_users_ids": "Platform user ids (comma-separated) connected to new people. "
        "Optional.",
        "connection_id": "Communication channel (bot) for SMS connections: an id from "
        "'GET /connections'. Required to add SMS connections.",
        "payment_credits_id": "Payment system for manual orders: Settings, Payments, "
        "'Details' on the payment. Required to create orders.",
        "offer_id": "Offer manual orders are created for: Sales Funnel, Offers. Required to "
        "create orders.",
        "manager_id": "Platform user new orders are assigned to. Optional ('System').",
    }
    operations = {
        "push": "op_push",
        "add_tag": Operation("add_tag", "op_add_tag", "Add tag", PEOPLE, (TAG_NAME, TAG_ID)),
        "remove_tag": Operation(
            "remove_tag", "op_remove_tag", "Remove tag", PEOPLE, (TAG_NAME, TAG_ID)
        ),
        "add_comment": Operation(
            "add_comment",
            "op_add_comment",
            "Add comment",
            PEOPLE,
            (_ask("comment", "Comment", "Text left on the person's card.", required=True),),
        ),
        "send_message": Operation(
            "send_message",
            "op_send_message",
            "Send message",
            PEOPLE,
            (_ask("text", "Message", "The text to send.", required=True), CHANNEL),
        ),
        "send_template": Operation(
            "send_template",
            "op_send_template",
            "Send message template",
            PEOPLE,
            (
                _ask("template_id", "Template id", "From Message Templates.", required=True),
                _ask(
                    "variables",
                    "Variables",
                    "The template's variables as name=value.",
                    kind="list",
                ),
                CHANNEL,
            ),
        ),
        "create_order": Operation(
            "create_order",
            "op_create_order",
            "Create manual order",
            ("order",),
            (
                Option("offer_id", "Offer id", help="Sales Funnel, Offers."),
                Option("payment_credits_id", "Payment system id", help="Settings, Payments."),
                Option("manager_id", "Manager id", help="Platform user; blank is 'System'."),
                _ask(
                    "notify", "Notify the person", "Tell the person about the order.", kind="bool"
                ),
            ),
            links_record=True,
        ),
        "update_order": Operation(
            "update_order",
            "op_update_order",
            "Resolve or reject order",
            ("order",),
            (
                _ask(
                    "status",
                    "Status",
                    "Blank: the order's own status.",
                    kind="choice",
                    choices=(("RESOLVED", "Resolved"), ("REJECTED", "Rejected")),
                ),
                _ask("user_comments", "Comments", "Why the amount or date differs."),
            ),
        ),
        "log_call": Operation(
            "log_call",
            "op_log_call",
            "Log call",
            PEOPLE,
            (
                _ask("user_id", "Platform user id", "Who took the call.", required=True),
                _ask("from", "From", "Calling number or extension.", required=True),
                _ask("to", "To", "Called number or extension.", required=True),
                _ask(
                    "date", "Date", "When, ISO 8601 in UTC (2024-03-22T15:30:17Z).", required=True
                ),
                _ask(
                    "status",
                    "Outcome",
                    "",
                    kind="choice",
                    choices=tuple(
                        (value, value.replace("_", " ").title()) for value in CALL_STATUSES
                    ),
                    required=True,
                ),
                _ask("duration", "Duration", "Seconds.", kind="int", required=True),
                _ask(
                    "type",
                    "Direction",
                    "",
                    kind="choice",
                    choices=(("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")),
                    required=True,
                ),
                _ask("record_link", "Recording URL", "Blank: no recording."),
                CHANNEL,
            ),
        ),
        "subscribe_tunnel": Operation(
            "subscribe_tunnel",
            "op_subscribe_tunnel",
            "Subscribe to tunnel",
            PEOPLE,
            (
                _ask("tunnel_id", "Tunnel id", "From the tunnel's address.", required=True),
                _ask("tunnel_block_id", "Block id", "From the block's address.", required=True),
                CHANNEL,
            ),
        ),
        # Offered on tunnels: the traffic source goes into one of the tunnel's LGTs.
        "create_traffic_source": Operation(
            "create_traffic_source",
            "op_create_traffic_source",
            "Create traffic source",
            ("tunnel",),
            (
                _ask("name", "Name", "The traffic source's name.", required=True),
                _ask("description", "Description"),
                Option(
                    "leadgentool_id",
                    "Lead-generation tool id",
                    help="The LGT (in the tunnel) the traffic source is created in.",
                ),
            ),
        ),
        "add_sms_connection": Operation(
            "add_sms_connection",
            "op_add_sms_connection",
            "Add SMS connection",
            PEOPLE,
            (
                Option("connection_id", "SMS connection id", help="From GET /connections."),
                Option("leadgentool_id", "Lead-generation tool", help="LGT to add them through."),
                _ask("tag_ids", "Tag ids", "Tags to give them.", kind="list"),
            ),
        ),
    }

    # --- hooks -----------------------------------------------------------------------------

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        """The API token goes in the ``X-Leeloo-AuthToken`` header of every call."""
        headers["X-Leeloo-AuthToken"] = self.require_credential()

    def parse_error(self, status: int, body: Any) -> tuple[str, str, dict]:
        """Leeloo's reason from a JSON, plain-text (its 429), HTML (a proxy's 5xx) or empty body."""
        if isinstance(body, dict):
            errors = body.get("errors")
            return (
                str(body.get("code") or ""),
                leeloo_message(body),
                (errors if isinstance(errors, dict) else {}),
            )
        return "", leeloo_message(body) if isinstance(body, str) else "", {}

    def check_success(self, response: ApiResponse) -> None:
        """Refuse a 2xx that is not the envelope, or whose envelope says ``status: 0``."""
        body = response.data
        if not isinstance(body, dict):
            raise InvalidResponse(
                f"{self.name} answered {response.status} without its JSON envelope",
                status=response.status,
                body=json.dumps(body) if body is not None else "",
            )
        if "status" in body and str(body["status"]).strip().lower() in ("0", "false"):
            code, message, field_errors = self.parse_error(response.status, body)
            raise PermanentError(
                f"{self.name} refused the request" + (f": {message}" if message else ""),
                status=response.status,
                code=code,
                provider_message=message,
                field_errors=field_errors,
                body=json.dumps(body),
            )

    # --- the envelope and paging ---------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict | None = None,
        params: dict | list | None = None,
    ) -> Envelope:
        """One call under ``/api/v2``, its envelope opened (the only place that opens it)."""
        body = self.request(method, API + path, json_body=json_body, form=form, params=params).data
        return Envelope(
            data=body.get("data"),
            meta=body.get("meta") or {},
            linked=body.get("included") or body.get("linked") or {},
        )

    def list_page(
        self,
        path: str,
        params: dict | list | None = None,
        *,
        limit: int = 20,
        offset: int = 0,
        parse: Callable[[dict], Any] | None = None,
    ) -> Page:
        """One page of a ``limit``/``offset`` list, items parsed with ``parse`` when given."""
        pairs = [(key, value) for key, value in _pairs(params) if key not in ("limit", "offset")]
        envelope = self.call("GET", path, params=[*pairs, ("limit", limit), ("offset", offset)])
        items = envelope.data if isinstance(envelope.data, list) else []
        return Page(
            items=[parse(item) for item in items] if parse else items,
            meta=envelope.meta,
            offset=offset,
            limit=limit,
        )

    def iter_pages(
        self,
        path: str,
        params: dict | list | None = None,
        page_size: int = 100,
        *,
        parse: Callable[[dict], Any] | None = None,
    ) -> Iterator[Page]:
        """Every page of a list, in order, until an empty or short page or Leeloo's count.

        The stop rules are ``integrations.paging``'s, which the bridge's sync follows too (it
        reads from a saved offset, ahead and in batches, so it walks the pages itself). The
        offset moves by the items received, so a server that caps ``limit`` below
        ``page_size`` (and says so in ``meta.limit``) still pages through everything.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        offset, previous = 0, None
        while True:
            page = self.list_page(path, params, limit=page_size, offset=offset, parse=parse)
            if not page.items:
                return
            paging.refuse_repeat(self.name, path, offset, page.items, previous)
            previous = page.items
            yield page
            offset, last = paging.next_offset(page, offset, page_size)
            if last:
                return

    # --- message templates ---------------------------------------------------------------

    def list_template_categories(self) -> list[dict]:
        """Message template categories (Sales Funnels, Message Templates)."""
        data = self.call("GET", "/categories/templates").data
        return [parse_template_category(item) for item in _items(data, "categories")]

    def list_templates(self, category_id: str) -> list[dict]:
        """The message templates of one category."""
        data = self.call("GET", f"/categories/templates/{_segment(category_id, 'category_id')}")
        return [parse_template(item) for item in _items(data.data, "templates")]

    def send_template(self, account_id: str, template_id: str, variables: dict | None = None):
        """Send a message template to a communication channel, filling its variables."""
        payload = {
            "account_id": _required(account_id, "account_id"),
            "template_id": _required(template_id, "template_id"),
            "variables": dict(variables or {}),
        }
        return self.call("POST", "/messages/send-template", json_body=payload).data

    # --- messages and communication channels --------------------------------------------

    def list_chat_messages(self, person_id: str, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of a chat's messages.

        The path names it ``person_id`` but the document describes a communication channel id.
        """
        path = f"/communication-channels/{_segment(person_id, 'person_id')}/chat-messages"
        return self.list_page(path, limit=limit, offset=offset, parse=parse_message)

    def send_message(self, account_id: str, text: str):
        """Send a text message to a communication channel."""
        payload = {"account_id": _required(account_id, "account_id"), "text": text or ""}
        if not payload["text"].strip():
            raise PayloadError("A Leeloo.ai message needs text.", field_errors={"text": []})
        return self.call("POST", "/messages/send-message", json_body=payload).data

    def channel_params(self, since: datetime | date | None, until: datetime | date | None):
        """The ``filter[last_message]`` window of the channel list (optional there)."""
        pairs = []
        if since:
            pairs.append(("filter[last_message][from]", format_window_bound(since)))
        if until:
            pairs.append(("filter[last_message][to]", format_window_bound(until)))
        return pairs

    def list_channels(self, since=None, until=None, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of communication channels with their UTM marks."""
        params = self.channel_params(since, until)
        return self.list_page(
            "/communication-channels", params, limit=limit, offset=offset, parse=parse_channel
        )

    def list_connections(self) -> list[dict]:
        """The account's connections (bots): telegram, sendGrid…"""
        return [
            parse_connection(item)
            for item in _items(self.call("GET", "/connections").data, "connections")
        ]

    def person_by_channel(self, account_id: str) -> dict:
        """The person behind a communication channel (account id -> person)."""
        path = f"/communication-channels/{_segment(account_id, 'account_id')}/person"
        return parse_person(self.call("GET", path).data)

    def subscribe_to_tunnel(self, account_id: str, tunnel_id: str, tunnel_block_id: str):
        """Subscribe a communication channel to a tunnel at one of its blocks (form-data)."""
        path = f"/communication-channels/{_segment(account_id, 'account_id')}/manual-subscribe"
        form = {
            "tunnel_id": _required(tunnel_id, "tunnel_id"),
            "tunnel_block_id": _required(tunnel_block_id, "tunnel_block_id"),
        }
        return self.call("POST", path, form=form).data

    # --- lead-generation tools -----------------------------------------------------------

    def create_traffic_source(self, leadgentool_id: str, name: str, description: str = "") -> dict:
        """Create a traffic source in a lead-generation tool."""
        path = f"/leadgentools/{_segment(leadgentool_id, 'leadgentool_id')}/create-traffic-source"
        payload = {"name": _required(name, "name"), "description": description or ""}
        return parse_traffic_source(self.call("POST", path, json_body=payload).data)

    # --- orders ----------------------------------------------------------------------------

    def create_order(self, payload: dict) -> dict:
        """Create a manual order from a payload built by :meth:`build_order_payload`."""
        return parse_order(self.call("POST", "/orders", json_body=payload).data)

    def list_orders(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of orders."""
        return self.list_page("/orders", limit=limit, offset=offset, parse=parse_order)

    def iter_orders(self, *, page_size: int = 100) -> Iterator[Page]:
        """Every page of orders."""
        return self.iter_pages("/orders", None, page_size, parse=parse_order)

    def get_order(self, order_id: str) -> dict:
        """One order."""
        return parse_order(self.call("GET", f"/orders/{_segment(order_id, 'order_id')}").data)

    def update_order(self, order_id: str, form: dict) -> str:
        """Resolve or reject a manual order (form-data); returns the order id."""
        data = self.call("POST", f"/orders/{_segment(order_id, 'order_id')}", form=form).data
        return str((data or {}).get("id") or order_id)

    def build_order_payload(self, record: dict, params: dict) -> dict:
        """The JSON of ``POST /orders`` from an order record, params and account options."""
        contact = record.get("contact") or {}
        payload = {
            "paymentCreditsId": params.get("payment_credits_id")
            or record.get("payment_credits_id")
            or self.option("payment_credits_id"),
            "email": str(contact.get("email") or "").lower(),
            "phone": contact.get("phone") or "",
            "transactionDate": format_datetime(record.get("transaction_date")),
            "offerId": params.get("offer_id") or record.get("offer_id") or self.option("offer_id"),
            # The reference's example sends the flag as the text "true"/"false".
            "isNotifyAccount": "true" if _truthy(params.get("notify")) else "false",
            # The outbox adds the contact's remote id in this account when it has one.
            "personId": params.get("person_id") or contact.get("remote_id") or "",
            "managerId": params.get("manager_id")
            or record.get("manager_id")
            or self.option("manager_id"),
        }
        for name, option in (("paymentCreditsId", "payment_credits_id"), ("offerId", "offer_id")):
            if not payload[name]:
                raise PayloadError(
                    f"A Leeloo.ai order needs '{name}': set the order's {option} or the "
                    f"account option '{option}'.",
                    field_errors={name: ["required"]},
                )
        if not (payload["personId"] or payload["email"] or payload["phone"]):
            raise PayloadError(
                "A Leeloo.ai order needs a person: a person_id, or a contact with an email or "
                "a phone.",
                field_errors={"personId": ["required"]},
            )
        return {key: value for key, value in payload.items() if value not in (None, "")}

    # --- people --------------------------------------------------------------------------

    def people_params(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        phone: str = "",
        email: str = "",
    ) -> list[tuple[str, str]]:
        """The filters of ``GET /people``; the last-message window is required there."""
        if not since or not until:
            raise PayloadError("Leeloo.ai lists people only within a last-message window.")
        pairs = [("filter[tags]", str(tag)) for tag in tags]
        pairs += [
            ("filter[last_message][from]", format_window_bound(since)),
            ("filter[last_message][to]", format_window_bound(until)),
        ]
        if phone:
            pairs.append(("filter[phone]", phone))
        if email:
            pairs.append(("filter[email]", email))
        return pairs

    def list_people(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        phone: str = "",
        email: str = "",
        limit: int = 20,
        offset: int = 0,
    ) -> Page:
        """One page of people whose last message falls in ``[since, until]`` (UTC)."""
        params = self.people_params(since, until, tags=tags, phone=phone, email=email)
        return self.list_page("/people", params, limit=limit, offset=offset, parse=parse_person)

    def iter_people(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        page_size: int = 100,
    ) -> Iterator[Page]:
        """Every page of people whose last message falls in the window (what syncs read)."""
        params = self.people_params(since, until, tags=tags)
        return self.iter_pages("/people", params, page_size, parse=parse_person)

    def get_person(self, person_id: str) -> dict:
        """One person with the users who contacted them and their orders side-loaded."""
        path = f"/people/{_segment(person_id, 'person_id')}"
        envelope = self.call("GET", path, params={"include": "contactedUsers,orders"})
        person = parse_person(envelope.data)
        person["contacted_users"] = [parse_user(u) for u in envelope.linked.get("users") or []]
        person["orders"] = [parse_order(o) for o in envelope.linked.get("orders") or []]
        return person

    def update_person(
        self, person_id: str, *, phone: str = "", email: str = "", custom_fields: dict | None = None
    ):
        """Update a client card: phone, email and custom fields (the only fields it takes)."""
        payload: dict[str, Any] = {}
        if phone:
            payload["phone"] = phone
        if email:
            payload["email"] = email
        if custom_fields:
            payload["custom_fields"] = build_custom_fields(custom_fields)
        path = f"/people/{_segment(person_id, 'person_id')}"
        return self.call("PUT", path, json_body=payload).data

    def create_person(
        self,
        *,
        name: str,
        email: str = "",
        phone: str = "",
        leadgentool_id: str,
        connected_users_ids: Iterable[str] = (),
    ) -> dict:
        """Add a person through a lead-generation tool; returns the parsed new person."""
        payload: dict[str, Any] = {
            "name": name,
            "email": email,
            "phone": phone,
            "leadgentool_id": _required(leadgentool_id, "leadgentool_id"),
        }
        if connected_users_ids:
            payload["connected_users_ids"] = list(connected_users_ids)
        return parse_person(self.call("POST", "/people", json_body=payload).data)

    def add_sms_connections(
        self,
        people: list[dict],
        *,
        connection_id: str,
        leadgentool_id: str,
        tag_ids: Iterable[str] = (),
    ) -> int:
        """Add people reachable by SMS; Leeloo queues them and answers how many it will process."""
        payload = {
            "data": [
                {"name": p.get("name", ""), "email": p.get("email", ""), "phone": p["phone"]}
                for p in people
            ],
            "connection_id": _required(connection_id, "connection_id"),
            "leadgentool_id": _required(leadgentool_id, "leadgentool_id"),
            "tags": list(tag_ids),
        }
        data = self.call("POST", "/people/sms", json_body=payload).data
        return _int((data or {}).get("count_to_process")) or 0

    def add_comment(self, person_id: str, comment: str) -> dict:
        """Leave a comment on a person's card."""
        if not (comment or "").strip():
            raise PayloadError("A Leeloo.ai comment needs text.", field_errors={"comment": []})
        path = f"/people/{_segment(person_id, 'person_id')}/add-comment"
        return parse_comment(self.call("PUT", path, json_body={"comment": comment}).data)

    def find_person(self, *, phone: str = "", email: str = "") -> dict | None:
        """The person with this phone, else this email; None when neither is known to Leeloo.

        ``GET /people`` needs a last-message window, so the lookup spans 2000 to tomorrow.
        Assumption: a person who never wrote a message still falls in it. A returned person
        must really carry the phone or email, in case Leeloo matches loosely.
        """
        until = datetime.now(UTC) + timedelta(days=1)
        for key, value in (("phone", phone), ("email", email.lower() if email else "")):
            if not value:
                continue
            page = self.list_people(EVERYONE_SINCE, until, **{key: value}, limit=20)
            for person in page.items:
                if _same(key, person[key], value):
                    return person
        return None

    # --- calls ---------------------------------------------------------------------------

    def log_call(self, call: dict):
        """Add a call to a person's card (form-data, every field required)."""
        return self.call("POST", "/calls", form=build_call_form(call)).data

    # --- tags ----------------------------------------------------------------------------

    def list_tags(self) -> list[dict]:
        """Every tag of the account."""
        return [parse_tag(item) for item in _items(self.call("GET", "/tags").data, "tags")]

    def add_tag(self, person_id: str, tag_id: str):
        """Tag a person (form-data ``tag_id``)."""
        path = f"/people/{_segment(person_id, 'person_id')}/add-tag"
        return self.call("PUT", path, form={"tag_id": _required(tag_id, "tag_id")}).data

    def remove_tag(self, person_id: str, tag_id: str):
        """Untag a person (form-data ``tag_id``)."""
        path = f"/people/{_segment(person_id, 'person_id')}/remove-tag"
        return self.call("PUT", path, form={"tag_id": _required(tag_id, "tag_id")}).data

    def tag_id_for(self, params: dict) -> str:
        """The tag id from params: ``tag_id``, or a ``tag`` name looked up in the tag list."""
        if params.get("tag_id"):
            return str(params["tag_id"])
        name = str(params.get("tag") or "").strip()
        if not name:
            raise PayloadError("Say which tag: 'tag_id' or 'tag'.", field_errors={"tag_id": []})
        for tag in self.list_tags():
            if tag["name"].casefold() == name.casefold():
                return tag["remote_id"]
        raise PayloadError(
            f"Leeloo.ai has no tag named '{name}'; create it in Settings, CRM, Tags.",
            field_errors={"tag": [name]},
        )

    # --- tunnels -------------------------------------------------------------------------

    def list_tunnels(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of sales tunnels."""
        return self.list_page("/tunnels", limit=limit, offset=offset, parse=parse_tunnel)

    def get_tunnel(self, tunnel_id: str) -> dict:
        """One tunnel with its lead-generation tools (side-loaded as ``linked.leadgentools``)."""
        path = f"/tunnels/{_segment(tunnel_id, 'tunnel_id')}"
        envelope = self.call("GET", path, params={"include": "leadgentools"})
        return parse_tunnel(envelope.data, envelope.linked)

    def all_tunnel_stats(self) -> list[dict]:
        """Statistics of every tunnel."""
        data = self.call("GET", "/tunnels/stats").data
        return [parse_stats(item) for item in (data if isinstance(data, list) else [data])]

    def tunnel_stats(self, tunnel_id: str) -> dict:
        """Statistics of one tunnel (Leeloo answers a one-item list)."""
        data = self.call("GET", f"/tunnels/{_segment(tunnel_id, 'tunnel_id')}/stats").data
        item = data[0] if isinstance(data, list) and data else data
        return parse_stats(item if isinstance(item, dict) else {})

    # --- users ---------------------------------------------------------------------------

    def list_users(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of platform users (managers)."""
        return self.list_page("/users", limit=limit, offset=offset, parse=parse_user)

    def get_user(self, user_id: str) -> dict:
        """One platform user."""
        return parse_user(self.call("GET", f"/users/{_segment(user_id, 'user_id')}").data)

    # --- outbox operations: (record, params, remote_id) -> PushResult --------------------

    def op_push(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Push a contact or lead as a person, or an order as a manual order."""
        if record_kind(record) == "order":
            return self.push_order(record, params, remote_id)
        return self.push_person(record, params, remote_id)

    def push_person(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create or update the person for a contact or lead record.

        With a known ``remote_id`` the card is updated; otherwise the person is looked up by
        phone, then by email, and updated when found or created through the account's LGT.
        """
        fields = person_fields(record)
        person_id = remote_id
        if not person_id:
            found = self.find_person(phone=fields["phone"], email=fields["email"])
            person_id = found["remote_id"] if found else ""
        if person_id:
            data = self.update_person(
                person_id,
                phone=fields["phone"],
                email=fields["email"],
                custom_fields=fields["custom_fields"],
            )
            return PushResult(remote_id=person_id, created=False, status="updated", data=data)
        if not (fields["phone"] or fields["email"]):
            raise PayloadError(
                "Leeloo.ai needs a phone or an email to add a person.",
                field_errors={"phone": ["required"], "email": ["required"]},
            )
        person = self.create_person(
            name=fields["name"],
            email=fields["email"],
            phone=fields["phone"],
            leadgentool_id=self._leadgentool_id(params),
            connected_users_ids=_id_list(
                params.get("connected_users_ids") or self.option("connected_users_ids")
            ),
        )
        if fields["custom_fields"]:  # POST /people takes no custom fields; set them after.
            self.update_person(person["remote_id"], custom_fields=fields["custom_fields"])
        return PushResult(
            remote_id=person["remote_id"], created=True, status="created", data=person
        )

    def push_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a manual order, or resolve/reject the one already pushed (``remote_id``).

        Leeloo's update only settles a manual order, so an already pushed order that is neither
        RESOLVED nor REJECTED locally has nothing to send.
        """
        if not remote_id:
            return self.op_create_order(record, params, remote_id)
        status = str(params.get("status") or record.get("status") or "").upper()
        if status not in ORDER_UPDATE_STATUSES:
            return PushResult(remote_id=remote_id, created=False, status="unchanged")
        return self.op_update_order(record, params, remote_id)

    def op_add_tag(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Tag the person ``remote_id`` with params ``tag_id`` (or the tag named ``tag``)."""
        person_id = self.person_id_for(record, remote_id)
        tag_id = self.tag_id_for(params)
        self.add_tag(person_id, tag_id)
        return PushResult(
            remote_id=person_id, created=False, status="tagged", data={"tag_id": tag_id}
        )

    def op_remove_tag(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Untag the person ``remote_id`` (params ``tag_id`` or ``tag``)."""
        person_id = self.person_id_for(record, remote_id)
        tag_id = self.tag_id_for(params)
        self.remove_tag(person_id, tag_id)
        return PushResult(
            remote_id=person_id, created=False, status="untagged", data={"tag_id": tag_id}
        )

    def op_add_comment(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Comment on the person ``remote_id`` with params ``comment``."""
        comment = self.add_comment(self.person_id_for(record, remote_id), params.get("comment"))
        return PushResult(
            remote_id=comment["remote_id"], created=True, status="created", data=comment
        )

    def op_send_message(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Send params ``text`` to params ``account_id`` or the first channel of ``remote_id``."""
        account_id = self.channel_id_for(params, record, remote_id)
        data = self.send_message(account_id, params.get("text", ""))
        return PushResult(remote_id=account_id, status="sent", data=data)

    def op_send_template(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Send params ``template_id`` with ``variables`` to a channel (as send_message)."""
        account_id = self.channel_id_for(params, record, remote_id)
        variables = parse_variables(params.get("variables"))
        data = self.send_template(account_id, params.get("template_id"), variables)
        return PushResult(remote_id=account_id, status="sent", data=data)

    def op_create_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a manual order for an order record (params may name ``person_id``)."""
        order = self.create_order(self.build_order_payload(record, params))
        return PushResult(
            remote_id=order["remote_id"], created=True, status=order["status"], data=order
        )

    def op_update_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Resolve or reject the manual order ``remote_id`` from the record's payment."""
        form = build_order_update_form(record, params)
        order_id = self.update_order(_required(remote_id, "order_id"), form)
        return PushResult(remote_id=order_id, created=False, status=form["status"], data=form)

    def op_log_call(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Log a call from params (``account_id`` may come from the person ``remote_id``)."""
        call = dict(params)
        call["account_id"] = self.channel_id_for(params, record, remote_id)
        data = self.log_call(call)
        return PushResult(
            remote_id=str((data or {}).get("id") or ""), created=True, status="logged", data=data
        )

    def op_subscribe_tunnel(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Subscribe a channel to params ``tunnel_id`` at ``tunnel_block_id``."""
        account_id = self.channel_id_for(params, record, remote_id)
        data = self.subscribe_to_tunnel(
            account_id, params.get("tunnel_id"), params.get("tunnel_block_id")
        )
        return PushResult(remote_id=account_id, status="subscribed", data=data)

    def op_create_traffic_source(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a traffic source (params ``name``, ``description``) in the tunnel's LGT.

        The LGT is the one staff named, else the tunnel's first, else the account's default.
        """
        tools = [
            tool.get("remote_id") or tool.get("id")
            for tool in record.get("leadgen_tools") or []
            if tool.get("remote_id") or tool.get("id")
        ]
        if tools and not params.get("leadgentool_id"):
            params = {**params, "leadgentool_id": tools[0]}
        source = self.create_traffic_source(
            self._leadgentool_id(params), params.get("name"), params.get("description", "")
        )
        return PushResult(
            remote_id=source["remote_id"], created=True, status="created", data=source
        )

    def op_add_sms_connection(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Add the record's person as an SMS contact on the account's SMS connection."""
        fields = person_fields(record)
        if not fields["phone"]:
            raise PayloadError("An SMS connection needs a phone.", field_errors={"phone": []})
        count = self.add_sms_connections(
            [fields],
            connection_id=params.get("connection_id") or self.option("connection_id"),
            leadgentool_id=self._leadgentool_id(params),
            tag_ids=_id_list(params.get("tag_ids")),
        )
        return PushResult(status="accepted", data={"count_to_process": count})

    # --- helpers -------------------------------------------------------------------------

    def _leadgentool_id(self, params: dict) -> str:
        value = params.get("leadgentool_id") or self.option("leadgentool_id")
        if not value:
            raise ConfigurationError(
                f"Account '{self.account.name}' has no Leeloo.ai lead-generation tool: set the "
                "account option 'leadgentool_id' (in a sales funnel, right-click the LGT and "
                "choose 'Copy LGT ID')."
            )
        return str(value)

    def person_id_for(self, record: dict, remote_id: str) -> str:
        """The person an operation is about: the pushed record's id, else found by phone/email."""
        if remote_id:
            return remote_id
        fields = person_fields(record or {})
        found = self.find_person(phone=fields["phone"], email=fields["email"])
        if found is None:
            raise PayloadError(
                "This record is not in Leeloo.ai yet (no person with its phone or email): "
                "push it first.",
                field_errors={"person_id": ["required"]},
            )
        return found["remote_id"]

    def channel_id_for(self, params: dict, record: dict, remote_id: str) -> str:
        """Params ``account_id``, else the first communication channel of the person."""
        if params.get("account_id"):
            return str(params["account_id"])
        person_id = self.person_id_for(record, remote_id)
        for channel in self.get_person(person_id)["channels"]:
            if channel.get("account_id"):
                return str(channel["account_id"])
        raise PayloadError(
            f"Leeloo.ai person {person_id} has no communication channel to write to.",
            field_errors={"account_id": ["required"]},
        )


def _pairs(params: dict | list | None) -> list[tuple[str, Any]]:
    if not params:
        return []
    return list(params.items()) if isinstance(params, dict) else list(params)


def _required(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise PayloadError(f"Leeloo.ai needs '{name}'.", field_errors={name: ["required"]})
    return text


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _same(key: str, found: str, wanted: str) -> bool:
    if key == "phone":
        return re.sub(r"\D", "", found or "") == re.sub(r"\D", "", wanted)
    return (found or "").strip().lower() == wanted.strip().lower()

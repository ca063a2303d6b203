"""Leeloo.ai's JSON as the bridge's plain records: people, orders, tunnels, users, channels…

Each ``parse_*`` function takes one item of an answer and returns a plain dict for the mirror
models (or for the sync, which reads a person as ``SYNC_PERSON_FIELDS``). They call no API and
raise nothing: a missing field becomes "" or None.
"""

from __future__ import annotations

from typing import Any

from ..phones import phone_key
from .wire import parse_datetime, parse_decimal

GENDERS = ("MALE", "FEMALE", "OTHER")  # Leeloo's NOT_DEFINED / NO_DATA mean "unknown" ("")


def split_name(name: str) -> tuple[str, str]:
    """First and last name from Leeloo's single ``name`` ("Mark Spenser" -> Mark, Spenser)."""
    parts = (name or "").split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else ((parts[0], "") if parts else ("", ""))


# What the people sync reads of a listed person; its card read brings the card-only fields.
# Each person crosses from the process that reads the pages, so a field nobody reads would be
# pickled and unpickled for nothing (docs/benchmarks.md has the figures).
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
        "custom_field_types": parse_custom_field_types(item.get("custom_fields")),
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


def parse_custom_field_types(fields: Any) -> dict:
    """The type of each of Leeloo's ``[{type, name, value}]`` (``{"renewal": "DATE"}``): what
    a push converts a value to (``build_custom_fields``)."""
    if not isinstance(fields, list):
        return {}
    return {
        str(entry["name"]): str(entry.get("type") or "").upper()
        for entry in fields
        if isinstance(entry, dict) and entry.get("name") and entry.get("type")
    }


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

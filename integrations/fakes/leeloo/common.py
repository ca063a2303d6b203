"""What every part of the fake Leeloo shares: ids and constants, Leeloo's dates and envelope.

Leeloo answers ``{"status": 1, "data": …}`` on success and ``{"status": 0, "message": …}`` on a
refusal, usually in a 200 (:func:`ok`, :func:`refuse`, :func:`not_found`); it writes dates as
``2020-02-06T11:30:30.035Z`` and reads them as JavaScript's ``new Date`` does
(:func:`to_text`, :func:`parse_js_date`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ..core import FakeResponse

ID = r"(?P<{}>[^/]+)"

COMPANY_ID = "5b9f63e3d244d2000e27692f"
API_USER_ID = "5b9f63e3d244d2000e276957"  # the user the API token belongs to
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
CUSTOM_FIELD_TYPES = ("EMAIL", "PHONE", "DATE", "KEYWORD", "NUMBER")
SEED_TAGS = ("vip", "tag2", "Mentor", "Professional")


def now_text() -> str:
    """The current UTC time as Leeloo writes it: ``2020-02-06T11:30:30.035Z``."""
    return to_text(datetime.now(UTC))


def to_text(moment: datetime) -> str:
    """A UTC datetime as Leeloo writes it (milliseconds, ``Z``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def time_key(text: str) -> str:
    """A Leeloo date normalised so that keys sort as times (``14:20Z`` vs ``14:20:00.000Z``)."""
    moment = parse_js_date(text)
    return to_text(moment) if moment else ""


def parse_js_date(text: str) -> datetime | None:
    """What a JavaScript ``new Date(text)`` reads from an ISO date or timestamp; None if not."""
    text = (text or "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ok(data, meta: dict | None = None, **extra) -> FakeResponse:
    """Leeloo's success envelope."""
    body = {"status": 1, "data": data}
    if meta is not None:
        body["meta"] = meta
    body.update(extra)
    return FakeResponse(200, body)


def refuse(message: str, status: int = 200) -> FakeResponse:
    """Leeloo's refusal: ``status: 0`` and a message (in a 200 unless said otherwise)."""
    return FakeResponse(status, {"status": 0, "message": message})


def not_found(kind: str, item_id: str) -> FakeResponse:
    """An unknown id (the document is silent; the fake answers 404 with ``status: 0``)."""
    return refuse(f"{kind} {item_id} not found", 404)


def seed_phone(n: int) -> str:
    """Seeded person n's phone: a valid E.164 US number, unique for n below 8,000,000."""
    return f"+1310{200 + (n // 10000) % 800}{n % 10000:04d}"


def digits(phone: str) -> str:
    """A phone's digits, so ``+380 96…`` and ``380966…`` (an unescaped ``+``) match."""
    return re.sub(r"\D", "", phone or "")

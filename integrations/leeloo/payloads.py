"""The bodies and forms Leeloo.ai's writes take, built from the bridge's plain records.

Each builder checks what the reference requires before anything is sent and names a missing
or undocumented value in a :class:`PayloadError` (field by field), so a bad push fails here
rather than as Leeloo's ``"status": 0``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import PayloadError
from ..phones import InvalidPhoneNumber, normalize_phone
from .wire import (
    _id_list,
    _int,
    format_datetime,
    format_payment_date,
    format_price,
    parse_datetime,
)

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


def build_custom_fields(fields: dict, types: dict | None = None) -> list[dict]:
    """The mirror's ``{name: value}`` as Leeloo's ``[{type, name, value}]``.

    A value may be ``{"type": "DATE", "value": ...}`` to say its type. Otherwise a field the
    account's last pull saw (``types``: name -> type) gets that type, its value converted to
    it (:func:`convert_custom_value`, which names the field it cannot convert); any other's
    type is guessed from the value (the fields must already exist in Leeloo, Content ->
    Fields).
    """
    types = types or {}
    built = []
    for name, value in (fields or {}).items():
        if isinstance(value, dict) and "value" in value:
            kind, value = str(value.get("type") or "").upper(), value["value"]
        elif types.get(name) in CUSTOM_FIELD_TYPES:
            kind = types[name]
            value = convert_custom_value(name, kind, value)
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


def convert_custom_value(name: str, kind: str, value: Any) -> Any:
    """``value`` as a Leeloo custom field of type ``kind`` takes it; a blank is sent as it is.

    NUMBER: a JSON number; DATE: an ISO date (a date and time as Leeloo writes its dates,
    in UTC); EMAIL: lower-cased; PHONE: E.164, from a number written with its country code;
    KEYWORD: text. A value that is not of the type is a PayloadError naming the field.
    """
    if value in (None, ""):
        return value
    converter = {
        "NUMBER": _as_number,
        "DATE": _as_date,
        "EMAIL": _as_email,
        "PHONE": _as_phone,
    }.get(kind)
    if converter is None:
        return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    try:
        return converter(value)
    except ValueError as problem:
        raise PayloadError(
            f"Leeloo.ai custom field '{name}' is a {kind} field (as the last pull saw it): "
            f"'{value}' {problem}",
            field_errors={name: [str(value)]},
        ) from None


def _as_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("is a yes/no, not a number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("is not a number.") from None
    if not number.is_finite():
        raise ValueError("is not a number.")
    return int(number) if number == number.to_integral_value() else float(number)


def _as_date(value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("is not a date (YYYY-MM-DD).") from None
    if parse_datetime(text) is None:
        raise ValueError("is not a date (YYYY-MM-DD, or an ISO 8601 date and time).")
    return format_datetime(text)


def _as_email(value: Any) -> str:
    text = str(value).strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise ValueError("is not an email address.")
    return text


def _as_phone(value: Any) -> str:
    text = str(value).strip()
    if not text.startswith(("+", "00")):
        raise ValueError("is not a phone number with its country code (e.g. +13105550143).")
    try:
        return normalize_phone(text)
    except InvalidPhoneNumber:
        raise ValueError("is not a valid phone number.") from None


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

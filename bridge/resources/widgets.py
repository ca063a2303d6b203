"""Cells and widgets for imports and exports: what staff type, read the way they mean it, with
errors in their words.

Cells are tidied (stripped, the export's formula escape undone, Excel's whole-number floats made
integers) and every exported cell is made inert for spreadsheets (``escape_formula``). The
widgets read dates, moments, prices, choices and lists of phones or tags.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_date, parse_datetime
from import_export import widgets


def is_blank(value) -> bool:
    """True for an empty cell (None, or only whitespace)."""
    return value is None or (isinstance(value, str) and not value.strip())


#: What a spreadsheet takes as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().-]*")


def escape_formula(value):
    """A cell that would run as a spreadsheet formula, made inert with a leading apostrophe.

    Values typed into a web form ("=HYPERLINK(…)") must not execute when staff open an export
    in Excel. Signed numbers (E.164 phones like +13105550143) stay as they are.
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def tidy_cell(value):
    """Strip text; undo the export's formula escape; turn Excel's whole-number floats
    (3105550143.0) back into integers."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
            value = value[1:]
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise_header(header) -> str:
    """A column name as the resources know it: "First name " becomes "first_name"."""
    return "_".join(str(header or "").strip().lower().split())


def split_list(value) -> list[str]:
    """The items of a comma-separated cell, stripped, blanks dropped."""
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


class DateWidget(widgets.DateWidget):
    """A date as YYYY-MM-DD (or the US forms Django accepts), or an Excel date cell."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        try:
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(
                f"'{value}' is not a date; write it as YYYY-MM-DD, e.g. 1985-04-23."
            ) from None


class DateTimeWidget(widgets.DateTimeWidget):
    """A moment: ISO 8601 (with or without an offset), "YYYY-MM-DD HH:MM", a bare date, or an
    Excel date cell. Times without an offset are in the bridge's TIME_ZONE, as exports write them.
    """

    def clean(self, value, row=None, **kwargs):
        try:
            if isinstance(value, str):
                value = parse_datetime(value) or _midnight(parse_date(value)) or value
            return super().clean(value, row, **kwargs)
        except ValueError:
            raise ValueError(
                f"'{value}' is not a date and time; write it as YYYY-MM-DD HH:MM, "
                "e.g. 2024-05-01 14:30."
            ) from None


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time()) if day else None


class PriceWidget(widgets.DecimalWidget):
    """A price in digits with a dot for cents; a "$" and thousands commas are tolerated."""

    def clean(self, value, row=None, **kwargs):
        if self.is_empty(value):
            return None
        text = str(value).strip().lstrip("$").replace(",", "").strip()
        try:
            price = Decimal(text)
        except InvalidOperation:
            price = None
        if price is None or not price.is_finite():
            raise ValueError(
                f"'{value}' is not a price; write digits with a dot for cents, e.g. 45000.50."
            )
        return price


class ChoiceWidget(widgets.CharWidget):
    """One of a model field's choices, given by its value or its label in any case."""

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.lookup = {}
        for stored, label in choices:
            self.lookup[str(stored).lower()] = stored
            self.lookup[str(label).lower()] = stored

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs).strip()
        if text.lower() in self.lookup:
            return self.lookup[text.lower()]
        allowed = ", ".join(sorted({v for v in self.lookup.values() if v}))
        raise ValueError(f"'{value}' is not one of: {allowed}.")


class OtherPhonesWidget(widgets.Widget):
    """Further phones as "mobile: +13105550100, +13105550101" (label optional)."""

    def clean(self, value, row=None, **kwargs):
        entries = []
        for item in split_list(value):
            label, sep, number = item.rpartition(":")
            entries.append({"label": label.strip() if sep else "", "phone_number": number.strip()})
        return entries

    def render(self, value, obj=None, **kwargs):
        return ", ".join(
            f"{entry['label']}: {entry['phone_number']}"
            if entry.get("label")
            else entry["phone_number"]
            for entry in value or []
            if isinstance(entry, dict) and entry.get("phone_number")
        )


class TagListWidget(widgets.Widget):
    """Tags as a comma-separated list of names (exports only; imports go through the resource)."""

    def render(self, value, obj=None, **kwargs):
        return ", ".join(tag.name for tag in value.all()) if value is not None else ""

"""Secrets that cannot leak: a wrapper that never prints itself, and redaction of known values.

Every credential the bridge handles travels as a :class:`Secret`. Its ``str``/``repr`` are
masked, so an f-string, a log line, a traceback's locals or an admin page show ``********``.
The real value is only read with :meth:`Secret.reveal`, at the one place that puts it on the
wire. Every revealed value is remembered, and :func:`redact` (used by the logging filter, the
error classes and the stored request/response copies) replaces it wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "********"

# Field and header names whose values are secrets whatever they hold.
SECRET_KEY_NAMES = re.compile(
    r"(api[-_]?key|api[-_]?token|auth[-_]?token|authorization|password|secret|credential)",
    re.IGNORECASE,
)

# A webhook receiver's path carries its account's token (/hooks/<account>/<token>/); Django logs
# the path of every 4xx answer ("Method Not Allowed: /hooks/…"), before any account is loaded.
WEBHOOK_PATH_TOKEN = re.compile(r"(/hooks/[^/?\s]+/)[^/?\s]+")

_known_values: set[str] = set()
_known_lock = threading.Lock()


def remember_secret(value: str) -> None:
    """Record a secret's plain value so :func:`redact` scrubs it from any text from now on."""
    if value and len(value) >= 4:
        with _known_lock:
            _known_values.add(value)


class Secret:
    """A credential whose text is never shown; ``reveal()`` returns the real value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value or ""
        remember_secret(self._value)

    def reveal(self) -> str:
        """The plain value, for the one place that sends it to the provider."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self):
        """Unpickled (in a child process reading pages for a sync) it is known there too, so
        redaction in that process scrubs it."""
        return (Secret, (self._value,))


def redact_text(text: str) -> str:
    """Replace every known secret value inside ``text`` with the mask."""
    if not text:
        return text
    with _known_lock:
        values = sorted(_known_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(data: Any) -> Any:
    """A copy of ``data`` (dict, list, str…) with secret fields masked and known values scrubbed."""
    if isinstance(data, Secret):
        return MASK
    if isinstance(data, Mapping):
        return {
            key: (MASK if SECRET_KEY_NAMES.search(str(key)) and value else redact(value))
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    if isinstance(data, str):
        return redact_text(data)
    return data


class RedactingFilter(logging.Filter):
    """Logging filter that scrubs known secret values from every record's message and args."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is rather than dropped
            return True
        record.msg = WEBHOOK_PATH_TOKEN.sub(r"\1" + MASK, redact_text(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True

"""What a fake provider received per record, and the webhooks it sent: for checks of "exactly once".

A chaos soak (``bench/soak.py``) needs to prove two things from the provider's side:

- each record the bridge pushed *reached* the provider and was *created* there once, however
  often a retry re-sent it (a re-sent Aiployees lead is answered "Lead already exists", an
  Aloware contact "Contact updated.", an Aéllo ``externalId`` becomes a message): ``Receipts``
  counts, per record key, the requests the fake answered 2xx and how many of them created it;
- each webhook event the fake sent by itself was acknowledged by the bridge: ``WebhookLog``
  keeps, per event, how many attempts it took and the last status. A real service retries a
  webhook the receiver did not acknowledge; :func:`post_with_retries` does too, with backoff,
  so an event sent while the bridge restarts is not simply dropped.

Both are read through the control API: ``/_control/receipts?provider=…`` and
``/_control/webhooks?provider=…``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Receipts:
    """Per record key: requests answered 2xx (``received``) and records made (``created``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def count(self, key: str, created: bool) -> None:
        """One 2xx answer for the record ``key``; ``created`` when it made the record."""
        if not key:
            return
        with self._lock:
            counts = self._counts.setdefault(key, {"received": 0, "created": 0})
            counts["received"] += 1
            counts["created"] += int(created)

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {key: dict(counts) for key, counts in self._counts.items()}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class WebhookLog:
    """Each webhook event a fake sent by itself: its key, attempts, last status, acknowledged."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: list[dict] = []

    def start(self, key: str) -> dict:
        """A new entry for the event ``key`` (not yet acknowledged)."""
        entry = {"key": key, "attempts": 0, "status": None, "acknowledged": False}
        with self._lock:
            self._events.append(entry)
        return entry

    def attempt(self, entry: dict, status: int | None) -> None:
        """One attempt's outcome (None: the receiver could not be reached)."""
        with self._lock:
            entry["attempts"] += 1
            entry["status"] = status
            entry["acknowledged"] = status is not None and 200 <= status < 300

    def as_list(self) -> list[dict]:
        with self._lock:
            return [dict(entry) for entry in self._events]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


class LedgerMixin:
    """What :class:`~integrations.fakes.core.FakeProvider` keeps for the checks: a fake says
    which record a push is about (``record_key``) and how many it has made
    (``created_total``); the base counts each 2xx push in ``receipts``."""

    def start_ledgers(self) -> None:
        self.receipts = Receipts()
        self.webhook_log = WebhookLog()

    def record_key(self, request) -> str:
        """The record a push is about (a phone, an ``externalId``); "" when not a push."""
        return ""

    def created_total(self) -> int:
        """How many records this fake has made: a push that raises it created its record."""
        return 0

    def event_key(self, body: Any) -> str:
        """The key of a webhook event this fake sends (its id), for the webhook log."""
        return str(body.get("id", "")) if isinstance(body, dict) else ""

    def count_receipt(self, request, status: int, created_before: int) -> None:
        """After a handler answered ``status``: count a 2xx push of its record (under the
        fake's lock, so ``created_total`` moved only for this request)."""
        if 200 <= status < 300:
            created = self.created_total() > created_before
            self.receipts.count(self.record_key(request), created)


def post_with_retries(
    send: Callable[[], int],
    entry: dict,
    log: WebhookLog,
    retries: int,
    backoff: float = 1.0,
    sleep: Callable[[float], Any] = time.sleep,
) -> bool:
    """Call ``send()`` (an HTTP status, or OSError) until a 2xx or ``retries`` more tries,
    waiting ``backoff``, doubled each time up to 30 s; whether it was acknowledged."""
    wait = backoff
    for attempt in range(retries + 1):
        try:
            status = send()
        except OSError:
            status = None
        log.attempt(entry, status)
        if entry["acknowledged"]:
            return True
        if attempt < retries:
            sleep(wait)
            wait = min(wait * 2, 30.0)
    return False

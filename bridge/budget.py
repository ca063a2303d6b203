"""An account's sending budget: at most ``concurrency`` requests in flight, at most
``requests_per_second`` per second, shared by every worker process, push, retry and sync.

The budget is a set of slot rows (``AccountSlot``). A worker leases slots; each leased slot
allows one request at a time, paced to ``concurrency / requests_per_second`` seconds, so the
sum over all slots never exceeds the account's rate however the slots are spread over
processes. Leases expire unless renewed, so a killed worker's slots come back by themselves.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import AccountSlot, ProviderAccount

LEASE_SECONDS = 60  # the longest lease; an account's own is shorter (see lease_seconds)


def lease_seconds(account: ProviderAccount) -> float:
    """How long a slot lease lasts: a request's worst case plus a margin.

    Short enough that a killed worker's slots come back soon, long enough that a live worker
    blocked in one slow request keeps its slot.
    """
    return min(LEASE_SECONDS, account.connect_timeout + account.read_timeout + 10)


def new_holder() -> str:
    """A name for this leaser: host, process and a random part, for the admin and the logs."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _free(now):
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def ensure_slots(account: ProviderAccount) -> None:
    """Create the slot rows an account's concurrency calls for (idempotent)."""
    existing = set(account.slots.values_list("number", flat=True))
    missing = [
        AccountSlot(account=account, number=n)
        for n in range(account.concurrency)
        if n not in existing
    ]
    if missing:
        AccountSlot.objects.bulk_create(missing, ignore_conflicts=True)


def acquire(account: ProviderAccount, want: int, holder: str) -> list[int]:
    """Lease up to ``want`` free slots of the account; returns their numbers (maybe none)."""
    ensure_slots(account)
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            AccountSlot.objects.filter(account=account, number__lt=account.concurrency)
            .filter(_free(now))
            .order_by("number")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:want]
        )
        if not candidates:
            return []
        # Compare-and-set: only slots still free are taken (SQLite has no row locks).
        AccountSlot.objects.filter(id__in=candidates).filter(_free(now)).update(
            holder=holder, lease_until=now + timedelta(seconds=lease_seconds(account))
        )
    return list(
        AccountSlot.objects.filter(account=account, holder=holder)
        .filter(lease_until__gt=now)
        .values_list("number", flat=True)
    )


def renew(account: ProviderAccount, holder: str) -> None:
    """Extend this holder's leases on an account."""
    AccountSlot.objects.filter(account=account, holder=holder).update(
        lease_until=timezone.now() + timedelta(seconds=lease_seconds(account))
    )


def release(account_id: int, holder: str) -> None:
    """Give this holder's slots back."""
    AccountSlot.objects.filter(account_id=account_id, holder=holder).update(
        holder="", lease_until=None
    )


class Pacer:
    """Keeps one slot to its share of the account's rate: one request per ``interval``."""

    def __init__(self, account: ProviderAccount):
        self.interval = account.concurrency / max(account.requests_per_second, 0.001)
        self._next = 0.0

    def wait(self, stop: threading.Event | None = None) -> None:
        """Sleep until this slot may send again."""
        delay = self._next - time.monotonic()
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
        self._next = max(self._next, time.monotonic() - self.interval) + self.interval


class Lease:
    """``with Lease(account, want) as slots:`` — lease slots for a block, renewing as it runs."""

    def __init__(self, account: ProviderAccount, want: int = 1):
        self.account = account
        self.want = want
        self.holder = new_holder()
        self.slots: list[int] = []
        self._last_renewal = 0.0
        self._lock = threading.Lock()

    def __enter__(self) -> list[int]:
        self.slots = acquire(self.account, self.want, self.holder)
        self._last_renewal = time.monotonic()
        return self.slots

    def take_more(self, want: int) -> list[int]:
        """Lease up to ``want`` more free slots now, without waiting; every slot now held."""
        self.slots = acquire(self.account, want, self.holder)
        return self.slots

    def keep_alive(self) -> None:
        """Renew the leases when a third of their time has gone (safe from several threads)."""
        with self._lock:
            if time.monotonic() - self._last_renewal > lease_seconds(self.account) / 4:
                renew(self.account, self.holder)
                self._last_renewal = time.monotonic()

    def __exit__(self, *exc_info) -> None:
        release(self.account.pk, self.holder)


def wait_for_slot(account: ProviderAccount, timeout: float = 300.0) -> Lease:
    """A one-slot lease, waiting for a free slot (syncs use this to share the push budget)."""
    deadline = time.monotonic() + timeout
    while True:
        lease = Lease(account, 1)
        if lease.__enter__():
            return lease
        if time.monotonic() > deadline:
            raise TimeoutError(f"No free sending slot for account '{account.name}'")
        time.sleep(0.5)

"""An account's sending budget: at most ``concurrency`` requests in flight, at most
``requests_per_second`` per second, shared by every worker process, push, retry and sync.

The budget is a set of slot rows (``AccountSlot``). A worker leases slots; each leased slot
allows one request at a time, paced to ``concurrency / requests_per_second`` seconds, so the
sum over all slots never exceeds the account's rate however the slots are spread over
processes. Leases expire unless renewed, so a killed worker's slots come back by themselves.

A held :class:`Lease` is renewed by a heartbeat thread for as long as its process lives, not
only between requests: a slot blocked in one long delivery (a Leeloo push is up to four slow
requests) keeps its lease, and a live lease is how the outbox knows a "sending" delivery still
has a sender (``bridge.outbox.upkeep``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import AccountSlot, ProviderAccount

logger = logging.getLogger("bridge.budget")

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


def renew(account: ProviderAccount, holder: str) -> int:
    """Extend this holder's leases on an account; returns how many slots it still holds."""
    return AccountSlot.objects.filter(account=account, holder=holder).update(
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
    """``with Lease(account, want) as slots:`` — lease slots for a block, renewing as it runs.

    While slots are held a heartbeat thread renews them every quarter of the lease, whatever
    the holder's threads are doing (a request may take the whole read timeout, a delivery
    several requests); :meth:`keep_alive` still renews from the caller's thread when due.
    """

    #: How long ``__exit__`` waits for the heartbeat thread (it may be in a slow renewal).
    JOIN_SECONDS = 2.0

    def __init__(self, account: ProviderAccount, want: int = 1):
        self.account = account
        self.want = want
        self.holder = new_holder()
        self.slots: list[int] = []
        self._last_renewal = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> list[int]:
        self.slots = acquire(self.account, self.want, self.holder)
        self._last_renewal = time.monotonic()
        if self.slots:
            self._start_heartbeat()
        return self.slots

    def take_more(self, want: int) -> list[int]:
        """Lease up to ``want`` more free slots now, without waiting; every slot now held."""
        self.slots = acquire(self.account, want, self.holder)
        if self.slots:
            self._start_heartbeat()
        return self.slots

    def keep_alive(self) -> None:
        """Renew the leases when a quarter of their time has gone (safe from several threads)."""
        self._renew_after(lease_seconds(self.account) / 4)

    def _renew_after(self, seconds: float) -> None:
        """Renew if ``seconds`` have gone since the last renewal, unless another thread is
        renewing right now — never wait for it: that renewal may itself be waiting for this
        thread's transaction (a sync's page holding the slot rows, or SQLite's write lock),
        and waiting here would stall both until the database gave up."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() - self._last_renewal > seconds:
                renew(self.account, self.holder)
                self._last_renewal = time.monotonic()
        finally:
            self._lock.release()

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(self.JOIN_SECONDS)
        release(self.account.pk, self.holder)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None:
            self._heartbeat = threading.Thread(
                target=self._beat, name=f"lease-{self.account.name}", daemon=True
            )
            self._heartbeat.start()

    def _beat(self) -> None:
        """The heartbeat thread: renew until the lease is given back (or the process dies).

        A failed renewal (the database restarting) is logged and tried again at the next beat;
        the lease lasts four beats.
        """
        beat = lease_seconds(self.account) / 4
        try:
            while not self._stop.wait(beat):
                try:
                    self._renew_after(beat / 2)
                except Exception:
                    logger.warning("could not renew the lease of %s", self.holder, exc_info=True)
                    connection.close()
        finally:
            connection.close()


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

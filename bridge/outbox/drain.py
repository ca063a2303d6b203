"""Draining an account: its free slots send its due deliveries until none is due soon.

A drain (one django-q2 task, ``bridge.outbox.drain_account``, or ``push --wait`` in-process)
leases some of the account's sending slots (``bridge.budget``), then runs one claimer thread,
which claims deliveries ahead of the slots, and one thread per leased slot, which paces and
sends them (:func:`bridge.outbox.deliver.deliver`); its :class:`OutcomeWriter` writes the
outcomes. :func:`kick_accounts` queues drains; a drain near the worker's timeout hands over to
a fresh one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from bridge import budget, wakeups
from bridge.conf import bridge_setting
from bridge.models import Delivery, ProviderAccount

from .claims import claim_due, release_claims, seconds_until_next_due
from .deliver import Prefetched, deliver
from .writer import OutcomeWriter

logger = logging.getLogger("bridge.outbox")

State = Delivery.State


# --- waking drains ----------------------------------------------------------------------


def kick_accounts(account_ids: Iterable[int]) -> None:
    """Ask the django-q2 cluster to drain these accounts (carries ids only, never secrets).

    One drain task per account, or, with ``BRIDGE_DRAIN_SLOTS``, one per share of its slots,
    so several workers send for one account at once (each drain leases what is free); none
    for an account whose last wake-up has not started yet.
    """
    if not bridge_setting("BRIDGE_KICK_WORKERS", True):
        return
    # One queued drain per account at a time (bridge.wakeups): it drains what later commits add.
    account_ids = [
        pk
        for pk in account_ids
        if wakeups.claim(ProviderAccount.objects.filter(pk=pk), "drain_queued_at")
    ]
    if not account_ids:
        return
    drains = dict.fromkeys(account_ids, 1)
    if bridge_setting("BRIDGE_DRAIN_SLOTS", 0) > 0:
        for account_id, concurrency in ProviderAccount.objects.filter(
            pk__in=account_ids
        ).values_list("pk", "concurrency"):
            drains[account_id] = -(-concurrency // _slots_per_drain(concurrency))
    for account_id in account_ids:
        queued = [
            wakeups.queue_task(
                "bridge.outbox.drain_account", account_id, group="outbox", task_name=None
            )
            for _ in range(drains[account_id])
        ]
        if not any(queued):  # the broker is away: the minute dispatcher drains it later
            wakeups.unclaim(ProviderAccount.objects.filter(pk=account_id), "drain_queued_at")


def _slots_per_drain(concurrency: int) -> int:
    """How many of an account's slots one drain leases (``BRIDGE_DRAIN_SLOTS``, 0 = all)."""
    share = bridge_setting("BRIDGE_DRAIN_SLOTS", 0)
    return max(1, min(concurrency, share)) if share > 0 else max(1, concurrency)


# --- draining an account -----------------------------------------------------------------


def drain_account(
    account_id: int, max_seconds: float | None = None, slots: int | None = None
) -> dict:
    """Send an account's due deliveries with its free slots until none is due (a task).

    Leases up to ``slots`` slots (default: ``BRIDGE_DRAIN_SLOTS``; 0: all of the account's).
    Runs at most ``max_seconds`` (default: three quarters of the django-q2 timeout), then
    hands over to a fresh task so a long batch never hits the worker's timeout.
    """
    wakeups.started(ProviderAccount.objects.filter(pk=account_id), "drain_queued_at")
    account = ProviderAccount.objects.filter(pk=account_id).first()
    if account is None or not account.sendable:
        return {"slots": 0, "states": {}}
    if max_seconds is None:
        max_seconds = settings.Q_CLUSTER.get("timeout", 120) * 0.75
    if slots is None:
        slots = _slots_per_drain(account.concurrency)
    lease = budget.Lease(account, min(slots, account.concurrency) or account.concurrency)
    with lease as leased:
        if not leased:
            return {"slots": 0, "states": {}}
        writer = OutcomeWriter()
        drain = _Drain(account, len(leased), time.monotonic() + max_seconds, lease, writer)
        try:
            _run_threads(drain, leased)
        finally:
            try:
                drain.give_back_ready()  # claimed ahead but not sent: back to the queue
            finally:
                writer.close()  # every known outcome is written before the task returns
    if (drain.outcomes or time.monotonic() >= drain.deadline) and seconds_until_next_due(
        account_id
    ) == 0.0:
        # Handing over at the deadline, or deliveries committed while this drain was ending:
        # their wake-up may have found its slots still leased here and given up.
        kick_accounts([account_id])
    return {"slots": len(leased), "states": dict(drain.outcomes)}


def _run_threads(drain: _Drain, slots: list[int]) -> None:
    """Run the drain's claimer and one thread per leased slot until nothing is left to send."""
    threads = [threading.Thread(target=_claim_loop, args=(drain,), name="outbox-claimer")]
    threads += [
        threading.Thread(target=_slot_loop, args=(drain,), name=f"outbox-{drain.account.name}-{n}")
        for n in slots
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()


IDLE_WAIT_SECONDS = 30.0


@dataclass
class _Claimed:
    """Deliveries claimed ahead for one slot to send in order, with their claim's records and
    links: usually one, or all of a claim's deliveries about the same person (a record pushed
    twice, a lead and its contact), so the second still sees the first's link."""

    deliveries: list[Delivery]
    prefetched: Prefetched
    claimed_at: float  # monotonic


class _Drain:
    """What the threads of one drain share.

    One claimer thread claims the account's due deliveries ahead of the slots (a few per
    slot, in one statement, with their records and links read in a few queries) into
    ``ready``; each slot thread takes the next one, paces, sends, and hands the outcome to the
    writer. Claims and reads are therefore amortised over the whole drain and happen while the
    slots' requests are in flight. The drain also shares the throttle (one slot's 429 stops the
    others before their next request), the deadline and the outcome counts.
    """

    def __init__(self, account: ProviderAccount, slots: int, deadline: float, lease, writer):
        self.account = account
        self.client = account.client()
        self.deadline = deadline
        self.keep_alive = lease.keep_alive
        self.holder = lease.holder  # recorded on each claim: the delivery's sender
        self.writer = writer
        self.outcomes: Counter = Counter()
        self.lock = threading.Condition()
        self.ready: deque[_Claimed] = deque()
        self.busy = 0  # slots between taking a delivery and having its outcome
        self.exhausted = False  # the claimer found nothing due soon and stopped
        self.stopped = False  # the account is no longer sendable, or a thread failed
        self.paused_until = 0.0  # monotonic; set from the account's throttled_until
        # A claim is sent only while fresh (recover_stranded leaves it alone while the drain's
        # lease lives; a claim waiting longer than this is given back rather than sent late).
        self.fresh_seconds = bridge_setting("BRIDGE_STRANDED_MARGIN_SECONDS", 60.0) / 2
        # Claimed ahead: BRIDGE_CLAIM_BATCH per slot, topped up when half of it is gone.
        self.target = min(200, slots * max(1, bridge_setting("BRIDGE_CLAIM_BATCH", 4)))

    # --- the slots' side ----------------------------------------------------------------

    def take(self) -> _Claimed | None:
        """The next claimed delivery for a slot; None when the drain is over."""
        with self.lock:
            while True:
                if self.stopped or time.monotonic() >= self.deadline:
                    return None
                if self.ready and not self.pause_left():
                    self.busy += 1
                    claimed = self.ready.popleft()
                    self.lock.notify_all()  # the claimer tops up below half the target
                    return claimed
                if self.exhausted:
                    return None
                self.lock.wait(0.5)

    def done(self) -> None:
        """A slot is finished with what it took (sent, or given back)."""
        with self.lock:
            self.busy -= 1
            self.lock.notify_all()

    def count(self, state: str) -> None:
        with self.lock:
            self.outcomes[state] += 1
        if state == State.DELIVERED:
            clear_throttled_since(self.account)

    def sendable_now(self, claimed: _Claimed) -> bool:
        """Whether a taken delivery may go now: claim fresh, no pause, before the deadline."""
        return (
            time.monotonic() - claimed.claimed_at <= self.fresh_seconds
            and not self.pause_left()
            and not self.stopped
            and self.writer.error is None
            and time.monotonic() < self.deadline
        )

    def after_failure(self) -> None:
        """Re-read the account at once after a failure; give back what was claimed ahead.

        A 401 pauses the account and a 429 throttles it: neither the other slots nor the
        deliveries claimed ahead may go before that is known.
        """
        self.check_account()
        self.give_back_ready()

    # --- shared -------------------------------------------------------------------------

    def check_account(self) -> None:
        """Re-read whether the account may send and until when it is throttled."""
        account = self.account
        account.refresh_from_db(fields=["paused", "enabled", "throttled_until", "throttled_since"])
        if not account.sendable:
            self.stop()
        self.note_throttle(account.throttled_until)

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify_all()

    def give_back_ready(self) -> int:
        """Release every delivery claimed ahead and not taken by a slot yet."""
        with self.lock:
            unsent = [delivery for claimed in self.ready for delivery in claimed.deliveries]
            self.ready.clear()
        return release_claims(unsent) if unsent else 0

    def note_throttle(self, throttled_until) -> float:
        """Share the account's throttle with every slot; returns the seconds left."""
        if not throttled_until:
            return 0.0
        wait = (throttled_until - timezone.now()).total_seconds()
        if wait > 0:
            with self.lock:
                self.paused_until = max(self.paused_until, time.monotonic() + wait)
        return max(wait, 0.0)

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - time.monotonic())


def _slot_loop(drain: _Drain) -> None:
    """One slot's work: take the next claimed deliveries, pace, send; until the drain is over."""
    pacer = budget.Pacer(drain.account)
    try:
        while (claimed := drain.take()) is not None:
            try:
                _send_claimed(drain, pacer, claimed)
            finally:
                drain.done()
    except Exception:
        logger.exception("outbox slot for account %s stopped on an error", drain.account.name)
        drain.stop()
        raise
    finally:
        connection.close()


def _send_claimed(drain: _Drain, pacer: budget.Pacer, claimed: _Claimed) -> None:
    """Send taken deliveries one at a time; give back what must not go now.

    A delivery goes only while its claim is fresh, the account is not throttled and the
    drain's deadline is not reached; after a failure the account is re-read at once and the
    rest (and whatever was claimed ahead) is given back.
    """
    deliveries = claimed.deliveries
    for index, delivery in enumerate(deliveries):
        pacer.wait()
        if not drain.sendable_now(claimed):
            release_claims(deliveries[index:])
            return
        state = deliver(delivery, drain.client, claimed.prefetched, drain.writer)
        drain.count(state)
        drain.keep_alive()
        if state in (State.FAILED, State.PENDING):
            release_claims(deliveries[index + 1 :])
            drain.after_failure()
            return


def _claim_loop(drain: _Drain) -> None:
    """The drain's claimer: keep about ``target`` deliveries claimed ahead of the slots.

    Looks at the account every second (paused? throttled?), gives back what was claimed ahead
    while the account is throttled, and stops once nothing is due within IDLE_WAIT_SECONDS and
    no slot is still sending (a failure may make a retry due soon).
    """
    checked = 0.0
    try:
        while not drain.stopped and time.monotonic() < drain.deadline:
            if drain.writer.error is not None:
                drain.stop()
                return
            if time.monotonic() - checked > 1.0:
                drain.check_account()
                checked = time.monotonic()
                if drain.stopped:
                    return
            if wait := drain.pause_left():
                drain.give_back_ready()
                time.sleep(min(wait, max(drain.deadline - time.monotonic(), 0), 1.0))
                checked = 0.0
                continue
            want = _claim_wanted(drain)
            if want <= 0:
                continue
            claimed = claim_due(drain.account.pk, want, drain.holder)
            if claimed:
                _add_ready(drain, claimed)
                continue
            if _nothing_due_soon(drain):
                return
            checked = 0.0
    except Exception:
        logger.exception("outbox claimer for account %s stopped on an error", drain.account.name)
        drain.stop()
        raise
    finally:
        with drain.lock:
            drain.exhausted = True
            drain.lock.notify_all()
        connection.close()


def _claim_wanted(drain: _Drain) -> int:
    """How many to claim now; waits (up to 0.5 s) while at least half the target is ready."""
    with drain.lock:
        if len(drain.ready) * 2 >= drain.target:
            drain.lock.wait(0.5)
        if len(drain.ready) * 2 >= drain.target:
            return 0
        return drain.target - len(drain.ready)


def _add_ready(drain: _Drain, claimed: list[Delivery]) -> None:
    """Read a fresh claim's records and links, and hand its deliveries to the slots.

    Deliveries about the same person go to one slot, in claim order (see :class:`_Claimed`).
    Should reading fail, the claim is given back before the error goes up.
    """
    try:
        prefetched = Prefetched(drain.account.pk, claimed, drain.writer.links_in_flight())
    except Exception:
        release_claims(claimed)
        raise
    groups: dict[tuple, list[Delivery]] = {}
    for delivery in claimed:
        groups.setdefault(_person_key(delivery, prefetched), []).append(delivery)
    now = time.monotonic()
    with drain.lock:
        drain.ready.extend(_Claimed(group, prefetched, now) for group in groups.values())
        drain.lock.notify_all()


def _person_key(delivery: Delivery, prefetched: Prefetched) -> tuple:
    """Which person a delivery is about: its record's contact, else the record itself."""
    key = (delivery.content_type_id, delivery.object_id)
    if delivery.content_type_id == prefetched.contact_type_id:
        return ("contact", delivery.object_id)
    contact_id = prefetched.contact_id(prefetched.data.get(key))
    return ("contact", contact_id) if contact_id else key


def _nothing_due_soon(drain: _Drain) -> bool:
    """True when the claimer may stop: nothing due soon and no slot still sending.

    Otherwise sleeps until the next delivery is due (at most a second) and returns False.
    """
    wait = seconds_until_next_due(drain.account.pk)
    with drain.lock:
        if (wait is None or wait > IDLE_WAIT_SECONDS) and drain.busy == 0 and not drain.ready:
            return True
        if drain.busy:
            drain.lock.wait(0.05 if wait is None else min(max(wait, 0.05), 1.0))
            return False
    time.sleep(min(max(wait or 0.0, 0.05), 1.0))
    return False


# --- draining in this process -----------------------------------------------------------


def run_until_settled(
    account_ids: Iterable[int], timeout: float = 600.0, slots: int | None = None
) -> None:
    """Drain accounts in this process until nothing is due soon (``push --wait``, tests).

    Each drain leases up to ``slots`` slots; by default all of the account's, since this
    process is the one sending (``BRIDGE_DRAIN_SLOTS`` is for drain tasks shared by workers).
    """
    deadline = time.monotonic() + timeout
    account_ids = list(account_ids)
    while time.monotonic() < deadline:
        busy = False
        for account_id in account_ids:
            result = drain_account(
                account_id,
                max_seconds=deadline - time.monotonic(),
                slots=0 if slots is None else slots,
            )
            wait = seconds_until_next_due(account_id)
            account = ProviderAccount.objects.get(pk=account_id)
            if account.sendable and wait is not None and wait <= IDLE_WAIT_SECONDS:
                busy = True
            if result["slots"] == 0 and account.sendable and wait is not None:
                busy = True
        if not busy:
            return
        time.sleep(0.2)


# --- answering 429 -----------------------------------------------------------------------


def clear_throttled_since(account: ProviderAccount) -> None:
    """A delivery went through: the account no longer answers only 429 (one write, once)."""
    if account.throttled_since is not None:
        ProviderAccount.objects.filter(pk=account.pk, throttled_since__isnull=False).update(
            throttled_since=None
        )
        account.throttled_since = None

"""The outbox: the only place that turns a Delivery row into a provider call.

Staff and the CLI *enqueue* (one bulk insert per push); django-q2 workers *drain* an account's
due deliveries within its sending budget (``bridge.budget``); a scheduled task *dispatches* due
retries and recovers deliveries stranded in "sending" by a killed worker. A delivery moves

    pending → sending → delivered
                      ↘ failed (retried at next_attempt_at) → … → dead
    pending → skipped (the same content was already delivered)

Guarantee: at-least-once delivery. A delivery is claimed by a drain's slot lease holder
(``claimed_by``) and put back only once that holder's leases have expired, i.e. its worker is
gone (``bridge.safeguards``): a slow delivery is never sent twice at once. A worker killed
after the provider answered but before the row was updated re-sends the delivery; duplicates
at the provider are prevented by each provider's idempotency key (Aéllo ``externalId``,
Aloware's upsert by phone, Aiployees ``allow_dupplicate`` false, Leeloo's look-up by
phone/email before creating), and by the remote link, which turns later pushes into updates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from integrations.errors import (
    ProviderError,
    TransientError,
)

from . import accounts, budget, safeguards
from .conf import bridge_setting
from .models import Contact, Delivery, ProviderAccount, PushBatch, RemoteLink
from .records import load_record_data, record_data

logger = logging.getLogger("bridge.outbox")

State = Delivery.State
DUE_STATES = (State.PENDING, State.FAILED)
OPEN_STATES = (State.PENDING, State.SENDING, State.FAILED)


# --- enqueue -----------------------------------------------------------------------------


def enqueue(
    model,
    targets: dict[ProviderAccount, Iterable[int]],
    *,
    operation: str = "push",
    params: dict[int, dict] | None = None,
    user=None,
    description: str = "",
    skipped: dict | None = None,
) -> PushBatch:
    """Create one delivery per record per account, in one transaction and one insert per account.

    ``targets`` maps each account to the ids of the records going to it; ``params`` maps an
    account id to the options chosen for it. The workers are woken once the transaction
    commits.
    """
    params = params or {}
    content_type = ContentType.objects.get_for_model(model)
    max_attempts = bridge_setting("BRIDGE_MAX_ATTEMPTS", 8)
    targets = {account: list(ids) for account, ids in targets.items()}
    with transaction.atomic():
        batch = PushBatch.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            description=description[:255] or f"{operation} {model._meta.verbose_name_plural}",
            total=sum(len(ids) for ids in targets.values()),
            skipped=skipped or {},
        )
        for account, ids in targets.items():
            template = Delivery(
                account=account,
                batch=batch,
                content_type=content_type,
                object_id=0,
                operation=operation,
                params=params.get(account.pk, {}),
                max_attempts=max_attempts,
            )
            _insert_deliveries(template, ids)
        account_ids = [account.pk for account in targets]
        transaction.on_commit(lambda: kick_accounts(account_ids))
    return batch


def _insert_deliveries(template: Delivery, object_ids: list[int]) -> None:
    """Insert a copy of ``template`` for each object id.

    On PostgreSQL one ``INSERT … SELECT … FROM unnest(ids)``: every column but the object id
    is the same, so 10,000 deliveries are one short statement instead of 10,000 rows of
    parameters. Elsewhere a plain ``bulk_create``.
    """
    if not object_ids:
        return
    if connection.vendor != "postgresql":
        rows = []
        for object_id in object_ids:
            row = Delivery(**{f.attname: getattr(template, f.attname) for f in _copied_fields()})
            row.object_id = object_id
            rows.append(row)
        Delivery.objects.bulk_create(rows, batch_size=2000)
        return
    columns, values, sql_params = [], [], []
    for field in _copied_fields():
        columns.append(connection.ops.quote_name(field.column))
        if field.attname == "object_id":
            values.append("ids.id")
        else:
            values.append("%s")
            value = field.pre_save(template, add=True)
            sql_params.append(field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM unnest(%s::bigint[]) WITH ORDINALITY AS ids(id, n) "
            "ORDER BY ids.n",
            [*sql_params, list(object_ids)],
        )


def _copied_fields():
    return [field for field in Delivery._meta.concrete_fields if not field.primary_key]


def kick_accounts(account_ids: Iterable[int]) -> None:
    """Ask the django-q2 cluster to drain these accounts (carries ids only, never secrets).

    One drain task per account, or, with ``BRIDGE_DRAIN_SLOTS``, one per share of its slots,
    so several workers send for one account at once (each drain leases what is free).
    """
    if not bridge_setting("BRIDGE_KICK_WORKERS", True):
        return
    from django_q.tasks import async_task

    account_ids = list(account_ids)
    drains = dict.fromkeys(account_ids, 1)
    if bridge_setting("BRIDGE_DRAIN_SLOTS", 0) > 0:
        for account_id, concurrency in ProviderAccount.objects.filter(
            pk__in=account_ids
        ).values_list("pk", "concurrency"):
            drains[account_id] = -(-concurrency // _slots_per_drain(concurrency))
    for account_id in account_ids:
        for _ in range(drains[account_id]):
            async_task("bridge.outbox.drain_account", account_id, group="outbox", task_name=None)


def _slots_per_drain(concurrency: int) -> int:
    """How many of an account's slots one drain leases (``BRIDGE_DRAIN_SLOTS``, 0 = all)."""
    share = bridge_setting("BRIDGE_DRAIN_SLOTS", 0)
    return max(1, min(concurrency, share)) if share > 0 else max(1, concurrency)


# --- claiming ----------------------------------------------------------------------------


def _due(now) -> Q:
    return Q(state__in=DUE_STATES) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim_due(account_id: int, limit: int = 1, holder: str = "") -> list[Delivery]:
    """Take up to ``limit`` due deliveries of an account for this worker.

    On PostgreSQL rows other workers are claiming are skipped (``SKIP LOCKED``); everywhere,
    the state change is a compare-and-set, so two workers never send the same delivery. Each
    returned delivery remembers the state it was claimed from (``claimed_from``), so a claim
    that is not sent can be given back as it was (:func:`release_claims`). ``holder`` (the
    claiming drain's lease holder) is recorded: while its lease lives, the delivery is not
    recovered. A due delivery whose attempts are all used is marked dead instead of claimed.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _claim_due_postgresql(account_id, limit, now, holder)
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(_due(now), account_id=account_id)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", "state", "attempts", "max_attempts")[:limit]
        )
        spent = [pk for pk, _, attempts, most in rows if attempts >= most]
        if spent:
            safeguards.give_up(Delivery.objects.filter(_due(now), id__in=spent), now)
        found = {pk: state for pk, state, attempts, most in rows if attempts < most}
        if not found:
            return []
        Delivery.objects.filter(_due(now), id__in=found).update(
            state=State.SENDING,
            claimed_at=now,
            claimed_by=holder,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    claimed = list(
        Delivery.objects.filter(id__in=found, state=State.SENDING, claimed_at=now)
        .select_related("content_type")
        .order_by("next_attempt_at", "id")
    )
    for delivery in claimed:
        delivery.claimed_from = found[delivery.pk]
    return claimed


def _claim_due_postgresql(account_id: int, limit: int, now, holder: str) -> list[Delivery]:
    """The same claim as one statement: lock, compare-and-set and read back in a round trip.

    Rows out of attempts are marked dead by the same statement and not returned.
    """
    table = Delivery._meta.db_table
    due_states = [str(state) for state in DUE_STATES]
    sql = f"""
        WITH due AS (
            SELECT id, state, attempts >= max_attempts AS spent FROM {table}
            WHERE account_id = %s AND state IN (%s, %s)
              AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
            ORDER BY next_attempt_at, id
            LIMIT %s
            FOR UPDATE SKIP LOCKED
        )
        UPDATE {table} AS d
        SET state = CASE WHEN due.spent THEN %s ELSE %s END,
            claimed_at = %s, claimed_by = %s,
            attempts = CASE WHEN due.spent THEN d.attempts ELSE d.attempts + 1 END,
            next_attempt_at = CASE WHEN due.spent THEN NULL ELSE d.next_attempt_at END,
            error_message = CASE WHEN due.spent THEN %s || d.error_message
                                 ELSE d.error_message END,
            updated_at = %s
        FROM due
        WHERE d.id = due.id AND d.state IN (%s, %s)
          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %s)
        RETURNING d.*, due.state AS claimed_from
    """
    params = [
        account_id,
        *due_states,
        now,
        limit,
        str(State.DEAD),
        str(State.SENDING),
        now,
        holder,
        safeguards.OUT_OF_ATTEMPTS,
        now,
        *due_states,
        now,
    ]
    claimed = [d for d in Delivery.objects.raw(sql, params) if d.state == State.SENDING]
    claimed.sort(key=lambda d: (d.next_attempt_at is None, d.next_attempt_at or now, d.pk))
    return claimed


def release_claims(deliveries: Iterable[Delivery]) -> int:
    """Give claimed deliveries that were not sent back to the state they were claimed from.

    Compare-and-set on the claim, and the attempt the claim counted is taken back.
    """
    released = 0
    by_state: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_state.setdefault(getattr(delivery, "claimed_from", State.PENDING), []).append(delivery)
    now = timezone.now()
    for state, group in by_state.items():
        claims = Q()
        for delivery in group:
            claims |= Q(pk=delivery.pk, claimed_at=delivery.claimed_at)
        released += Delivery.objects.filter(claims, state=State.SENDING).update(
            state=state, attempts=F("attempts") - 1, updated_at=now
        )
    return released


def seconds_until_next_due(account_id: int) -> float | None:
    """How long until the account's next waiting delivery is due; None when none waits."""
    soonest = Delivery.objects.filter(account_id=account_id, state__in=DUE_STATES).aggregate(
        soonest=Min("next_attempt_at"),
        waiting=Count("id"),
    )
    if not soonest["waiting"]:
        return None
    if soonest["soonest"] is None:
        return 0.0
    return max(0.0, (soonest["soonest"] - timezone.now()).total_seconds())


# --- delivering one ----------------------------------------------------------------------


def fingerprint(operation: str, params: dict, data: dict) -> str:
    """A hash of what would be sent, to skip re-sending identical content."""
    canonical = json.dumps([operation, params, data], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled by a random 0.5–1."""
    base = bridge_setting("BRIDGE_RETRY_BASE_SECONDS", 5.0)
    cap = bridge_setting("BRIDGE_RETRY_CAP_SECONDS", 900.0)
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


def _finish(delivery: Delivery, **fields) -> bool:
    """Write a delivery's outcome unless another worker or staff changed it meanwhile."""
    fields["updated_at"] = timezone.now()
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, state=State.SENDING, claimed_at=delivery.claimed_at
        ).update(**fields)
    )


def _call_fields(client) -> dict:
    call = client.last_call
    if call is None:
        return {}
    return {
        "last_http_status": call.status,
        "request_redacted": {"method": call.method, "url": call.url, **call.request},
        "response_redacted": call.response,
    }


class Prefetched:
    """The records' plain data and remote links of a claimed batch, read in a few queries.

    ``deliver`` reads them from here instead of two or three queries per delivery, and hands
    back the links it asks the writer for, so a record pushed twice in one batch is still
    skipped the second time. Links the drain's writer has not written yet (``in_flight``, taken
    before the table is read) are waited for instead of read stale from the table.
    """

    def __init__(
        self,
        account_id: int,
        deliveries: list[Delivery],
        in_flight: dict[tuple[int, int], Future] | None = None,
    ):
        wanted: dict[int, set[int]] = {}
        for delivery in deliveries:
            wanted.setdefault(delivery.content_type_id, set()).add(delivery.object_id)
        self.data: dict[tuple[int, int], dict] = {}
        self.contact_type_id = ContentType.objects.get_for_model(Contact).pk
        self.in_flight: dict[tuple[int, int], Future] = dict(in_flight or {})
        contact_ids = set()
        for content_type_id, object_ids in wanted.items():
            model = ContentType.objects.get_for_id(content_type_id).model_class()
            if model is not None:
                for pk, data in load_record_data(model, object_ids).items():
                    self.data[(content_type_id, pk)] = data
                    if contact_id := self.contact_id(data):
                        contact_ids.add(contact_id)
        # The records' own links, and their contacts' (a lead tells Leeloo who its person is).
        wanted.setdefault(self.contact_type_id, set()).update(contact_ids)
        links = Q()
        for content_type_id, object_ids in wanted.items():
            if object_ids:
                links |= Q(content_type_id=content_type_id, object_id__in=object_ids)
        self.links: dict[tuple[int, int], RemoteLink] = {
            (link.content_type_id, link.object_id): link
            for link in (RemoteLink.objects.filter(links, account_id=account_id) if wanted else [])
        }

    def record_data(self, key: tuple[int, int]) -> dict | None:
        """The record's plain data, a copy of its own (a delivery adds to it), or None."""
        data = self.data.get(key)
        if data is None:
            return None
        copied = dict(data)
        if isinstance(copied.get("contact"), dict):
            copied["contact"] = dict(copied["contact"])
        return copied

    @staticmethod
    def contact_id(data: dict | None) -> int | None:
        """The id of the contact a lead's or order's data is about, if any."""
        contact = (data or {}).get("contact")
        return contact.get("id") if isinstance(contact, dict) else None

    def link(self, key: tuple[int, int]) -> RemoteLink | None:
        """The record's link: the one being written for it if any, else the one read."""
        future = self.in_flight.pop(key, None)
        if future is not None and (written := future.result()) is not None:
            self.links[key] = written
        return self.links.get(key)


def deliver(
    delivery: Delivery,
    client,
    prefetched: Prefetched | None = None,
    writer: OutcomeWriter | None = None,
) -> str:
    """Send one claimed delivery and record the outcome; returns the new state.

    The outcome goes through ``writer`` (a drain's: written in the background, in batches);
    without one it is written before this returns. An unexpected exception (a bug, not the
    provider's answer) becomes this delivery's failure (``bridge.safeguards``) and goes no
    further; only the writer's own failure is raised (the outcome stays for recovery).
    """
    writer = writer or OutcomeWriter(threaded=False)
    try:
        return _deliver(delivery, client, prefetched, writer)
    except Exception as error:
        if writer.error is not None:
            raise
        safeguards.log_internal_error(delivery, error)
        fields = safeguards.internal_error_fields(delivery, error, timezone.now())
        writer.finish(delivery, **fields, **_call_fields(client))
        return fields["state"]


def _deliver(delivery: Delivery, client, prefetched: Prefetched | None, writer) -> str:
    """:func:`deliver`'s work: skip, send, or record the provider's refusal."""
    client.last_call = None
    key = (delivery.content_type_id, delivery.object_id)
    if prefetched is None:
        record = delivery.record
        data = record_data(record) if record is not None else None
        link = RemoteLink.objects.filter(
            account_id=delivery.account_id,
            content_type_id=delivery.content_type_id,
            object_id=delivery.object_id,
        ).first()
    else:
        data, link = prefetched.record_data(key), prefetched.link(key)
    if data is None:
        writer.finish(delivery, state=State.DEAD, error_message="The record no longer exists.")
        return State.DEAD
    _add_contact_remote_id(data, delivery.account_id, prefetched)
    content_hash = fingerprint(delivery.operation, delivery.params, data)
    if (
        delivery.operation == "push"
        and link is not None
        and link.pushed_hash == content_hash
        and not delivery.params.get("force")
    ):
        writer.finish(
            delivery, state=State.SKIPPED, remote_id=link.remote_id, content_hash=content_hash
        )
        return State.SKIPPED
    try:
        result = client.perform(
            delivery.operation, data, delivery.params, link.remote_id if link else ""
        )
    except ProviderError as error:
        return _record_failure(delivery, client, error)
    now = timezone.now()
    writer.finish(
        delivery,
        state=State.DELIVERED,
        remote_id=result.remote_id or "",
        content_hash=content_hash,
        delivered_at=now,
        error_code="",
        error_message="",
        next_attempt_at=None,
        **_call_fields(client),
    )
    spec = client.operation_specs().get(delivery.operation)
    if spec is not None and spec.links_record and result.remote_id:
        future = writer.link(delivery, result.remote_id, content_hash, now, first=link is None)
        if prefetched is not None:
            prefetched.in_flight[key] = future
    return State.DELIVERED


def _add_contact_remote_id(
    data: dict, account_id: int, prefetched: Prefetched | None = None
) -> None:
    """Tell the provider who a lead's or order's contact is in this account, when known."""
    contact = data.get("contact")
    if not isinstance(contact, dict) or not contact.get("id"):
        return
    if prefetched is not None:
        link = prefetched.link((prefetched.contact_type_id, contact["id"]))
        contact["remote_id"] = link.remote_id if link else ""
        return
    contact["remote_id"] = (
        RemoteLink.objects.filter(
            account_id=account_id,
            content_type=ContentType.objects.get_for_model(Contact),
            object_id=contact["id"],
        )
        .values_list("remote_id", flat=True)
        .first()
        or ""
    )


def _record_failure(delivery: Delivery, client, error: ProviderError) -> str:
    """Decide what a failure means for the delivery (and, for 401 or 429, its account)."""
    now = timezone.now()
    common = {
        "error_code": error.code[:100],
        "error_message": str(error)[:2000],
        **_call_fields(client),
    }
    if error.status is not None:
        common["last_http_status"] = error.status
    reaction, until = accounts.react_to(
        delivery.account_id, error, fallback_wait=retry_delay(1), now=now
    )
    if reaction is accounts.Reaction.PAUSED:
        # The credential is wrong: the account is paused instead of burning every delivery.
        # This attempt does not count; the delivery waits for the account to be resumed.
        _finish(
            delivery,
            state=State.PENDING,
            attempts=F("attempts") - 1,
            next_attempt_at=now,
            **common,
        )
        return State.PENDING
    if reaction is accounts.Reaction.THROTTLED:
        # Being told to slow down is not the delivery's failure: the attempt does not count.
        _finish(
            delivery,
            state=State.FAILED,
            attempts=F("attempts") - 1,
            next_attempt_at=until,
            **common,
        )
        return State.FAILED
    if isinstance(error, TransientError) and delivery.attempts < delivery.max_attempts:
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        _finish(delivery, state=State.FAILED, next_attempt_at=next_at, **common)
        return State.FAILED
    _finish(delivery, state=State.DEAD, next_attempt_at=None, **common)
    return State.DEAD


# --- writing outcomes --------------------------------------------------------------------


@dataclass
class _FinishItem:
    """A delivery's outcome, to be written if its claim still stands."""

    pk: int
    claimed_at: object
    fields: dict


@dataclass
class _LinkItem:
    """A record's remote link, to be written unless another record of its kind holds the
    remote id."""

    account_id: int
    content_type_id: int
    object_id: int
    remote_id: str
    content_hash: str
    now: object
    first: bool = False  # no link was known for the record when it was claimed
    future: Future = dataclass_field(default_factory=Future)  # the writer's _LinkFuture

    @property
    def key(self) -> tuple[int, int]:
        return (self.content_type_id, self.object_id)

    def as_link(self) -> RemoteLink:
        """The link as written (unsaved instance, for the drain's in-memory look-ups)."""
        return RemoteLink(
            account_id=self.account_id,
            content_type_id=self.content_type_id,
            object_id=self.object_id,
            remote_id=self.remote_id,
            pushed_hash=self.content_hash,
            last_pushed_at=self.now,
        )


class _LinkFuture(Future):
    """A queued link's future: a slot that waits for it makes the writer write now."""

    def __init__(self, writer: OutcomeWriter):
        super().__init__()
        self.writer = writer

    def result(self, timeout=None):
        if not self.done():
            self.writer.hurry()
        return super().result(timeout)


class OutcomeWriter:
    """Writes the outcomes of one drain's deliveries in batches, off the slots' request path.

    A slot knows a delivery's outcome in memory as soon as the provider answers; instead of
    waiting for two database round trips before its next request, it hands the finish (and the
    record's remote link) to this writer and goes on. The writer's thread takes everything
    queued since its last write and writes it at once: on PostgreSQL the finishes are one
    ``UPDATE … FROM jsonb_to_recordset(…)`` (:func:`_finish_many`) and the links one statement
    or one pipelined ``executemany`` (:func:`_link_many`); elsewhere the same statements row
    by row. Semantics are unchanged: each finish is a compare-and-set on
    ``(state=sending, claimed_at)``, and a link is written only when no other local record
    of its kind holds its remote id.

    Nothing is lost if the process dies: a delivery whose outcome was not written yet stays
    ``sending`` and :func:`recover_stranded` sends it again (the providers' idempotency keys
    make that an update, not a duplicate). ``threaded=False`` writes each outcome at once in
    the caller's thread. :meth:`close` writes what is queued and stops the thread; the drain
    calls it before returning, errors or not.

    A write's statements cost about as much as a few dozen rows, so the writer gathers
    outcomes for up to ``GATHER_SECONDS`` (or ``GATHER_ITEMS``) before writing: nothing waits
    for them, except a slot about to send a record whose link is still queued, and that slot
    makes the writer write at once (:meth:`hurry`).
    """

    MAX_BATCH = 500
    MAX_QUEUED = 2000  # a slot waits when the database falls this far behind
    GATHER_SECONDS = 0.1
    GATHER_ITEMS = 100

    def __init__(self, threaded: bool = True):
        self.threaded = threaded
        #: Links being written, by record key: a later delivery of the same record (or a lead
        #: whose contact was just linked) waits for the link instead of reading a stale table.
        self.in_flight: dict[tuple[int, int], Future] = {}
        self.error: BaseException | None = None
        self._queue: list[_FinishItem | _LinkItem] = []
        self._closed = False
        self._hurried = False
        self._changed = threading.Condition()
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
            self._thread.start()

    # --- what the slots call --------------------------------------------------------------

    def finish(self, delivery: Delivery, **fields) -> None:
        """Queue a delivery's outcome (plain values; F() expressions go through _finish)."""
        fields["updated_at"] = timezone.now()
        self._submit(_FinishItem(delivery.pk, delivery.claimed_at, fields))

    def link(
        self, delivery: Delivery, remote_id: str, content_hash: str, now, first: bool = False
    ) -> Future:
        """Queue the record's remote link; the future gives the link, or None when taken.

        ``first``: the record had no link when its delivery was claimed.
        """
        item = _LinkItem(
            delivery.account_id,
            delivery.content_type_id,
            delivery.object_id,
            remote_id,
            content_hash,
            now,
            first,
            _LinkFuture(self),
        )
        with self._changed:
            self.in_flight[item.key] = item.future
        self._submit(item)
        return item.future

    def links_in_flight(self) -> dict[tuple[int, int], Future]:
        """A copy of the links queued or being written (for :class:`Prefetched`)."""
        with self._changed:
            return dict(self.in_flight)

    def hurry(self) -> None:
        """Write what is queued now rather than gather more (a slot waits for a link)."""
        with self._changed:
            self._hurried = True
            self._changed.notify_all()

    def close(self) -> None:
        """Write everything queued, stop the thread, and raise the writer's error if it had one."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise self.error

    # --- the writer's side ------------------------------------------------------------------

    def _submit(self, item) -> None:
        if not self.threaded:
            self._write([item])
            return
        with self._changed:
            while len(self._queue) >= self.MAX_QUEUED and self.error is None:
                self._changed.wait()
            if self.error is not None:
                _fail_links([item], self.error)
                raise RuntimeError("the outbox writer stopped") from self.error
            self._queue.append(item)
            if len(self._queue) in (1, self.GATHER_ITEMS):  # what the writer may wait for
                self._changed.notify_all()

    def _run(self) -> None:
        """The writer thread: write what is queued, batch after batch, until closed."""
        try:
            while batch := self._next_batch():
                self._write(batch)
        except BaseException as error:
            logger.exception("the outbox writer stopped; unwritten outcomes stay 'sending'")
            with self._changed:
                self.error = error
                _fail_links(self._queue, error)
                self._queue.clear()
                self._changed.notify_all()
        finally:
            connection.close()

    def _next_batch(self) -> list:
        """Wait for queued outcomes and take up to MAX_BATCH of them; [] once closed and empty.

        Once one is queued, waits up to GATHER_SECONDS for GATHER_ITEMS, unless closed or
        hurried meanwhile.
        """
        with self._changed:
            while not self._queue and not self._closed:
                self._changed.wait()
            gather_until = time.monotonic() + self.GATHER_SECONDS
            while (
                len(self._queue) < self.GATHER_ITEMS
                and not (self._closed or self._hurried)
                and (left := gather_until - time.monotonic()) > 0
            ):
                self._changed.wait(left)
            self._hurried = False
            batch = self._queue[: self.MAX_BATCH]
            del self._queue[: self.MAX_BATCH]
            self._changed.notify_all()
            return batch

    def _write(self, batch: list) -> None:
        """Write a batch: the finishes first, then the links; answer the links' futures."""
        finishes = [item for item in batch if isinstance(item, _FinishItem)]
        links = [item for item in batch if isinstance(item, _LinkItem)]
        try:
            if finishes:
                _finish_many(finishes)
            linked = _link_many(links) if links else []
        except BaseException as error:
            _fail_links(links, error)
            raise
        for item, new_link in zip(links, linked, strict=True):
            item.future.set_result(new_link)
        with self._changed:
            for item in links:
                if self.in_flight.get(item.key) is item.future:
                    del self.in_flight[item.key]


def _fail_links(items: Iterable, error: BaseException) -> None:
    """Answer the futures of links that will not be written, so no slot waits for ever."""
    for item in items:
        if isinstance(item, _LinkItem) and not item.future.done():
            item.future.set_exception(error)


def _finish_many(items: list[_FinishItem]) -> int:
    """Write several outcomes, each a compare-and-set on its claim; returns how many stood.

    On PostgreSQL one ``UPDATE … FROM jsonb_to_recordset(…)`` per set of columns (all
    deliveries of an outcome write the same columns, so usually one statement); elsewhere the
    ORM update of :func:`_finish`, row by row.
    """
    if connection.vendor != "postgresql":
        return sum(
            Delivery.objects.filter(
                pk=item.pk, state=State.SENDING, claimed_at=item.claimed_at
            ).update(**item.fields)
            for item in items
        )
    groups: dict[tuple[str, ...], list[_FinishItem]] = {}
    for item in items:
        groups.setdefault(tuple(sorted(item.fields)), []).append(item)
    return sum(_finish_group(names, group) for names, group in groups.items())


def _finish_group(names: tuple[str, ...], items: list[_FinishItem]) -> int:
    """One ``UPDATE … FROM jsonb_to_recordset(…)`` for outcomes writing the columns ``names``.

    The rows travel as one JSON document (``json.dumps`` is C, where binding arrays of JSON
    copies value by value was most of the writer's time); PostgreSQL casts each column to its
    type. A JSON ``null`` in a JSON column is written as SQL NULL, as the ORM writes ``None``.
    """
    qn = connection.ops.quote_name
    fields = [Delivery._meta.get_field(name) for name in names]
    columns = ["id bigint", "claim timestamptz"]
    assignments = []
    for n, model_field in enumerate(fields):
        db_type = model_field.db_type(connection)
        columns.append(f"c{n} {db_type}")
        value = f"NULLIF(v.c{n}, 'null'::jsonb)" if db_type == "jsonb" else f"v.c{n}"
        assignments.append(f"{qn(model_field.column)} = {value}")
    rows = [
        {
            "id": item.pk,
            "claim": item.claimed_at.isoformat(),
            **{f"c{n}": _json_value(item.fields[f.name]) for n, f in enumerate(fields)},
        }
        for item in items
    ]
    sql = (
        f"UPDATE {qn(Delivery._meta.db_table)} AS d SET {', '.join(assignments)} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({', '.join(columns)}) "
        "WHERE d.id = v.id AND d.state = %s AND d.claimed_at = v.claim"
    )
    with connection.cursor() as cursor, _server_bound(cursor) as bound:
        bound.execute(sql, [json.dumps(rows), str(State.SENDING)])
        return bound.rowcount


def _json_value(value):
    """A column's value as JSON: datetimes in ISO 8601 (exact to the microsecond)."""
    return value.isoformat() if isinstance(value, datetime) else value


def _server_bound(cursor):
    """A psycopg cursor on Django's connection that sends parameters apart from the statement.

    Django's psycopg cursors bind on the client, quoting every value into the SQL text in
    Python; the writer's batches (a finish's JSON document, a link's values per row) are sent
    as they are instead.
    """
    import psycopg

    return psycopg.Cursor(cursor.cursor.connection)


# Insert or update a record's link unless another local record of the same kind already maps
# to this remote one (two leads of one contact can be the same Leeloo person or Aloware phone;
# the first link stands). A remote id is unique per kind of record (RemoteLink): a tag and a
# tunnel, or a lead and its contact, may each hold the same one.
_LINK_SQL = """
    INSERT INTO {table} (account_id, content_type_id, object_id, remote_id,
                         pushed_hash, last_pushed_at, created_at)
    SELECT %s, %s, %s, %s, %s, %s, %s
    WHERE NOT EXISTS (
        SELECT 1 FROM {table}
        WHERE account_id = %s AND remote_id = %s
          AND content_type_id = %s AND object_id <> %s
    )
    ON CONFLICT (account_id, content_type_id, object_id) DO UPDATE
    SET remote_id = excluded.remote_id, pushed_hash = excluded.pushed_hash,
        last_pushed_at = excluded.last_pushed_at
"""


def _link_params(item: _LinkItem) -> list:
    stamp = connection.ops.adapt_datetimefield_value(item.now)
    key = [item.account_id, item.content_type_id, item.object_id]
    return [
        *key,
        item.remote_id,
        item.content_hash,
        stamp,
        stamp,
        item.account_id,
        item.remote_id,
        *key[1:],
    ]


def _link_many(items: list[_LinkItem]) -> list[RemoteLink | None]:
    """Remember which remote id each record is, so later pushes update and syncs match.

    The statement of :data:`_LINK_SQL` per link, in order, so each sees the ones before it; on
    PostgreSQL all of them in one pipelined ``executemany``. Returns each link, or None where
    the remote id was taken by another record.
    """
    sql = _LINK_SQL.format(table=RemoteLink._meta.db_table)
    if connection.vendor == "postgresql" and len(items) > 1 and _independent(items):
        return _insert_first_links(items)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(items) > 1:
            with _server_bound(cursor) as bound:
                params = [_link_params(item) for item in items]
                bound.executemany(sql + " RETURNING 1", params, returning=True)
                linked = []
                while True:
                    linked.append(bound.fetchone() is not None)
                    if not bound.nextset():
                        break
        else:
            linked = []
            for item in items:
                cursor.execute(sql, _link_params(item))
                linked.append(cursor.rowcount > 0)
    return [item.as_link() if ok else None for item, ok in zip(items, linked, strict=True)]


def _independent(items: list[_LinkItem]) -> bool:
    """Whether one statement writes these links as the row-by-row statements would.

    True when every record is linked for the first time and no two share a record or a remote
    id of one kind: no row's write can then change another row's "taken" check, so reading
    them all from the snapshot before the statement gives the same answers.
    """
    return (
        all(item.first for item in items)
        and len({item.key for item in items}) == len(items)
        and len({(item.content_type_id, item.remote_id) for item in items}) == len(items)
    )


def _insert_first_links(items: list[_LinkItem]) -> list[RemoteLink | None]:
    """:data:`_LINK_SQL` for many independent links at once (see :func:`_independent`)."""
    table = connection.ops.quote_name(RemoteLink._meta.db_table)
    rows = [
        {
            "account_id": item.account_id,
            "content_type_id": item.content_type_id,
            "object_id": item.object_id,
            "remote_id": item.remote_id,
            "pushed_hash": item.content_hash,
            "stamp": item.now.isoformat(),
        }
        for item in items
    ]
    sql = f"""
        INSERT INTO {table} (account_id, content_type_id, object_id, remote_id,
                             pushed_hash, last_pushed_at, created_at)
        SELECT v.account_id, v.content_type_id, v.object_id, v.remote_id,
               v.pushed_hash, v.stamp, v.stamp
        FROM jsonb_to_recordset(%s::jsonb) AS v(account_id bigint, content_type_id integer,
             object_id bigint, remote_id varchar(255), pushed_hash varchar(64), stamp timestamptz)
        WHERE NOT EXISTS (
            SELECT 1 FROM {table} AS o
            WHERE o.account_id = v.account_id AND o.remote_id = v.remote_id
              AND o.content_type_id = v.content_type_id AND o.object_id <> v.object_id
        )
        ON CONFLICT (account_id, content_type_id, object_id) DO UPDATE
        SET remote_id = excluded.remote_id, pushed_hash = excluded.pushed_hash,
            last_pushed_at = excluded.last_pushed_at
        RETURNING content_type_id, object_id
    """
    with connection.cursor() as cursor, _server_bound(cursor) as bound:
        bound.execute(sql, [json.dumps(rows)])
        linked = set(bound.fetchall())
    return [item.as_link() if item.key in linked else None for item in items]


# --- draining an account -----------------------------------------------------------------


def drain_account(
    account_id: int, max_seconds: float | None = None, slots: int | None = None
) -> dict:
    """Send an account's due deliveries with its free slots until none is due (a task).

    Leases up to ``slots`` slots (default: ``BRIDGE_DRAIN_SLOTS``; 0: all of the account's).
    Runs at most ``max_seconds`` (default: three quarters of the django-q2 timeout), then
    hands over to a fresh task so a long batch never hits the worker's timeout.
    """
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
    if time.monotonic() >= drain.deadline and seconds_until_next_due(account_id) == 0.0:
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
            safeguards.clear_throttled_since(self.account)

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


# --- scheduled upkeep --------------------------------------------------------------------


def recover_stranded() -> int:
    """Put back deliveries left in "sending" by a worker that is gone; returns how many.

    Gone means provably gone (:func:`bridge.safeguards.sender_gone`: its slot leases expired),
    never a slow delivery still being sent. One whose attempts are all used is marked dead
    instead, saying so; it is counted too.
    """
    now = timezone.now()
    recovered = 0
    accounts = ProviderAccount.objects.filter(deliveries__state=State.SENDING).distinct()
    for account in accounts:
        stranded = Delivery.objects.filter(
            safeguards.sender_gone(account, now), account=account, state=State.SENDING
        )
        recovered += safeguards.give_up(
            stranded.filter(safeguards.out_of_attempts()),
            now,
            safeguards.STRANDED_OUT_OF_ATTEMPTS,
        )
        recovered += stranded.exclude(safeguards.out_of_attempts()).update(
            state=State.FAILED,
            next_attempt_at=now,
            error_message=safeguards.RECOVERED,
            updated_at=now,
        )
    if recovered:
        logger.warning("recovered %d deliveries stranded in sending", recovered)
    return recovered


def dispatch_due() -> dict:
    """Scheduled every minute: recover stranded deliveries and wake accounts with due work."""
    close_old_connections()
    recovered = recover_stranded()
    now = timezone.now()
    # order_by(): with Delivery's default ordering, DISTINCT would be over (account, created_at,
    # id) — one account id per due delivery, and one drain task queued for each of them.
    due_accounts = list(
        Delivery.objects.filter(_due(now), account__enabled=True, account__paused=False)
        .order_by()
        .values_list("account_id", flat=True)
        .distinct()
    )
    kick_accounts(due_accounts)
    return {"recovered": recovered, "kicked": due_accounts}


# --- staff actions -----------------------------------------------------------------------


def retry_now(deliveries, params: dict | None = None) -> int:
    """Send these deliveries again as soon as possible (failed, dead or cancelled ones).

    ``params`` are added to each delivery's options first (Aloware's ``force_update`` for a
    contact it already has).
    """
    now = timezone.now()
    queryset = deliveries.filter(state__in=[State.FAILED, State.DEAD, State.CANCELLED])
    account_ids = set(queryset.values_list("account_id", flat=True))
    with transaction.atomic():
        if params:
            changed = list(Delivery.objects.filter(pk__in=queryset.values("pk")).only("params"))
            for delivery in changed:
                delivery.params = {**(delivery.params or {}), **params}
            Delivery.objects.bulk_update(changed, ["params"], batch_size=500)
        count = queryset.update(
            state=State.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
    transaction.on_commit(lambda: kick_accounts(account_ids))
    return count


def cancel(deliveries) -> int:
    """Stop deliveries that have not gone out yet."""
    return deliveries.filter(state__in=DUE_STATES).update(
        state=State.CANCELLED, updated_at=timezone.now()
    )


def batch_counts(batch: PushBatch) -> dict:
    """Deliveries of a batch counted by state, with the done/total progress."""
    counts = dict(
        batch.deliveries.values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    total = sum(counts.values())
    open_count = sum(counts.get(state, 0) for state in OPEN_STATES)
    return {
        "total": total,
        "done": total - open_count,
        "finished": open_count == 0,
        "states": {state.value: counts.get(state.value, 0) for state in State},
    }


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

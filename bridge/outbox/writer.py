"""The outcome writer: a drain's outcomes written in batches, off the slots' request path.

A slot knows a delivery's outcome in memory as soon as the provider answers; instead of
waiting for the database before its next request, it hands the outcome (and the record's
remote link) to its drain's :class:`OutcomeWriter` and goes on. The statements are the
database seam's (``bridge.db.outcomes``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.db import connection
from django.utils import timezone

from bridge.db import outcomes as db_outcomes
from bridge.models import Delivery, RemoteLink

logger = logging.getLogger("bridge.outbox")


@dataclass
class _LinkItem(db_outcomes.Link):
    """A record's remote link, to be written unless another record of its kind holds the
    remote id; its future answers the slots waiting for it."""

    future: Future = dataclass_field(default_factory=Future)  # the writer's _LinkFuture

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

    The writer's thread takes everything queued since its last write and writes it at once:
    the finishes with :func:`bridge.db.outcomes.finish_claimed`, then the links with
    :func:`bridge.db.outcomes.upsert_links`. Semantics are those of writing each outcome
    alone: each finish is a compare-and-set on ``(state=sending, claimed_at)``, and a link is
    written only when no other local record of its kind holds its remote id.

    Nothing is lost if the process dies: a delivery whose outcome was not written yet stays
    ``sending`` and ``recover_stranded`` sends it again (the providers' idempotency keys make
    that an update, not a duplicate). ``threaded=False`` writes each outcome at once in the
    caller's thread. :meth:`close` writes what is queued and stops the thread; the drain calls
    it before returning, errors or not.

    A write's statements cost as much as many rows (see docs/benchmarks.md), so the writer
    gathers outcomes for up to ``GATHER_SECONDS`` (or ``GATHER_ITEMS``) before writing:
    nothing waits for them, except a slot about to send a record whose link is still queued,
    and that slot makes the writer write at once (:meth:`hurry`).
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
        self._queue: list[db_outcomes.Finish | _LinkItem] = []
        self._closed = False
        self._hurried = False
        self._changed = threading.Condition()
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
            self._thread.start()

    # --- what the slots call --------------------------------------------------------------

    def finish(self, delivery: Delivery, **fields) -> None:
        """Queue a delivery's outcome (plain values; F() expressions go through ``finish_now``)."""
        fields["updated_at"] = timezone.now()
        self._submit(db_outcomes.Finish(delivery.pk, delivery.claimed_at, fields))

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
        """A copy of the links queued or being written (for ``Prefetched``)."""
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
        finishes = [item for item in batch if isinstance(item, db_outcomes.Finish)]
        links = [item for item in batch if isinstance(item, _LinkItem)]
        try:
            if finishes:
                db_outcomes.finish_claimed(finishes)
            written = db_outcomes.upsert_links(links) if links else []
        except BaseException as error:
            _fail_links(links, error)
            raise
        for item, ok in zip(links, written, strict=True):
            item.future.set_result(item.as_link() if ok else None)
        with self._changed:
            for item in links:
                if self.in_flight.get(item.key) is item.future:
                    del self.in_flight[item.key]


def finish_now(delivery: Delivery, **fields) -> bool:
    """Write a delivery's outcome at once unless another worker or staff changed it meanwhile.

    For outcomes with expressions (``F("attempts") - 1``), which the writer's batches do not
    take.
    """
    fields["updated_at"] = timezone.now()
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, state=Delivery.State.SENDING, claimed_at=delivery.claimed_at
        ).update(**fields)
    )


def _fail_links(items: Iterable, error: BaseException) -> None:
    """Answer the futures of links that will not be written, so no slot waits for ever."""
    for item in items:
        if isinstance(item, _LinkItem) and not item.future.done():
            item.future.set_exception(error)

"""Read-ahead and parallel writers: how a run's pages arrive and how its batches are written.

:func:`open_pipeline` is the one interface ``bridge.sync.paging`` uses: a :class:`Pipeline`
gives the page at an offset (:meth:`Pipeline.page`, read ahead on a thread or in a spawned child
process when the run holds a spare slot, see :class:`PageReader`), gathers consecutive pages'
items (:meth:`Pipeline.add`) and writes them as one batch, in one transaction with the run's
offset past them (:meth:`Pipeline.flush`) — on other database connections while the next batch
is prepared when the resource splits its handling into :class:`Steps` (see
:class:`WritePipeline`). Nothing here knows a provider or a resource.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import current_process, get_context
from typing import NamedTuple

from django.db import connection, transaction

from bridge import budget
from bridge.db import tuning
from integrations import readahead

from . import tunables
from .context import Context

logger = logging.getLogger("bridge.sync")

#: How a batch of items is handled: ``handle(ctx, items)`` in one go.
Handle = Callable[[Context, list], None]


class Steps(NamedTuple):
    """A batch's handling split in three, so batches can be written while the next is read.

    ``prepare(ctx, items)`` reads and decides (this thread's connection) and returns a prepared
    batch with a ``footprint`` (the keys it reads or writes); ``store(ctx, prepared)`` writes
    its rows (a writer's connection); ``count(ctx, prepared)`` adds it to the run's counters.
    """

    prepare: Callable
    store: Callable
    count: Callable

    def in_turn(self, ctx: Context, items: list) -> None:
        """The three steps one after the other, on this thread (where no pipeline runs)."""
        prepared = self.prepare(ctx, items)
        self.store(ctx, prepared)
        self.count(ctx, prepared)


class Pipeline:
    """One list's pages in, its batches out: see the module's docstring."""

    def __init__(self, reader: PageReader, batch: Batch, ctx: Context, handle: Handle):
        self.reader, self.batch, self.ctx, self.handle = reader, batch, ctx, handle

    def page(self, offset: int):
        """The page at ``offset`` (a ``Page``: items, meta, total)."""
        return self.reader.page(offset)

    def add(self, items: list, end_offset: int) -> None:
        """A page's items, to be written with the next batch; ``end_offset`` is past them."""
        self.batch.add(items, end_offset)

    @property
    def waiting(self) -> int:
        """How many items wait to be written."""
        return len(self.batch.items)

    def flush(self) -> None:
        """Write the items waiting, with the run's offset past them, in one transaction."""
        self.batch.write(self.ctx, self.handle)


@contextmanager
def open_pipeline(
    ctx: Context,
    path: str,
    params,
    parse,
    handle: Handle | None,
    steps: Steps | None,
    *,
    size: int,
    ahead: int,
):
    """A :class:`Pipeline` for one list of the run; its helpers are closed on the way out.

    Batches are handled by ``handle``, or by ``steps`` (on a write pipeline where the database
    allows it, else in turn on this thread).
    """
    handle = steps.in_turn if steps is not None else handle
    with (
        PageReader(ctx, path, params, parse, size, ahead=ahead) as reader,
        WritePipeline.for_run(ctx, steps) as writer,
    ):
        yield Pipeline(reader, Batch(pipeline=writer), ctx, handle)


class PageReader:
    """One list's pages, in order, read ahead on a helper thread when the run may.

    Reading ahead needs a second request in flight, so it needs a second slot of the account's
    budget: the run leases one more when one is free (never waiting for it), and the helper
    thread keeps to that slot's pace. Without it, each page is read when asked for, paced by
    the run's own slot. Reading ahead guesses the next offsets (a full page each, never past
    Leeloo's count), one more page ahead after each full page up to ``ahead``, so a list that
    ends soon costs at most a request or two past its end (Leeloo's counts may be the whole
    list's, not the window's); a page that comes back short or capped makes it drop its
    guesses and read from the true offset. The helper only sends requests and parses (no
    database).

    The helper is a thread, or, for a list with at least ``BRIDGE_SYNC_READ_PROCESS_PAGES``
    pages still to read, a child process (``integrations.readahead``): reading and parsing a
    page costs CPU of the same order as writing it, and in one process the two take turns.
    """

    def __init__(self, ctx: Context, path: str, params, parse, size: int, ahead: int):
        self.ctx, self.path, self.params, self.parse, self.size = ctx, path, params, parse, size
        self.ahead = ahead if len(ctx.pacing.lease.take_more(1)) >= 2 else 0
        self.pending: deque[tuple[int, Future]] = deque()
        self.total: int | None = None
        self.full_pages = 0
        self.pacer = budget.Pacer(ctx.account)
        self.helper = ThreadPoolExecutor(1, "sync-read-ahead") if self.ahead else None
        self.child: ProcessPoolExecutor | None = None
        self.job: readahead.ListJob | None = None

    def __enter__(self) -> PageReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self._drop_guesses()
        for executor in (self.helper, self.child):
            if executor is not None:
                executor.shutdown(wait=True)

    def page(self, offset: int):
        """The page at ``offset``."""
        if not self.ahead:
            return self.ctx.call(
                self.ctx.client.list_page,
                self.path,
                self.params,
                limit=self.size,
                offset=offset,
                parse=self.parse,
            )
        if self.pending and self.pending[0][0] != offset:
            self._drop_guesses()
        if not self.pending:
            self._request(offset)
        _, future = self.pending.popleft()
        page = future.result()
        if page.total is not None:
            self.total = page.total
        if len(page.items) >= self.size:
            self.full_pages += 1
            self._guess_after(offset + len(page.items))
        return page

    def _guess_after(self, offset: int) -> None:
        """Ask for the full pages from ``offset`` on, as many ahead as full pages came so far."""
        if self.full_pages == 1 and not self.pending:  # nothing in flight: the helper may change
            self._start_child_for(offset)
        next_offset = self.pending[-1][0] + self.size if self.pending else offset
        depth = min(self.ahead, self.full_pages)
        while len(self.pending) < depth and (self.total is None or next_offset < self.total):
            if self.ctx.out_of_time():
                return
            self._request(next_offset)
            next_offset += self.size

    def _request(self, offset: int) -> None:
        self.ctx.pacing.bookkeeping()
        if self.child is not None:
            future = self.child.submit(readahead.read_page, self.job, offset)
        else:
            future = self.helper.submit(self._fetch, offset)
        self.pending.append((offset, future))

    def _start_child_for(self, offset: int) -> None:
        """Read the rest in a child process when it is long enough and this process may fork."""
        pages = tunables.read_process_pages()
        left = (self.total - offset) // self.size if self.total is not None else 0
        if pages <= 0 or left < pages or current_process().daemon:
            return  # a daemonic process (a django-q2 worker left daemonic) may not have children
        client = self.ctx.client
        self.job = readahead.ListJob(
            provider=f"{type(client).__module__}.{type(client).__qualname__}",
            config=self.ctx.account.config(),
            interval=self.pacer.interval,
            path=self.path,
            params=self.params,
            size=self.size,
            parse=self.parse,
            log_level=logging.getLogger("integrations").getEffectiveLevel(),
        )
        # spawn, not fork: a forked child would share this process's database connections.
        self.child = ProcessPoolExecutor(1, mp_context=get_context("spawn"))

    def _fetch(self, offset: int):
        """On the helper thread: wait for the spare slot's turn, then read and parse the page."""
        self.pacer.wait()
        return self.ctx.client.list_page(
            self.path, self.params, limit=self.size, offset=offset, parse=self.parse
        )

    def _drop_guesses(self) -> None:
        """Forget the pages asked for ahead (those already in flight finish, unread)."""
        while self.pending:
            _, future = self.pending.popleft()
            if not future.cancel():
                wait([future])


@dataclass
class Batch:
    """Consecutive pages' items waiting to be written together, and the offset past them."""

    items: list = field(default_factory=list)
    pages: int = 0
    end_offset: int = 0
    pipeline: WritePipeline | None = None

    def add(self, items: list, end_offset: int) -> None:
        self.items += items
        self.pages += 1
        self.end_offset = end_offset

    def write(self, ctx: Context, handle: Callable[[Context, list], None]) -> None:
        """Handle the items and record the run's progress past them, in one transaction."""
        if not self.pages:
            return
        if self.pipeline is not None:
            self.pipeline.submit(self.items, self.end_offset, self.pages)
        else:
            with ctx.page_transaction():
                handle(ctx, self.items)
                ctx.page_done(self.end_offset, pages=self.pages)
        self.items, self.pages = [], 0


class WritePipeline:
    """Writes batches on other database connections while the next batch is prepared.

    A batch's handling is in three steps: *prepare* (read what it needs, match, compare:
    mostly Python, on this thread's connection), *store* (the inserts and updates: mostly the
    database's time) and *count* (the run's counters). Here up to ``BRIDGE_SYNC_WRITERS``
    batches are stored at once, each on a writer thread of its own with its own connection,
    while this thread prepares the next one. Each batch is still one transaction with the
    run's offset past it, and the offsets still commit in order: a batch stores its rows, then
    waits for the batch before it to commit, and only then counts, records its offset and
    commits — or rolls back when that batch failed. So a run that dies resumes exactly after
    what it committed, as with one connection.

    Preparing before the batches in flight commit reads the database without their rows.
    That gives the same answers unless a batch shares a remote id, a phone, an email or a
    contact with one of them (their *footprints*): then it waits for every batch in flight to
    commit and is prepared again. Batches that share nothing write disjoint rows, so their
    transactions never wait for each other's locks. An error in a writer is raised here at a
    later batch or at the end; the batches committed before it stay written.

    Used where ``bridge.db.tuning.parallel_writes`` allows it (PostgreSQL, outside any
    transaction of the caller's); elsewhere each batch is written on this thread.
    """

    def __init__(self, ctx: Context, steps: Steps):
        self.ctx, self.prepare, self.store, self.count = ctx, *steps
        self.writers = [
            ThreadPoolExecutor(1, f"sync-writer-{n}") for n in range(tunables.writers())
        ]
        #: The batches handed to writers and not yet known committed, oldest first.
        self.in_flight: deque[tuple[Future, frozenset]] = deque()
        self.submitted = 0

    @classmethod
    @contextmanager
    def for_run(cls, ctx: Context, steps: Steps | None):
        """A pipeline for this run when it may have one, else None; closed on the way out."""
        if steps:
            tunables.writers()  # a bad setting is refused on every database, not only where used
        if not steps or not tuning.parallel_writes():
            yield None
            return
        pipeline = cls(ctx, steps)
        try:
            yield pipeline
        finally:
            pipeline.close()

    def submit(self, items: list, end_offset: int, pages: int) -> None:
        """Prepare a batch here, then hand it to a writer (waiting for one to be free)."""
        prepared = self.prepare(self.ctx, items)
        shared = set()
        for _, footprint in self.in_flight:
            shared |= prepared.footprint & footprint
        if shared:  # read what the batches in flight write
            self.wait()
            logger.debug(
                "sync run #%s: batch ending at offset %s shares %d key(s) with batches being "
                "written; prepared again after they committed",
                self.ctx.run.pk,
                end_offset,
                len(shared),
            )
            prepared = self.prepare(self.ctx, items)
        while len(self.in_flight) >= len(self.writers):
            self._wait_oldest()
        before = self.in_flight[-1][0] if self.in_flight else None
        writer = self.writers[self.submitted % len(self.writers)]
        self.submitted += 1
        future = writer.submit(self._write, prepared, end_offset, pages, before)
        self.in_flight.append((future, prepared.footprint))

    def wait(self) -> None:
        """Until every batch in flight is committed; the first error, if one failed, is raised."""
        while self.in_flight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, _ = self.in_flight.popleft()
        future.result()

    def close(self) -> None:
        """Wait for the batches in flight, then close the writer threads and their connections."""
        try:
            self.wait()
        finally:
            for writer in self.writers:
                # Looked up on the writer's thread: its own connection, not this thread's.
                writer.submit(lambda: connection.close())
                writer.shutdown(wait=True)

    def _write(self, prepared, end_offset: int, pages: int, before: Future | None) -> None:
        """On a writer thread: one batch and the run's offset past it, one transaction."""
        saved = None
        try:
            with transaction.atomic():
                tuning.commit_without_waiting_for_disk()
                self.store(self.ctx, prepared)
                if before is not None:
                    before.result()  # committed; raises (rolling this one back) if it failed
                saved = self.ctx.counters()
                self.count(self.ctx, prepared)
                self.ctx.page_done(end_offset, pages=pages)
        except BaseException:
            if saved is not None:
                self.ctx.restore_counters(saved)
            raise

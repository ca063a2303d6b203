"""Per-transaction tuning and planner upkeep for bulk work: PostgreSQL's forms, SQLite's twins.

The sync writes a first pull's hundreds of thousands of rows in batches; these operations let
it ask PostgreSQL for what such batches need (cheaper commits, index probes rather than scans,
fresh statistics, writes on several connections at once) without naming the database. On
SQLite each is a no-op or a plain transaction, so the sync behaves the same on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

from django.db import DatabaseError, connection


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def commit_without_waiting_for_disk() -> None:
    """This transaction commits without waiting for its WAL to reach the disk (PostgreSQL).

    For a sync's batches only: a crash can lose the last batches, never half of one, and the
    run's offset goes with them, so the next run reads them again. SQLite: nothing to do.
    """
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def tuned_session():
    """Reads by lists of keys planned as index probes on this connection while the block
    runs (PostgreSQL).

    A first pull fills the tables faster than their statistics follow, and on a small table
    the default ``random_page_cost`` (4, priced for spinning disks) makes a batch's hundreds of
    index probes look dearer than reading the whole table, so look-ups by key lists become
    sequential scans that cost far more than the probes (docs/benchmarks.md, "Sync"). Here a
    random page is priced as the cached page it is. Set once for a whole run, where it was
    set in each batch's transaction (``SET LOCAL``), which cost every batch two round trips
    (docs/benchmarks.md, "The nightly reconcile").

    Reset on the way out. A connection that cannot take the reset is one Django discards
    (broken) or rolls back (an aborted transaction, which undoes the setting too).
    SQLite's twin does nothing.
    """
    if not _postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET random_page_cost TO 1.1")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET random_page_cost")
        except DatabaseError:
            pass


def analyze(models: Iterable) -> bool:
    """Refresh the planner's statistics of these models' tables; whether it could (PostgreSQL).

    A table the database user does not own is skipped by PostgreSQL with a warning, not an
    error. SQLite's twin does nothing (its planner has no such statistics to go stale) and
    says so by returning False.
    """
    if not _postgresql():
        return False
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return True


def parallel_writes() -> bool:
    """Whether batches may be written on several connections at once, from here.

    PostgreSQL, outside any transaction of the caller's: SQLite writes from one connection at
    a time, and a caller's open transaction must not be split over two.
    """
    return _postgresql() and not connection.in_atomic_block

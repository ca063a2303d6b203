"""Writing through a database restart: one write retried on a fresh connection.

When PostgreSQL restarts, every open connection dies; the next statement on one raises
``OperationalError`` (or ``InterfaceError`` once Django knows it is closed). Most work simply
fails and is retried by its task. But the write that *records* a failure — a sync run marked
failed — must not die with it, or the run stays "running" until its stale takeover. This helper
closes the dead connection and retries that one write for a few seconds while the server comes
back. Inside a transaction nothing can be retried (the transaction is gone): it raises at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: How long a write waits for the database to come back, in all.
RECONNECT_SECONDS = 30.0


def write_surviving_restart(write: Callable[[], T], seconds: float = RECONNECT_SECONDS) -> T:
    """``write()``; after a lost connection, again on a fresh one until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    pause = 0.25
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + pause > deadline:
                raise
            logger.warning("database connection lost (%s); writing again on a new one", exc)
            connection.close()  # Django opens a new connection for the next statement
            time.sleep(pause)
            pause = min(pause * 2, 4.0)

"""The sync's tunables, read at run time through ``bridge.conf.bridge_setting``.

Each names its setting in the error when it is wrong (a run fails with that message).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from bridge.conf import bridge_setting


def page_size() -> int:
    """Records per list request (the document advises against large pages)."""
    return bridge_setting("BRIDGE_SYNC_PAGE_SIZE", 100, minimum=1)


def write_batch() -> int:
    """Records written per transaction: consecutive pages are written together up to this."""
    return bridge_setting("BRIDGE_SYNC_WRITE_BATCH", 1000, minimum=1)


def writers() -> int:
    """Connections a people pull writes its batches on at once (PostgreSQL; see WritePipeline)."""
    return bridge_setting("BRIDGE_SYNC_WRITERS", 2, minimum=1)


def stale_after() -> timedelta:
    """How long a running run may stay silent before another run takes over."""
    return timedelta(seconds=bridge_setting("BRIDGE_SYNC_STALE_SECONDS", 600.0))


def task_seconds() -> float:
    """How long one task may sync before it hands over: three quarters of the worker timeout."""
    return bridge_setting("BRIDGE_SYNC_TASK_SECONDS", settings.Q_CLUSTER.get("timeout", 120) * 0.75)


def read_process_pages() -> int:
    """Pages still to read from which a list is read ahead in a child process (0: never)."""
    return bridge_setting("BRIDGE_SYNC_READ_PROCESS_PAGES", 20)

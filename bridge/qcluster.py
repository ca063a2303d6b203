"""django-q2's cluster made to survive a process SIGKILLed while it waits for work.

A cluster's workers take tasks from one ``multiprocessing`` queue, and its monitor takes results
from another. The standard queue's blocking ``get()`` holds the queue's shared read lock for as
long as it waits. SIGKILL an idle worker (the kernel's OOM killer, an operator, a crash) while it
holds that lock and the lock is never released: the sentinel starts a new worker, which — like
every other worker — waits for the lock forever. The cluster looks alive and runs nothing again
until it is restarted. The chaos soak (issue 19) found this.

``KillSafeQueue`` waits for data *without* the lock and takes the lock only for the moment it
reads one message, so a process killed while idle holds nothing. ``harden()`` makes the cluster
build its queues from it; ``BridgeConfig.ready`` calls it, in every process that runs a cluster.
"""

import time
from multiprocessing.reduction import ForkingPickler
from queue import Empty

from django_q import cluster as q_cluster
from django_q.queues import Queue

# How long one wait for data lasts before the loop checks its deadline again; idle workers wake
# this often, and a lock held by a reader that is busy is waited for this long at most per turn.
WAIT_SLICE_SECONDS = 0.5

_NOTHING = object()


class KillSafeQueue(Queue):
    """django-q2's queue whose ``get()`` holds the shared read lock only while it reads."""

    def get(self, block=True, timeout=None):
        """The next item; waits like ``multiprocessing.Queue.get`` but without the lock held."""
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        deadline = None if timeout is None or not block else time.monotonic() + timeout
        while True:
            wait = self._next_wait(block, deadline)
            if self._reader.poll(wait):
                item = self._take_one(wait_for_lock=WAIT_SLICE_SECONDS if block else 0)
                if item is not _NOTHING:
                    self.size.increment(-1)
                    return item
            if not block or (deadline is not None and time.monotonic() >= deadline):
                raise Empty

    @staticmethod
    def _next_wait(block: bool, deadline: float | None) -> float:
        """How long this turn waits for data: a slice, no more than what is left, or none."""
        if not block:
            return 0
        if deadline is None:
            return WAIT_SLICE_SECONDS
        return max(0.0, min(WAIT_SLICE_SECONDS, deadline - time.monotonic()))

    def _take_one(self, wait_for_lock: float):
        """Read one message under the lock if one is still there (another reader may win)."""
        if wait_for_lock:
            acquired = self._rlock.acquire(True, wait_for_lock)
        else:
            acquired = self._rlock.acquire(False)
        if not acquired:
            return _NOTHING
        try:
            if not self._reader.poll(0):
                return _NOTHING
            data = self._reader.recv_bytes()
            self._sem.release()
        finally:
            self._rlock.release()
        return ForkingPickler.loads(data)


def harden() -> None:
    """Make every django-q2 cluster started in this process build its queues kill-safe."""
    q_cluster.Queue = KillSafeQueue

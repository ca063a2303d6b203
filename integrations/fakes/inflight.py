"""How many requests each fake provider is answering at once, and the most it has been.

An account's ``concurrency`` is a promise the bridge makes to the provider: never more requests
in flight at once, however many workers and clusters send. The fake server counts, per
provider, the requests it has received and not yet answered (from the request's arrival until
its answer is written, a latency fault's wait included) and keeps the maximum, so a test or a
benchmark checks the promise from the provider's side.

Seen from the server a request starts after the client sent it and ends just after its answer
is written (the client may read the answer a moment before the count drops), so one sender's
requests never overlap here: the maximum recorded is never more than the client really had
in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Requests being answered per provider (``now``) and the most at once (``max``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self._max: dict[str, int] = {}

    @contextmanager
    def request(self, provider: str) -> Iterator[None]:
        """Count one request to ``provider`` as in flight for the duration of the block."""
        with self._lock:
            now = self._now.get(provider, 0) + 1
            self._now[provider] = now
            self._max[provider] = max(self._max.get(provider, 0), now)
        try:
            yield
        finally:
            with self._lock:
                self._now[provider] -= 1

    def now(self, provider: str) -> int:
        """Requests to ``provider`` received and not yet answered."""
        with self._lock:
            return self._now.get(provider, 0)

    def max(self, provider: str) -> int:
        """The most requests to ``provider`` in flight at once since the last reset."""
        with self._lock:
            return self._max.get(provider, 0)

    def reset(self) -> None:
        """Forget the maxima; requests still being answered stay counted (and are the new
        maxima), so a request that outlives a reset is neither lost nor counted below zero."""
        with self._lock:
            self._max = {provider: now for provider, now in self._now.items() if now}

    def as_dict(self, provider: str) -> dict:
        """``{"provider", "now", "max"}``, for the control API."""
        with self._lock:
            return {
                "provider": provider,
                "now": self._now.get(provider, 0),
                "max": self._max.get(provider, 0),
            }

"""The chaos schedule: what is broken when, from a seed, with jitter.

Over a run of ``seconds``: a django-q2 worker SIGKILLed about every 60 s, a whole cluster
twice, a web worker once, PostgreSQL restarted once and Redis once, and provider faults
rotating over the three push providers — a burst of 500s, a 429 storm with ``Retry-After``,
dropped connections, slow answers (some slower than the account's read timeout). Every time
is moved by a seeded random jitter, so a seed replays the same run and another seed tries
other interleavings. ``compact`` is the CI minute: each kind of chaos at least once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PROVIDERS = ("aiployees", "aloware", "aello")
#: Each provider fault: its kind and options for the fake (``integrations.fakes.core.Fault``).
FAULTS = (
    ("error_burst", {"kind": "error", "status": 500}),
    ("rate_limit_storm", {"kind": "rate_limit", "retry_after": 2}),
    ("dropped_connections", {"kind": "drop"}),
    ("slow_answers", {"kind": "latency", "seconds": 1.5}),
    ("timeouts", {"kind": "hang", "seconds": 5.0}),
)


@dataclass(order=True)
class Event:
    """One act of chaos ``at`` seconds into the run."""

    at: float
    action: str = field(compare=False)
    options: dict = field(default_factory=dict, compare=False)


def _jitter(rng: random.Random, at: float, spread: float, seconds: float) -> float:
    return round(min(max(1.0, at + rng.uniform(-spread, spread)), seconds - 1.0), 1)


def build(seconds: float, seed: int, compact: bool = False) -> list[Event]:
    """The run's chaos events, in time order."""
    rng = random.Random(seed)
    events: list[Event] = []
    every = 20.0 if compact else 60.0
    at = every
    while at < seconds:
        events.append(Event(_jitter(rng, at, every / 6, seconds), "kill_worker"))
        at += every
    for fraction in (0.3, 0.7):
        events.append(
            Event(_jitter(rng, seconds * fraction, seconds / 20, seconds), "kill_cluster")
        )
    events.append(Event(_jitter(rng, seconds * 0.15, seconds / 20, seconds), "kill_web_worker"))
    # In the CI minute the restarts come early: what a lost queue leaves waits for the
    # bridge's minute jobs, and that wait should fall within the run, not after it.
    postgres_at, redis_at = (0.35, 0.5) if compact else (0.5, 0.85)
    events.append(
        Event(_jitter(rng, seconds * postgres_at, seconds / 20, seconds), "restart_postgres")
    )
    events.append(Event(_jitter(rng, seconds * redis_at, seconds / 30, seconds), "restart_redis"))
    events += provider_faults(rng, seconds, compact)
    return sorted(events)


def provider_faults(rng: random.Random, seconds: float, compact: bool) -> list[Event]:
    """Each fault kind in turn on a provider in turn, every ~45 s (CI: all within the minute)."""
    duration = 6.0 if compact else 15.0
    every = seconds / (len(FAULTS) + 1) if compact else 45.0
    events, at, turn = [], every / 2, 0
    while at < seconds - duration:
        name, fault = FAULTS[turn % len(FAULTS)]
        provider = PROVIDERS[(turn + turn // len(FAULTS)) % len(PROVIDERS)]
        options = {"name": name, "provider": provider, "duration": duration, **fault}
        events.append(Event(_jitter(rng, at, every / 8, seconds), "provider_fault", options))
        at += every
        turn += 1
    return events


def describe(events: list[Event]) -> list[str]:
    """One line per event, for the log and the report."""
    lines = []
    for event in events:
        extra = ""
        if event.action == "provider_fault":
            extra = f" {event.options['name']} at {event.options['provider']}"
        lines.append(f"{event.at:7.1f}s {event.action}{extra}")
    return lines

"""The soak's invariants, as pure functions over what was observed.

:func:`collect` (``bench/chaos/observe.py``) reads the database and the fakes' control API into
an :class:`Observed`; :func:`check` turns it into a :class:`Verdict`. Keeping the checks free of
I/O lets ``tests/test_soak_checker.py`` show that each one fails when it should.

The invariants:

- every intake lead answered 2xx exists, once (its key → the id answered; one lead a phone);
- every accepted lead was routed, and each routed delivery ended ``delivered`` — or ``dead``
  with a recorded reason (an error code or message) — never left ``pending``/``failed``/
  ``sending`` (dead for its attempts running out is not a permanent reason);
- each delivered push reached its fake: the record is there, created exactly once;
- every webhook event the fake sent and the bridge acknowledged was stored and processed
  once (one activity per call);
- no sync run is left ``running``;
- each long-lived process's memory grew less than ``rss_limit_pct``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

UNFINISHED = ("pending", "failed", "sending")


@dataclass
class Delivery:
    id: int
    lead_id: int
    provider: str
    state: str
    key: str  # the record's key at the fake (world.fake_key)
    error: str = ""
    exhausted: bool = False  # dead because its attempts ran out (a transient error, retried)


@dataclass
class Observed:
    """What the run left: from the load, the database and the fakes."""

    accepted: dict[str, int]  # intake key -> lead id the API answered
    leads: dict[int, str]  # lead id -> its contact's phone (the soak source's leads)
    keys: dict[str, int]  # intake key -> lead id (IntakeKey rows)
    routed: set[int]  # lead ids with a LeadRouting row
    deliveries: list[Delivery]
    receipts: dict[str, dict[str, dict[str, int]]]  # provider -> key -> received/created
    webhooks_sent: list[dict]  # {"key", "acknowledged"} per event the fake sent
    events: dict[str, str]  # webhook dedup key or call id -> InboundEvent state
    activities: dict[str, int]  # call id -> activities recorded for it
    syncs_running: int = 0
    syncs: dict[str, int] = field(default_factory=dict)  # sync runs by status
    rss: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Verdict:
    lost: int = 0
    duplicates: int = 0
    stuck: int = 0
    rss_growth_pct: float = 0.0
    problems: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def ok(self, rss_limit_pct: float) -> bool:
        return not (self.lost or self.duplicates or self.stuck) and (
            self.rss_growth_pct < rss_limit_pct
        )

    def fail(self, kind: str, count: int, message: str) -> None:
        """Add ``count`` to ``kind`` (lost, duplicates, stuck), with a line saying what."""
        if count:
            setattr(self, kind, getattr(self, kind) + count)
            self.problems.append(f"{kind}: {message}")


def _examples(items, limit: int = 5) -> str:
    items = list(items)
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(str(item) for item in items[:limit]) + more


def check_intake(seen: Observed, verdict: Verdict) -> None:
    """Every accepted lead exists once; no phone has two leads; a key names one lead."""
    missing = [key for key, lead in seen.accepted.items() if lead not in seen.leads]
    verdict.fail("lost", len(missing), f"accepted leads not in the database: {_examples(missing)}")
    moved = [k for k, lead in seen.accepted.items() if k in seen.keys and seen.keys[k] != lead]
    verdict.fail("duplicates", len(moved), f"keys answered with another lead: {_examples(moved)}")
    phones = Counter(seen.leads.values())
    doubled = [phone for phone, n in phones.items() if n > 1]
    extra = sum(phones[phone] - 1 for phone in doubled)
    verdict.fail("duplicates", extra, f"phones with more than one lead: {_examples(doubled)}")


def check_deliveries(seen: Observed, verdict: Verdict) -> None:
    """Routed, one delivery per lead, ended delivered or dead for a recorded reason."""
    accepted = set(seen.accepted.values()) & set(seen.leads)
    unrouted = sorted(accepted - seen.routed)
    verdict.fail("stuck", len(unrouted), f"accepted leads never routed: {_examples(unrouted)}")
    per_lead = Counter(d.lead_id for d in seen.deliveries)
    undelivered = sorted(seen.routed & accepted - set(per_lead))
    verdict.fail(
        "lost", len(undelivered), f"routed leads with no delivery: {_examples(undelivered)}"
    )
    doubled = [lead for lead, n in per_lead.items() if n > 1]
    verdict.fail(
        "duplicates",
        sum(per_lead[lead] - 1 for lead in doubled),
        f"leads with more than one delivery: {_examples(doubled)}",
    )
    unfinished = [d for d in seen.deliveries if d.state in UNFINISHED]
    sending = [d.id for d in unfinished if d.state == "sending"]
    verdict.fail("stuck", len(sending), f"deliveries left sending: {_examples(sending)}")
    waiting = [d.id for d in unfinished if d.state != "sending"]
    verdict.fail("stuck", len(waiting), f"deliveries left pending/failed: {_examples(waiting)}")
    silent = [d.id for d in seen.deliveries if d.state == "dead" and (not d.error or d.exhausted)]
    verdict.fail(
        "lost", len(silent), f"dead deliveries without a permanent reason: {_examples(silent)}"
    )
    others = [d.id for d in seen.deliveries if d.state not in (*UNFINISHED, "delivered", "dead")]
    verdict.fail("lost", len(others), f"deliveries skipped or cancelled: {_examples(others)}")
    verdict.counts["deliveries"] = dict(Counter(d.state for d in seen.deliveries))


def check_at_fakes(seen: Observed, verdict: Verdict) -> None:
    """Each delivered push is at its fake, created there exactly once."""
    absent, doubled = [], []
    for delivery in seen.deliveries:
        if delivery.state != "delivered":
            continue
        receipt = seen.receipts.get(delivery.provider, {}).get(delivery.key)
        if not receipt or not receipt.get("created"):
            absent.append(delivery.id)
        elif receipt["created"] > 1:
            doubled.append(delivery.id)
    verdict.fail("lost", len(absent), f"delivered but not at the fake: {_examples(absent)}")
    verdict.fail("duplicates", len(doubled), f"created twice at the fake: {_examples(doubled)}")
    resent = sum(
        max(0, r["received"] - 1) for by_key in seen.receipts.values() for r in by_key.values()
    )
    verdict.counts["pushes_received_again"] = resent  # idempotent re-sends, not duplicates


def check_webhooks(seen: Observed, verdict: Verdict) -> None:
    """Every acknowledged webhook event stored, processed, and applied once."""
    acknowledged = {str(w["key"]) for w in seen.webhooks_sent if w.get("acknowledged")}
    unacknowledged = [w["key"] for w in seen.webhooks_sent if not w.get("acknowledged")]
    verdict.fail(
        "lost",
        len(unacknowledged),
        f"webhooks the bridge never acknowledged: {_examples(unacknowledged)}",
    )
    missing = sorted(key for key in acknowledged if key not in seen.events)
    verdict.fail("lost", len(missing), f"acknowledged webhooks not stored: {_examples(missing)}")
    unprocessed = sorted(
        key for key in acknowledged if seen.events.get(key) not in (None, "processed")
    )
    verdict.fail("stuck", len(unprocessed), f"webhooks not processed: {_examples(unprocessed)}")
    twice = sorted(key for key in acknowledged if seen.activities.get(key, 0) > 1)
    verdict.fail(
        "duplicates",
        sum(seen.activities[k] - 1 for k in twice),
        f"webhooks applied more than once: {_examples(twice)}",
    )
    unapplied = sorted(
        key
        for key in acknowledged
        if seen.events.get(key) == "processed" and not seen.activities.get(key)
    )
    verdict.fail(
        "lost", len(unapplied), f"processed webhooks with no activity: {_examples(unapplied)}"
    )
    verdict.counts["webhooks_sent"] = len(seen.webhooks_sent)


def rss_growth_pct(series: list[float]) -> float | None:
    """Growth from the start to the end of a process's samples, in percent: the median of
    the first three against the median of the last three (one sample is not a trend)."""
    if len(series) < 4:
        return None
    first = sorted(series[:3])[1]
    last = sorted(series[-3:])[1]
    return round((last - first) / first * 100, 1) if first else None


def check_memory(seen: Observed, verdict: Verdict) -> None:
    growth = {name: rss_growth_pct(series) for name, series in seen.rss.items()}
    verdict.counts["rss_growth_pct"] = growth
    measured = [value for value in growth.values() if value is not None]
    verdict.rss_growth_pct = max(measured) if measured else 0.0


def check(seen: Observed) -> Verdict:
    """Every invariant over ``seen``."""
    verdict = Verdict()
    check_intake(seen, verdict)
    check_deliveries(seen, verdict)
    check_at_fakes(seen, verdict)
    check_webhooks(seen, verdict)
    verdict.fail("stuck", seen.syncs_running, "sync runs left running")
    check_memory(seen, verdict)
    verdict.counts["leads_accepted"] = len(seen.accepted)
    verdict.counts["sync_runs"] = seen.syncs
    return verdict

"""The soak's figures: ``bench/results.json`` keys, ``bench/details.json`` and a section of
``docs/benchmarks.md`` (between its soak markers, replaced on each full run)."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import common

from .checker import Verdict

START, END = "<!-- soak:start -->", "<!-- soak:end -->"
DOCS = common.ROOT / "docs" / "benchmarks.md"
RSS_LIMIT_PCT = 20.0


def figures(minutes: float, verdict: Verdict) -> dict:
    return {
        "soak_minutes": minutes,
        "soak_leads": verdict.counts.get("leads_accepted", 0),
        "soak_lost": verdict.lost,
        "soak_duplicates": verdict.duplicates,
        "soak_stuck": verdict.stuck,
        "soak_rss_growth_pct": verdict.rss_growth_pct,
    }


def write_results(values: dict, details: dict) -> None:
    """Merge the soak's keys into results.json and its details into details.json, as every
    benchmark does (``bench.common.write_results``: the other figures are kept)."""
    common.write_results(values, {"soak": {**details, "date": datetime.now(UTC).isoformat()}})


def _pairs(counts) -> str:
    """``{"delivered": 6000}`` as "delivered 6000" (None as "none")."""
    if not counts:
        return "none"
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def memory_lines(growth: dict) -> tuple[str, str]:
    """(each group's growth, a line on the long-lived processes' growth) for the docs."""
    measured = {name: pct for name, pct in growth.items() if pct is not None}
    groups = ", ".join(f"{n} {p} %" for n, p in measured.items() if " pid " not in n)
    processes = {n: p for n, p in measured.items() if " pid " in n}
    if not processes:
        return groups or "not measured", "long-lived processes: none measured"
    high = max(processes, key=processes.get)
    low = min(processes, key=processes.get)
    line = (
        f"{len(processes)} processes that lived through at least half the run: from "
        f"{processes[low]} % ({low}) to {processes[high]} % ({high})"
    )
    return groups or "not measured", line


def section(values: dict, verdict: Verdict, details: dict) -> str:
    """The docs' soak section: the figures against their targets, what was done, how to rerun."""
    growth = verdict.counts.get("rss_growth_pct", {})
    rows = [
        ("soak_leads", values["soak_leads"], "—"),
        ("soak_lost", values["soak_lost"], "0"),
        ("soak_duplicates", values["soak_duplicates"], "0"),
        ("soak_stuck", values["soak_stuck"], "0"),
        ("soak_rss_growth_pct", values["soak_rss_growth_pct"], f"< {RSS_LIMIT_PCT:g}"),
    ]
    table = "\n".join(f"| `{key}` | {value} | {target} |" for key, value, target in rows)
    chaos = "\n".join(f"    {line}" for line in details["schedule"])
    groups, per_process = memory_lines(growth)
    return f"""{START}
## Chaos soak (issue 19 §3)

Reproduce: `python bench/soak.py --minutes {values["soak_minutes"]:g} --seed {details["seed"]}`
(15 minutes and seed 19 by default). {values["soak_minutes"]:g} minutes on this machine,
{details["date"]}. A private PostgreSQL and Redis (on free ports, so restarting them
touches nothing else), gunicorn (deploy/gunicorn.conf.py: 2 workers × 4 threads), two django-q2
clusters of 2 workers on the Redis broker, the fake providers. Leads posted at 20 a second to
the intake API, routed by three rules to Aiployees, Aloware and Aéllo; fake Aiployees calls
every lead and posts the post-call webhook (retried until acknowledged); Leeloo's people sync
every minute. Failed posts are retried with the same `externalId`. After the run the queue is
drained ({details["drain_s"]} s) and the checker (`bench/chaos/checker.py`, unit-tested in
`tests/test_soak_checker.py`) reads the database and the fakes' ledgers.

| Key | Measured | Target |
|---|---|---|
{table}

Deliveries by state: {_pairs(verdict.counts.get("deliveries"))}; pushes the fakes received again
(idempotent re-sends after a timeout or a kill, not duplicates):
{verdict.counts.get("pushes_received_again")}; webhooks sent: {verdict.counts.get("webhooks_sent")};
intake answers: {_pairs(details["intake_statuses"])}, posts retried: {details["intake_retries"]};
Leeloo people sync runs by status: {_pairs(verdict.counts.get("sync_runs"))}.
RSS growth (median of the first three samples to the last three, past a 30 s warm-up) of
each service's whole process group since its last start: {groups}; of the {per_process}.
The fake providers, which keep every record sent to them, grew
{details["fakes_rss_growth_pct"]} % (not counted). Restarts by the supervisor:
{_pairs(details["restarts"])}.

The chaos that ran (seconds into the run):

{chaos}

Problems found: {"; ".join(verdict.problems) or "none"}.

CI runs `python bench/soak.py --ci` (one minute, a compact schedule with each kind of chaos,
the same checker; it fails the build when an invariant fails).
{END}
"""


def write_docs(text: str) -> None:
    """Replace the soak section of docs/benchmarks.md (or add it at the end)."""
    current = DOCS.read_text() if DOCS.exists() else ""
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        current = before + text.rstrip("\n") + after
    else:
        current = current.rstrip("\n") + "\n\n" + text
    DOCS.write_text(current)

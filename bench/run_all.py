"""Every benchmark, one after the other: ``python bench/run_all.py`` (or ``make bench``).

Each script merges its figures into bench/results.json; this one runs them in turn (each in
its own process, so one's memory and threads never colour the next one's figures) and prints
the file at the end. ``--skip NAME`` leaves one out; ``--faults-small`` runs the fault suites
at CI size (no PostgreSQL restart).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = {
    "enqueue": ["enqueue.py"],
    "sent_state_cost": ["sent_state_cost.py"],
    "push": ["push_throughput.py"],
    "push_clusters": ["push_clusters.py"],
    "admin": ["admin_scale.py"],
    "sync": ["sync_throughput.py"],
    "sync_million": ["sync_million.py"],
    "faults": ["faults.py"],
    "speed_to_lead": ["speed_to_lead.py"],
    "soak": ["soak.py"],  # 15 minutes of chaos (issue 19); --skip soak leaves it out
}


def main(argv=None) -> int:
    """Run the scripts; the exit status is the number of scripts that failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(SCRIPTS))
    parser.add_argument("--faults-small", action="store_true")
    args = parser.parse_args(argv)
    failed = []
    for name, command in SCRIPTS.items():
        if name in args.skip:
            continue
        extra = ["--small"] if name == "faults" and args.faults_small else []
        print(f"== {name}", flush=True)
        status = subprocess.run([sys.executable, str(BENCH / command[0]), *extra]).returncode
        if status:
            failed.append(name)
    print((BENCH / "results.json").read_text())
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())

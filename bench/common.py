"""What every benchmark shares: Django on its own database, the fake providers in their own
process, seeded leads, and ``bench/results.json`` (merged, so one script never erases another's
figures).

Everything here talks to 127.0.0.1 only: PostgreSQL, Redis and the fake providers.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DETAILS = ROOT / "bench" / "details.json"
PYTHON = sys.executable
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
RESULT_KEYS = (
    "push_ratio_c1",
    "push_ratio_c8",
    "push_ratio_c32",
    "push_sequential_ratio",
    "push_ratio_c64_two_clusters",
    "enqueue_10k_s",
    "sync_ratio_vs_raw",
    "sync_peak_rss_mb_10k",
    "sync_peak_rss_mb_100k",
    "sync_peak_rss_mb_1m",
    "sync_ratio_vs_raw_1m",
    "reconcile_1m_s",
    "admin_p95_ms_1m",
    "admin_raw_p95_ms_1m",
    "faults_lost",
    "faults_duplicates",
    "bad_inputs_refused",
    "bad_inputs_total",
    "hostile_uploads_refused",
    "hostile_uploads_total",
    "hostile_upload_max_s",
    "hostile_upload_max_mb",
    "speed_to_lead_p95_ms_orm",
    "speed_to_lead_p95_ms_redis",
    "speed_to_lead_p99_ms_redis",
    "intake_ratio_vs_bare",
    "intake_rps",
    "sent_state_write_cost_max",
    "soak_minutes",
    "soak_leads",
    "soak_lost",
    "soak_duplicates",
    "soak_stuck",
    "soak_rss_growth_pct",
)


# --- Django ------------------------------------------------------------------------------


def setup_django(database_url: str | None = None, migrate: bool = True) -> None:
    """Configure Django with ``bench.settings`` (creating and migrating the database)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench")
    if url.startswith("postgres"):
        ensure_database(url.rsplit("/", 1)[1])
    else:
        (ROOT / "var").mkdir(exist_ok=True)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def ensure_database(name: str) -> None:
    """Create the PostgreSQL database ``name`` when it does not exist yet."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def raw_connection():
    """A plain psycopg connection to the benchmark database (for the raw-SQL baselines)."""
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        host=params.get("HOST") or "127.0.0.1",
        port=params.get("PORT") or 5432,
        user=params.get("USER") or "postgres",
        dbname=params["NAME"],
        autocommit=True,
    )


def reset_push_tables() -> None:
    """Empty the CRM and outbox tables (TRUNCATE on PostgreSQL, DELETE elsewhere)."""
    from django.db import connection

    from bridge.models import (
        AccountSlot,
        Activity,
        Contact,
        Delivery,
        InboundEvent,
        IntakeKey,
        IntakeSource,
        Lead,
        LeadRouting,
        ProviderAccount,
        PushBatch,
        RemoteLink,
        RoutingRule,
        RuleTarget,
        SentState,
    )

    models = [
        *(Activity, InboundEvent, LeadRouting, IntakeKey, RuleTarget, RoutingRule),
        *(IntakeSource.default_accounts.through, IntakeSource),
        *(Delivery, PushBatch, RemoteLink, AccountSlot, Lead, Contact.tags.through, Contact),
        SentState,  # no foreign keys for CASCADE to follow; TRUNCATE fires no trigger
    ]
    if connection.vendor == "postgresql":
        tables = ", ".join(f'"{m._meta.db_table}"' for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    else:
        for model in models:
            model.objects.all().delete()
    ProviderAccount.objects.all().delete()


def seed_leads(count: int, start: int = 0) -> list[int]:
    """Create ``count`` contacts, each with one lead Aéllo accepts; returns the lead ids."""
    from bridge.models import Contact, Lead

    contacts = Contact.objects.bulk_create(
        [
            Contact(
                first_name=f"Bench{n}",
                last_name="Lead",
                email=f"bench{n}@example.com",
                phone=f"+1212{5000000 + n:07d}",
            )
            for n in range(start, start + count)
        ],
        batch_size=5000,
    )
    leads = Lead.objects.bulk_create(
        [
            Lead(
                contact=contact,
                product_reference=f"REF{n}",
                product_title="Renault Midlum 190.08",
                product_price="45000",
                message="Is it still available?",
                source="bench",
            )
            for n, contact in enumerate(contacts, start=start)
        ],
        batch_size=5000,
    )
    return [lead.pk for lead in leads]


def make_account(fakes: FakeProviders, name: str = "aello", **fields):
    """An Aéllo account pointed at the fake providers' process."""
    from bridge.models import ProviderAccount

    fields.setdefault("connect_timeout", 1.0)
    fields.setdefault("read_timeout", 5.0)
    account = ProviderAccount(
        provider="aello",
        name=name,
        base_url=f"{fakes.url}/aello",
        credential="fake-aello-token",
        **fields,
    )
    account.full_clean()
    account.save()
    return account


# --- the fake providers, in their own process --------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeProviders:
    """``manage.py fakeproviders`` in its own process, steered through ``/_control``."""

    def __init__(self, record: bool = False, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.record = record
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()

    def start(self) -> FakeProviders:
        """Start the process and wait (up to 20 s) until it answers."""
        command = [PYTHON, "manage.py", "fakeproviders", "--port", str(self.port)]
        if not self.record:
            command.append("--no-record")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                self.session.get(f"{self.url}/_control/faults", timeout=1)
                return self
            time.sleep(0.1)
        raise RuntimeError("the fake providers did not start")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def control(self, method: str, path: str, **kwargs):
        """Call ``/_control<path>``; the decoded JSON answer, or None."""
        response = self.session.request(method, f"{self.url}/_control{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        """Forget recorded requests, faults and the fakes' state."""
        self.control("POST", "/reset")

    def add_fault(self, kind: str, provider: str = "aello", **options) -> dict:
        """Inject a fault (see integrations.fakes.core.Fault) for ``provider``."""
        return self.control("POST", "/faults", json={"provider": provider, "kind": kind, **options})

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.control("DELETE", "/faults")

    def state(self, provider: str = "aello") -> dict:
        """What the provider's fake holds, counted (``FakeProvider.summary``)."""
        return self.control("GET", "/state", params={"provider": provider})

    def times(self, provider: str = "aello") -> list[float]:
        """Arrival times of the recorded requests to ``provider``."""
        return self.control("GET", "/times", params={"provider": provider})["times"]


# --- results -----------------------------------------------------------------------------


def _first_line(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    """The machine the figures come from: cores, memory, CPU model, PostgreSQL version."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    pg = ""
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "nproc": os.cpu_count(),
        "memory_gb": memory_gb,
        "cpu_model": cpu or platform.processor(),
        "postgresql": pg,
        "python": platform.python_version(),
    }


def write_results(figures: dict, details: dict | None = None) -> dict:
    """Merge ``figures`` into bench/results.json (with the machine and the date), and the
    per-benchmark ``details`` (every run's numbers) into bench/details.json."""
    unknown = set(figures) - set(RESULT_KEYS)
    if unknown:
        raise ValueError(f"not a results key: {', '.join(sorted(unknown))}")
    current = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    current.update(figures)
    for key in RESULT_KEYS:
        current.setdefault(key, None)
    current["machine"] = machine()
    current["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    if details:
        known = json.loads(DETAILS.read_text()) if DETAILS.exists() else {}
        known.update(details)
        DETAILS.write_text(json.dumps(known, indent=2, sort_keys=True, default=str) + "\n")
    return current


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a running process has used (Linux ``/proc``), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command's name (field 3 on), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pids_named(name: str) -> list[int]:
    """Processes whose command name (``/proc/<pid>/comm``) is ``name``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


def _postgres_pids() -> list[int]:
    return pids_named("postgres")


def _backend_database(pid: int) -> str | None:
    """The database a PostgreSQL backend serves (from its title), None for a server process.

    A backend's title is ``postgres: 15/main: <user> <database> <host>(<port>) <state>``.
    """
    with contextlib.suppress(OSError):
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        words = title.split(": ", 2)[-1].split()
        if len(words) >= 3 and "(" in words[2]:
            return words[1]
    return None


def _django_database() -> str | None:
    """The PostgreSQL database Django is configured for, if it is (the benchmark's own)."""
    with contextlib.suppress(Exception):
        from django.db import connection

        if connection.vendor == "postgresql":
            return connection.settings_dict["NAME"]
    return None


def group_pids(pgid: int) -> list[int]:
    """Every process in process group ``pgid`` (a cluster started in a session of its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def rss_mb(pid: int) -> float | None:
    """A running process's resident memory (``VmRSS``) in MB, else None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def descendants(pid: int) -> list[int]:
    """The running processes whose parent chain leads to ``pid`` (not ``pid`` itself)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


class CpuMeter:
    """CPU seconds PostgreSQL's server processes and some named processes use during a block.

    Read from ``/proc`` every ``interval`` seconds by a thread: a backend that starts during
    the block counts from zero, and the last ``interval`` of one that ends before the block
    does is missed (a connection's backend lives as long as the connection). ``groups``
    names process groups (a django-q2 cluster started in a session of its own: its workers
    too), counted the same way. Linux only: elsewhere the figures are None.

        with CpuMeter(fake=fakes.process.pid, groups={"cluster_1": pgid}) as meter:
            ...
        meter.seconds  # {"postgres": 8.1, "fake": 1.0, "cluster_1": 12.3}
    """

    def __init__(self, interval: float = 0.2, groups: dict[str, int] | None = None, **named: int):
        self.interval = interval
        self.database = _django_database()
        self.named = named
        self.groups = groups or {}
        self.baseline: dict[int, float] = {}
        self.latest: dict[int, float] = {}
        self.seconds: dict[str, float | None] = {}
        self._postgres_seen: set[int] = set()
        self._backend_of: dict[int, str | None] = {}  # backend pid -> its database
        self._group_seen: dict[str, set[int]] = {name: set() for name in self.groups}
        self._stop = threading.Event()

    def __enter__(self) -> CpuMeter:
        self._sample(self.baseline)
        self.latest.update(self.baseline)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(self.latest)
        postgres = self._postgres_seen
        self.seconds = {"postgres": self._used(postgres) if postgres else None}
        if self.database:
            # On a shared machine other databases' backends are someone else's work; the
            # server's own processes (WAL writer, checkpointer, autovacuum) serve everyone.
            ours = {pid for pid in postgres if self._backend_of.get(pid) == self.database}
            self.seconds["postgres_this_database"] = self._used(ours)
            self.seconds["postgres_other_databases"] = self._used(
                {pid for pid in postgres if self._backend_of.get(pid) not in (None, self.database)}
            )
        for name, pid in self.named.items():
            self.seconds[name] = self._used({pid}) if pid in self.latest else None
        for name, pids in self._group_seen.items():
            self.seconds[name] = self._used(pids) if pids else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(self.latest)

    def _sample(self, into: dict[int, float]) -> None:
        postgres = _postgres_pids()
        for pid in set(postgres) - self._postgres_seen:
            self._backend_of[pid] = _backend_database(pid)
        self._postgres_seen.update(postgres)
        members = []
        for name, pgid in self.groups.items():
            pids = group_pids(pgid)
            self._group_seen[name].update(pids)
            members += pids
        for pid in [*postgres, *self.named.values(), *members]:
            used = process_cpu_seconds(pid)
            if used is not None:
                into[pid] = used

    def _used(self, pids: set[int]) -> float:
        return round(sum(self.latest.get(p, 0.0) - self.baseline.get(p, 0.0) for p in pids), 2)


def own_cpu_seconds(seconds: dict) -> float:
    """The CPU seconds a :class:`CpuMeter` counted for the benchmark's own processes: its
    database's backends rather than every postgres process, when it could tell them apart."""
    skip = {"postgres_other_databases"}
    if seconds.get("postgres_this_database") is not None:
        skip.add("postgres")
    return round(sum(v for k, v in seconds.items() if v and k not in skip), 2)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def say(message: str) -> None:
    """Progress on stderr, so stdout stays the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

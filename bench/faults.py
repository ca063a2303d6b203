"""Fault suites, with nothing lost: ``python bench/faults.py`` (``--small`` for CI).

Each scenario pushes leads to the fake Aéllo (its own process) and then counts, at the fake,
the distinct ``externalId``s against the deliveries: *lost* is a lead not delivered or not at
the fake, *duplicates* is a second remote lead for the same local one (Aéllo files a re-sent
``externalId`` as a message under the first lead, so re-sends are counted apart).

- ``provider_down``: the provider drops every connection for a while in the middle of the
  push, then answers 500s for a while, then recovers (drained by threads in this process);
- ``rate_limit_storm``: bursts of 429 with ``Retry-After``; the arrival times at the fake show
  whether the account's rate and the Retry-After windows were respected;
- ``worker_killed``: a real django-q2 cluster is SIGKILLed mid-batch and started again;
- ``postgres_restart``: PostgreSQL is restarted mid-batch under a running cluster
  (``pg_ctlcluster --skip-systemctl-redirect 15 main restart``; full size only, as root);
- ``bad_inputs``: 1,000 malformed contacts and leads through the admin's add forms (and the
  CSV import when ``bridge/resources`` exists): each must be refused with an error, no 500,
  nothing written;
- ``hostile_uploads``: the hostile import files of ``bench/hostile_uploads.py`` (XLSX bombs,
  bad encodings), each uploaded in a child process of its own: refused, and at what time and
  peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, hostile_uploads  # noqa: E402

FULL = {
    "leads": 10_000,
    "storm_leads": 2_000,
    "outage_s": 5.0,
    "bad_inputs": 1_000,
    "bad_imports": 200,
}
SMALL = {"leads": 300, "storm_leads": 150, "outage_s": 1.5, "bad_inputs": 120, "bad_imports": 26}


# --- counting ----------------------------------------------------------------------------


def count_outcome(fakes, lead_ids: list[int]) -> dict:
    """Deliveries by state, and what the fake holds, for the leads pushed."""
    from django.db.models import Count

    from bridge.models import Delivery, Lead

    states = dict(
        Delivery.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    delivered = set(Delivery.objects.filter(state="delivered").values_list("object_id", flat=True))
    external_ids = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "external_id"))
    at_fake = fakes.state()
    remote = set(at_fake["external_ids"])
    lost = sum(
        1 for lead_id in lead_ids if lead_id not in delivered or external_ids[lead_id] not in remote
    )
    return {
        "leads": len(lead_ids),
        "states": states,
        "lost": lost,
        "duplicates": at_fake["leads"] - at_fake["distinct_external_ids"],
        "resent": at_fake["messages"] - at_fake["leads"],
    }


def _delivered() -> int:
    from bridge.models import Delivery

    return Delivery.objects.filter(state="delivered").count()


def _wait_for(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


# --- in-process scenarios ----------------------------------------------------------------


def _push_in_threads(account, lead_ids, timeout: float) -> threading.Thread:
    """Enqueue and drain in a background thread, as ``push --wait`` does."""
    from django.db import connection

    from bridge import outbox
    from bridge.models import Lead

    outbox.enqueue(Lead, {account: lead_ids})

    def drain():
        try:
            outbox.run_until_settled([account.pk], timeout=timeout)
        finally:
            connection.close()

    thread = threading.Thread(target=drain, name="bench-drain", daemon=True)
    thread.start()
    return thread


def provider_down(fakes, make_account, seed, leads: int, outage_s: float) -> dict:
    """Connections dropped, then 500s, in the middle of a push; every lead must arrive once."""
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=0.005)
    lead_ids = seed(leads)
    account = make_account(concurrency=8, requests_per_second=1000, read_timeout=2.0)
    started = time.monotonic()
    drain = _push_in_threads(account, lead_ids, timeout=600)
    _wait_for(lambda: _delivered() >= leads // 3, timeout=300)
    fakes.clear_faults()
    fakes.add_fault("drop", path="/leads")
    time.sleep(outage_s)
    fakes.clear_faults()
    fakes.add_fault("error", path="/leads", status=500)
    time.sleep(outage_s)
    fakes.clear_faults()
    fakes.add_fault("latency", path="/leads", seconds=0.005)
    drain.join(timeout=600)
    result = count_outcome(fakes, lead_ids)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def rate_limit_storm(fakes, make_account, seed, leads: int, rate: float = 100.0) -> dict:
    """Two storms of 429 + Retry-After: 1 mid-push; checks the rate and the waits."""
    fakes.reset()
    lead_ids = seed(leads)
    concurrency = 4
    account = make_account(concurrency=concurrency, requests_per_second=rate)
    drain = _push_in_threads(account, lead_ids, timeout=600)
    storms = []
    for fraction in (0.25, 0.6):
        _wait_for(lambda f=fraction: _delivered() >= leads * f, timeout=300)
        storms.append(len(fakes.times()))
        fakes.add_fault("rate_limit", path="/leads", retry_after=1, times=3 * concurrency)
    drain.join(timeout=600)
    times = fakes.times()
    result = count_outcome(fakes, lead_ids)
    limited = [times[start + n] for start in storms for n in range(3 * concurrency)]
    # A request that left before the 429 came back may land just after it; past 100 ms,
    # anything inside the Retry-After second broke the wait.
    result["inside_retry_after"] = sum(
        1 for t in times if any(s + 0.1 < t < s + 0.95 for s in limited)
    )
    result["max_requests_in_1s"] = max_in_window(times, 1.0)
    result["rate_limit_per_s"] = rate
    result["requests"] = len(times)
    return result


def max_in_window(times: list[float], width: float) -> int:
    """The most arrivals within any ``width``-second window."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] < t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- a real cluster ----------------------------------------------------------------------


class BenchCluster:
    """``manage.py qcluster`` on the benchmark database, in its own process group."""

    def __init__(self, workers: int = 2):
        from django.db import connection

        params = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{params['NAME']}",
            "Q_WORKERS": str(workers),
            "BRIDGE_KICK_WORKERS": "true",
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> BenchCluster:
        (common.ROOT / "var").mkdir(exist_ok=True)
        log = open(common.ROOT / "var" / "qcluster-bench.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=common.ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def _resilient(query, default=None):
    """Run a monitoring query, reconnecting once when PostgreSQL went away meanwhile."""
    from django.db import OperationalError, connection

    for _ in range(2):
        try:
            return query()
        except OperationalError:
            connection.close()
            time.sleep(1)
    return default


def _settle_with_cluster(lead_count: int, timeout: float) -> bool:
    """Run the scheduled upkeep (recovery, kicks) as django-q2's schedule would, faster."""
    from bridge import outbox
    from bridge.models import Delivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _resilient(lambda: Delivery.objects.filter(state="delivered").count(), 0)
        if done >= lead_count:
            return True
        _resilient(outbox.dispatch_due)
        time.sleep(2)
    return False


def _enqueue_for_cluster(account, lead_ids) -> None:
    """Queue the push and wake the cluster, on an empty django-q2 queue (tasks left by an
    earlier scenario's killed cluster would otherwise run first)."""
    from django.conf import settings
    from django_q.models import OrmQ, Task

    OrmQ.objects.all().delete()
    Task.objects.all().delete()

    from bridge import outbox
    from bridge.models import Lead

    settings.BRIDGE_KICK_WORKERS = True
    try:
        outbox.enqueue(Lead, {account: lead_ids})
    finally:
        settings.BRIDGE_KICK_WORKERS = False


def worker_killed(fakes, make_account, seed, leads: int) -> dict:
    """SIGKILL the whole cluster a third of the way in; start it again; count."""
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=0.02)
    lead_ids = seed(leads)
    account = make_account(concurrency=8, requests_per_second=1000, read_timeout=2.0)
    cluster = BenchCluster().start()
    started = time.monotonic()
    try:
        _enqueue_for_cluster(account, lead_ids)
        _wait_for(lambda: _delivered() >= leads // 3, timeout=300)
        cluster.kill()
        killed_at = _delivered()
        cluster = BenchCluster().start()
        settled = _settle_with_cluster(leads, timeout=600)
    finally:
        cluster.stop()
    result = count_outcome(fakes, lead_ids)
    result.update(
        settled=settled,
        delivered_when_killed=killed_at,
        elapsed_s=round(time.monotonic() - started),
    )
    return result


def postgres_restart(fakes, make_account, seed, leads: int) -> dict:
    """Restart PostgreSQL a third of the way in, under a running cluster; it must finish."""
    fakes.reset()
    fakes.add_fault("latency", path="/leads", seconds=0.02)
    lead_ids = seed(leads)
    account = make_account(concurrency=8, requests_per_second=1000, read_timeout=2.0)
    cluster = BenchCluster().start()
    started = time.monotonic()
    try:
        _enqueue_for_cluster(account, lead_ids)
        _wait_for(lambda: _delivered() >= leads // 3, timeout=300)
        restart = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        settled = _settle_with_cluster(leads, timeout=600)
    finally:
        cluster.stop()
    from django.db import connection

    connection.close()
    result = count_outcome(fakes, lead_ids)
    result.update(
        settled=settled,
        restart_rc=restart.returncode,
        restart_output=(restart.stdout + restart.stderr).strip()[:300],
        elapsed_s=round(time.monotonic() - started),
    )
    return result


# --- bad input ---------------------------------------------------------------------------

BAD_PHONES = [
    "12",
    "+1 555",
    "abc",
    "+999 123 456 789",
    "(((",
    "+1 212 ２００ 0000 ext🙂",
    "0" * 30,
]
BAD_EMAILS = ["plainaddress", "@no-local.com", "two@@example.com", "a@b", "jöhn doe@example.com"]


def bad_contact_inputs(count: int) -> list[tuple[str, dict]]:
    """(why, admin form data) pairs that must all be refused."""
    valid = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "",
        "phone": "",
        "other_phones": "[]",
        "custom_fields": "{}",
        "country": "",
        "website": "",
    }
    makers = [
        ("bad phone", lambda n: {"phone": BAD_PHONES[n % len(BAD_PHONES)]}),
        ("bad email", lambda n: {"email": BAD_EMAILS[n % len(BAD_EMAILS)]}),
        ("oversize name", lambda n: {"first_name": "A" * (151 + n % 50)}),
        ("oversize country", lambda n: {"country": "USA" + "X" * (n % 3)}),
        ("NUL character", lambda n: {"last_name": f"Love\x00lace{n}"}),
        ("wrong type: date", lambda n: {"date_of_birth": f"31/02/{1990 + n % 20}"}),
        ("wrong type: JSON list", lambda n: {"other_phones": '{"not": "a list"}'}),
        ("wrong type: JSON", lambda n: {"custom_fields": "{not json"}),
        ("bad other phone", lambda n: {"other_phones": f'["{BAD_PHONES[n % 5]}"]'}),
        ("bad website", lambda n: {"website": f"ht tp://exa mple{n}"}),
        ("duplicate phone", lambda n: {"phone": "+12125550100"}),
        ("duplicate email", lambda n: {"email": "TAKEN@example.com"}),
    ]
    return [
        (why, {**valid, **make(n), "tags-TOTAL_FORMS": "0", "tags-INITIAL_FORMS": "0"})
        for n in range(count)
        for why, make in [makers[n % len(makers)]]
    ]


def bad_lead_inputs(count: int, contact_id: int) -> list[tuple[str, dict]]:
    """(why, admin form data) pairs for the Lead add form that must all be refused."""
    valid = {
        "contact": str(contact_id),
        "status": "new",
        "source": "web",
        "received_at_0": "2026-01-02",
        "received_at_1": "10:00:00",
        "message": "hello",
        "product_reference": "",
        "product_title": "",
        "product_price": "",
    }
    makers = [
        ("no contact", lambda n: {"contact": ""}),
        ("unknown contact", lambda n: {"contact": str(10_000_000 + n)}),
        ("wrong type: contact", lambda n: {"contact": "ada"}),
        ("bad status", lambda n: {"status": "maybe"}),
        ("wrong type: price", lambda n: {"product_price": "forty", "product_reference": "R1"}),
        ("negative price", lambda n: {"product_price": "-5", "product_reference": "R1"}),
        ("product without reference", lambda n: {"product_title": f"Truck {n}"}),
        ("oversize reference", lambda n: {"product_reference": "R" * (101 + n % 10)}),
        ("bad date", lambda n: {"received_at_0": "2026-13-45"}),
        ("NUL character", lambda n: {"message": f"hi\x00{n}"}),
    ]
    return [(why, {**valid, **make(n)}) for n in range(count) for why, make in [makers[n % 10]]]


def bad_inputs(total: int, import_rows: int = 0) -> dict:
    """Post every malformed form as a superuser (and ``import_rows`` malformed CSV rows through
    the import); count the refusals and anything written."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bridge.models import Contact, Lead

    Contact.objects.filter(email__in=["taken@example.com"]).delete()
    taken = Contact.objects.create(first_name="Taken", email="taken@example.com")
    Contact.objects.filter(phone="+12125550100").exclude(pk=taken.pk).delete()
    taken.phone = "+12125550100"
    taken.save()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(raise_request_exception=False)
    client.force_login(user)
    cases = [("contact", *case) for case in bad_contact_inputs(total // 2)]
    cases += [("lead", *case) for case in bad_lead_inputs(total - total // 2, taken.pk)]
    before = (Contact.objects.count(), Lead.objects.count())
    refused, server_errors, accepted = 0, 0, []
    for kind, why, data in cases:
        response = client.post(f"/admin/bridge/{kind}/add/", data)
        if response.status_code >= 500:
            server_errors += 1
        elif response.status_code == 200 and _has_errors(response):
            refused += 1
        else:
            accepted.append(f"{kind}: {why}")
    after = (Contact.objects.count(), Lead.objects.count())
    result = {
        "total": len(cases),
        "refused": refused,
        "server_errors": server_errors,
        "accepted": sorted(set(accepted))[:20],
        "rows_written": (after[0] - before[0]) + (after[1] - before[1]),
    }
    result["import"] = bad_imports(import_rows) if import_rows else {}
    return result


def _has_errors(response) -> bool:
    """The admin re-rendered the form with its error note and at least one field error."""
    return b'class="errornote"' in response.content and b'class="errorlist' in response.content


CONTACT_IMPORT_HEADER = ["first_name", "last_name", "email", "phone", "date_of_birth", "country"]
LEAD_IMPORT_HEADER = [
    "email",
    "phone",
    "first_name",
    "product_reference",
    "product_title",
    "product_price",
    "status",
    "received_at",
]


def bad_import_rows(count: int) -> list[tuple[str, str, list]]:
    """(model, why, row) for the CSV import: each must make its file refused."""
    contact = [
        ("bad phone", lambda n: ["Ada", "L", f"ada{n}@example.com", BAD_PHONES[n % 7], "", ""]),
        (
            "bad email",
            lambda n: ["Ada", "L", BAD_EMAILS[n % 5], f"+1212555{n % 10000:04d}", "", ""],
        ),
        ("oversize name", lambda n: ["A" * (151 + n % 40), "L", f"big{n}@example.com", "", "", ""]),
        ("bad date", lambda n: ["Ada", "L", f"d{n}@example.com", "", f"31/02/{1990 + n % 9}", ""]),
        ("no email or phone", lambda n: [f"Nobody{n}", "", "", "", "", ""]),
        ("NUL character", lambda n: [f"A\x00da{n}", "L", f"nul{n}@example.com", "", "", ""]),
        ("oversize country", lambda n: ["Ada", "L", f"c{n}@example.com", "", "", "USAX"]),
    ]
    lead = [
        ("price not a number", lambda n: [f"p{n}@example.com", "", "", "R1", "T", "abc", "", ""]),
        ("negative price", lambda n: [f"q{n}@example.com", "", "", "R1", "", "-5", "", ""]),
        ("product without reference", lambda n: [f"r{n}@example.com", "", "", "", "T", "", "", ""]),
        ("bad status", lambda n: [f"s{n}@example.com", "", "", "", "", "", "maybe", ""]),
        ("bad date", lambda n: [f"t{n}@example.com", "", "", "", "", "", "", "tomorrow"]),
        ("no person", lambda n: ["", "", "Nobody", "R1", "", "", "", ""]),
    ]
    cases = []
    for n in range(count):
        model, makers = ("contact", contact) if n % 2 == 0 else ("lead", lead)
        why, make = makers[(n // 2) % len(makers)]
        cases.append((model, why, make(n)))
    return cases


def bad_imports(count: int) -> dict:
    """Upload files of one good row and one bad row; the whole file must be refused."""
    import csv
    import io

    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from bridge.models import Contact, Lead, Tag

    imports = common.ROOT / "bridge" / "resources"  # a package now, a module on older branches
    if not (imports.is_dir() or imports.with_suffix(".py").exists()):
        return {"skipped": "bridge/resources is not on this branch"}
    user = get_user_model().objects.get(username="bench-admin")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    good = {
        "contact": ["Good", "Row", "good.row@example.com", "+12125550177", "", ""],
        "lead": ["good.lead@example.com", "", "Good", "R9", "Truck", "100", "new", ""],
    }
    headers = {"contact": CONTACT_IMPORT_HEADER, "lead": LEAD_IMPORT_HEADER}
    before = (Contact.objects.count(), Lead.objects.count(), Tag.objects.count())
    refused, server_errors, accepted = 0, 0, []
    for model, why, row in bad_import_rows(count):
        text = io.StringIO()
        csv.writer(text).writerows([headers[model], good[model], row])
        upload = SimpleUploadedFile("bad.csv", text.getvalue().encode(), content_type="text/csv")
        response = client.post(
            f"/admin/bridge/{model}/import/",
            {"resource": "0", "format": "0", "import_file": upload},
        )
        page = response.content
        if response.status_code >= 500:
            server_errors += 1
        elif response.status_code == 200 and b"Row 3" in page and b"import_file_name" not in page:
            refused += 1
        else:
            accepted.append(f"{model}: {why}")
    after = (Contact.objects.count(), Lead.objects.count(), Tag.objects.count())
    return {
        "total": count,
        "refused": refused,
        "server_errors": server_errors,
        "accepted": sorted(set(accepted))[:20],
        "rows_written": sum(after) - sum(before),
    }


# --- the run -----------------------------------------------------------------------------


def main(argv=None) -> dict:
    """Run the scenarios (all, or ``--only``), print and record the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="The reduced CI size.")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[
            "provider_down",
            "rate_limit_storm",
            "worker_killed",
            "postgres_restart",
            "bad_inputs",
            "hostile_uploads",
        ],
    )
    args = parser.parse_args(argv)
    size = SMALL if args.small else FULL
    wanted = set(
        args.only
        or ["provider_down", "rate_limit_storm", "worker_killed", "bad_inputs", "hostile_uploads"]
    )
    if not args.small and not args.only:
        wanted.add("postgres_restart")
    common.setup_django()
    results = {}
    with common.FakeProviders(record=True) as fakes:

        def make_account(**fields):
            return common.make_account(fakes, **fields)

        def seed(count):
            common.reset_push_tables()
            return common.seed_leads(count)

        scenarios = {
            "provider_down": lambda: provider_down(
                fakes, make_account, seed, size["leads"], size["outage_s"]
            ),
            "rate_limit_storm": lambda: rate_limit_storm(
                fakes, make_account, seed, size["storm_leads"]
            ),
            "worker_killed": lambda: worker_killed(fakes, make_account, seed, size["leads"]),
            "postgres_restart": lambda: postgres_restart(fakes, make_account, seed, size["leads"]),
            "bad_inputs": lambda: bad_inputs(size["bad_inputs"], size["bad_imports"]),
            "hostile_uploads": hostile_uploads.hostile_uploads,
        }
        for name, run in scenarios.items():
            if name in wanted:
                common.say(f"faults: {name}")
                results[name] = run()
                common.say(f"  {results[name]}")
    pushes = [r for name, r in results.items() if name not in ("bad_inputs", "hostile_uploads")]
    figures = {}
    if not args.small:
        if pushes and not args.only:
            figures["faults_lost"] = sum(r["lost"] for r in pushes)
            figures["faults_duplicates"] = sum(r["duplicates"] for r in pushes)
        if "bad_inputs" in results:
            bad, imported = results["bad_inputs"], results["bad_inputs"].get("import") or {}
            figures["bad_inputs_refused"] = bad["refused"] + imported.get("refused", 0)
            figures["bad_inputs_total"] = bad["total"] + imported.get("total", 0)
        if "hostile_uploads" in results:
            figures.update(hostile_uploads.figures(results["hostile_uploads"]))
    key = f"faults{'_small' if args.small else ''}"
    if args.only and common.DETAILS.exists():  # keep the other scenarios' last details
        results = {**json.loads(common.DETAILS.read_text()).get(key, {}), **results}
    common.write_results(figures, {key: results})
    print(figures or results)
    return results


if __name__ == "__main__":
    main()

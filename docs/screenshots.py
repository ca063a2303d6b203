"""The README's screenshots, taken from the running demo so they show what the bridge does today.

Run it with ``make screenshots`` (or ``.venv/bin/python docs/screenshots.py`` from the
repository's root); it needs Debian's ``chromium`` (``make browser``) and Playwright (a dev
dependency), and takes about a minute.

What it does: starts ``manage.py demo`` as a subprocess on free ports against its own SQLite
database (``var/screenshots.sqlite3``, deleted first, so a developer's demo database and Redis
are never touched), waits until the web server answers, then drives Chromium at 1366×900 (the
width staff use) through what staff do: log in as admin/admin, push a few leads to every
account, watch the batch finish, read a pushed contact's timeline once fake Aiployees has
called back, open the dashboard, pause an account and run the alerts job so the Alerts list has
an alert, and open that alert. Each picture is written to ``docs/screenshots/`` under a stable
name (``SHOTS``). The demo's whole process group is stopped at the end, and on error; a failed
step exits non-zero naming the step, with the end of the demo's log (the whole log is kept in
``var/screenshots-demo.log``, the database until the next run).

Pages are found by ids and words that stay (``#push-form``, ``#batch-status``, ``#timeline``,
``#result_list``, an action's label), not by layout, so admin changes do not break the script.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urljoin
from urllib.request import urlopen

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "docs" / "screenshots"
DATABASE = REPO / "var" / "screenshots.sqlite3"
DEMO_LOG = REPO / "var" / "screenshots-demo.log"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 900}
USERNAME, PASSWORD = "admin", "admin"  # the demo's superuser (bridge/management/commands/demo.py)

#: Every picture the script writes (the README shows each), and what it shows.
SHOTS = {
    "dashboard.png": "The dashboard: the outbox queue, each account's health, charts, failures.",
    "push-page.png": "Pushing selected leads: what goes where, the accounts, options.",
    "batch-progress.png": "A push batch, followed live until it is finished.",
    "timeline.png": "A contact's timeline: the lead, each push, the links and the AI call.",
    "alerts.png": "Alerts: an account paused, opened once and resolved when it is mended.",
    "alert.png": "An alert's page: what broke, since when, the page to fix it, who was told.",
}

#: Leads pushed by the script (the first rows of the Leads list).
LEADS_TO_PUSH = 3
#: The account paused to open an alert (any demo account would do).
ACCOUNT_TO_PAUSE = "aloware"


class StepFailed(Exception):
    """A step of the script went wrong; the message names the step and the cause."""


# --- the demo, isolated ---------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(path: Path = DATABASE) -> Path:
    """Delete the script's SQLite database and its journal files, so each run starts clean."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def demo_environment(database: Path, port: int, base: dict | None = None) -> dict:
    """The demo's environment: its own SQLite database, the ORM broker (no Redis), mail on the
    console, a throwaway encryption key (the pictures carry no development-key banner; the
    database is deleted before the next run anyway). Real environment variables and ``.env``
    cannot point it elsewhere: settings read ``.env`` only for variables not set."""
    from cryptography.fernet import Fernet

    env = dict(os.environ if base is None else base)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "REDIS_URL": "",
            "Q_CLUSTER_NAME": "crm-bridge-screenshots",
            "DEBUG": "true",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_demo(env: dict, port: int, fakes_port: int, log) -> subprocess.Popen:
    """``manage.py demo`` in a process group of its own (its server, fakes and cluster too)."""
    command = [sys.executable, "manage.py", "demo", "--port", str(port)]
    command += ["--fakes-port", str(fakes_port)]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_demo(process: subprocess.Popen, seconds: float = 20) -> None:
    """Stop the demo's whole process group as Ctrl-C does; kill what is left after ``seconds``."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, seconds), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The group's other members (server, fakes, cluster workers) may outlive the leader.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def answers(url: str) -> bool:
    """Whether ``url`` answers at all (an HTTP error status counts)."""
    try:
        with urlopen(url, timeout=2):  # noqa: S310 - the demo's own loopback server
            return True
    except URLError as error:
        return bool(getattr(error, "code", None))
    except OSError:
        return False


def wait_for_demo(process: subprocess.Popen, url: str, log_path: Path, seconds: float) -> None:
    """Until the demo says it is running (its webhooks to the fakes are set then) and ``url``
    answers; fails at once if the demo stops."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StepFailed(f"the demo stopped with exit code {process.returncode}")
        if "CRM Bridge is running" in log_path.read_text(errors="replace") and answers(url):
            return
        time.sleep(0.5)
    raise StepFailed(f"the demo did not answer at {url} within {seconds:.0f} s")


def run_alerts_job(env: dict) -> str:
    """The minute's alerts job, run once now in the demo's database (rather than waiting up
    to a minute and more for the cluster's schedule)."""
    code = "from bridge.alerts import run_alerts; print(run_alerts())"
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise StepFailed(f"the alerts job failed: {result.stderr.strip()[-2000:]}")
    # The job's counts are the last line; the e-mail the console backend printed comes first.
    return (result.stdout.strip().splitlines() or [""])[-1]


@contextmanager
def step(name: str) -> Iterator[None]:
    """Name the step any failure inside belongs to."""
    print(f"screenshots: {name}…", flush=True)
    try:
        yield
    except StepFailed as error:
        raise StepFailed(f"step '{name}' failed: {error}") from error
    except Exception as error:  # Playwright's timeouts and errors, a missing element…
        raise StepFailed(f"step '{name}' failed: {type(error).__name__}: {error}") from error


# --- the browser ------------------------------------------------------------------------------


def choose_action(page, label_start: str) -> None:
    """Pick the changelist action whose label starts with ``label_start`` and press Go."""
    value = page.evaluate(
        """(start) => {
            const option = [...document.querySelectorAll("select[name=action] option")]
                .find((o) => o.textContent.trim().startsWith(start));
            return option ? option.value : null;
        }""",
        label_start,
    )
    if not value:
        raise StepFailed(f"no action starting with '{label_start}' on {page.url}")
    page.select_option("select[name=action]", value)
    page.click("button[name=index]")


def shoot(page, out_dir: Path, name: str, element: str | None = None) -> None:
    """The viewport (or one element) as ``out_dir/name``."""
    path = out_dir / name
    if element:
        page.locator(element).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    print(f"screenshots: wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def scroll_to(page, selector: str) -> None:
    """Bring ``selector`` to the top of the viewport, a little room above it."""
    page.locator(selector).first.evaluate(
        "(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 16)"
    )


def take_screenshots(base_url: str, env: dict, out_dir: Path) -> None:
    """Drive Chromium through the demo and write every picture in ``SHOTS``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        try:
            context = browser.new_context(viewport=VIEWPORT)
            # The admin's navigation sidebar folded (staff can fold it too): the page's own
            # content gets the width.
            context.add_init_script(
                "localStorage.setItem('django.admin.navSidebarIsOpen', 'false')"
            )
            page = context.new_page()
            page.set_default_timeout(30_000)
            admin = f"{base_url}/admin"
            with step("log in"):
                page.goto(f"{admin}/login/")
                page.fill("#id_username", USERNAME)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(re.compile(r".*/admin/$"))
            with step("push page"):
                contact_url = select_leads_and_open_push(page, admin)
                shoot(page, out_dir, "push-page.png")
            with step("batch progress"):
                page.click("#push-submit")
                page.wait_for_selector("#batch-progress")
                page.wait_for_function(
                    "document.getElementById('batch-status').textContent.includes('finished')",
                    timeout=120_000,
                )
                scroll_to(page, "#batch-progress")
                shoot(page, out_dir, "batch-progress.png")
            with step("timeline"):
                open_timeline_with_call(page, contact_url)
                shoot(page, out_dir, "timeline.png")
            with step("dashboard"):  # after the push, so its charts have deliveries to show
                page.goto(f"{admin}/")
                page.wait_for_selector("#content-main")
                page.wait_for_load_state("networkidle")
                shoot(page, out_dir, "dashboard.png")
            with step("alerts"):
                pause_account(page, admin, ACCOUNT_TO_PAUSE)
                print(f"screenshots: alerts job: {run_alerts_job(env)}")
                page.goto(f"{admin}/bridge/alert/")
                rows = page.locator("#result_list tbody tr")
                if not rows.filter(has_text=ACCOUNT_TO_PAUSE).count():
                    raise StepFailed(f"no alert about the paused account {ACCOUNT_TO_PAUSE}")
                shoot(page, out_dir, "alerts.png")
            with step("an alert's page"):
                rows.filter(has_text=ACCOUNT_TO_PAUSE).first.locator(
                    "a[href*='/bridge/alert/']"
                ).first.click()
                page.wait_for_url(re.compile(r".*/bridge/alert/\d+/"))
                shoot(page, out_dir, "alert.png")
        finally:
            browser.close()


def select_leads_and_open_push(page, admin: str) -> str:
    """Tick the first leads of the list, open "Push to providers…", tick every account; the
    URL of the first lead's contact (its timeline will show the pushes)."""
    page.goto(f"{admin}/bridge/lead/")
    rows = page.locator("#result_list tbody tr")
    if rows.count() < LEADS_TO_PUSH:
        raise StepFailed(f"the Leads list shows {rows.count()} leads, {LEADS_TO_PUSH} needed")
    contact_url = rows.first.locator("a[href*='/bridge/contact/']").first.get_attribute("href")
    for index in range(LEADS_TO_PUSH):
        rows.nth(index).locator("input.action-select").check()
    choose_action(page, "Push to providers")
    page.wait_for_selector("#push-form")
    accounts = page.locator("#push-form input[name=accounts]")
    if not accounts.count():
        raise StepFailed("the push page lists no account")
    for index in range(accounts.count()):
        accounts.nth(index).check()
    return urljoin(page.url, contact_url)


def open_timeline_with_call(page, contact_url: str, seconds: float = 90) -> None:
    """The contact's page, reloaded until fake Aiployees' call is on its timeline."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(contact_url)
        page.wait_for_selector("#timeline")
        if page.locator("#timeline .timeline-call").count():
            break
        if time.monotonic() > deadline:
            raise StepFailed(f"no call on the timeline of {contact_url} after {seconds:.0f} s")
        time.sleep(2)
    scroll_to(page, "#timeline")


def pause_account(page, admin: str, name: str) -> None:
    """Pause the account ``name`` with the accounts list's "Pause" action, as staff would."""
    page.goto(f"{admin}/bridge/provideraccount/")
    row = page.locator("#result_list tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )
    if not row.count():
        raise StepFailed(f"no account named {name} in the accounts list")
    row.first.locator("input.action-select").check()
    choose_action(page, "Pause")
    page.wait_for_selector(".messagelist")


# --- the whole run ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Take the README's screenshots from the demo.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="Folder for the PNG files.")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print("screenshots: chromium is missing (make browser installs it)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    port, fakes_port = free_port(), free_port()
    env = demo_environment(fresh_database(), port)
    DEMO_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(DEMO_LOG, "w") as log:
        process = start_demo(env, port, fakes_port, log)
        try:
            with step("start the demo"):
                wait_for_demo(process, f"http://127.0.0.1:{port}/admin/", DEMO_LOG, 180)
            take_screenshots(f"http://127.0.0.1:{port}", env, args.out)
        except StepFailed as error:
            print(f"screenshots: {error}", file=sys.stderr)
            tail = DEMO_LOG.read_text(errors="replace").splitlines()[-30:]
            print("The demo's log ends with:\n  " + "\n  ".join(tail), file=sys.stderr)
            return 1
        finally:
            print("screenshots: stopping the demo…", flush=True)
            stop_demo(process)
    print(f"screenshots: done, {len(SHOTS)} pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

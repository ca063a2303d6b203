"""Shared fixtures: accounts, contacts and leads built the way staff would make them."""

import os
import re
import shutil
from pathlib import Path

import pytest

from bridge.models import Contact, Lead, ProviderAccount

# --- Django's deprecations fail the run, on every supported Django --------------------------


def django_deprecation_filters() -> list[str]:
    """A pytest ``error::`` filter for each of the installed Django's deprecation warnings.

    Django names them after the release that removes the feature (``RemovedInDjango60Warning``
    on 5.2, ``RemovedInDjango2028Warning`` on 6.1), so a fixed line in pyproject.toml would
    name a class the other version has not.
    """
    from django.utils import deprecation

    names = sorted(
        name
        for name, value in vars(deprecation).items()
        if name.startswith("RemovedIn") and isinstance(value, type) and issubclass(value, Warning)
    )
    return [f"error::django.utils.deprecation.{name}" for name in names]


def pytest_configure(config):
    """Turn Django's deprecation warnings into errors for every test.

    The lines go before pyproject.toml's ``filterwarnings``: pytest applies the lines in order
    and a later line wins, so pyproject's ignores (django_q's own deprecations, the
    FORMS_URLFIELD_ASSUME_HTTPS notice) still hold, and a ``filterwarnings`` mark or ``-W`` on
    the command line still overrides both. ``getini`` hands out the list pytest reads each
    time, as ``addinivalue_line`` (which can only append) relies on.
    """
    config.getini("filterwarnings")[:0] = django_deprecation_filters()


@pytest.fixture
def make_contact(db):
    """Create a valid Contact through full_clean, as the admin would."""
    counter = iter(range(1, 1_000_000))

    def make(**fields):
        n = next(counter)
        values = {
            "first_name": "Jane",
            "last_name": f"Doe{n}",
            "email": f"jane{n}@example.com",
            "phone": f"+1310555{n:04d}",
        }
        values.update(fields)
        tags = values.pop("tags", [])
        contact = Contact(**values)
        contact.full_clean()
        contact.save()
        if tags:
            contact.tags.set(tags)
        return contact

    return make


@pytest.fixture
def make_lead(db, make_contact):
    def make(contact=None, **fields):
        values = {
            "product_reference": "10864675",
            "product_title": "Renault Midlum 190.08",
            "product_price": "45000",
            "message": "Is it still available?",
            "source": "website",
        }
        values.update(fields)
        lead = Lead(contact=contact or make_contact(), **values)
        lead.full_clean()
        lead.save()
        return lead

    return make


@pytest.fixture
def make_account(db):
    def make(provider="aello", name=None, credential="test-credential-123456", **fields):
        account = ProviderAccount(
            provider=provider, name=name or provider, credential=credential, **fields
        )
        account.full_clean()
        account.save()
        return account

    return make


@pytest.fixture(scope="session")
def fake_server():
    """The local fake providers, served over real HTTP for the whole test session."""
    from integrations.fakes.core import FakeServer

    server = FakeServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def fakes(fake_server):
    """The fake server with every fake's state, recorded requests and faults cleared."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def fake_account(db, fakes):
    """A ProviderAccount pointed at the fake of ``provider``, with the credential it accepts."""

    def make(provider, name=None, **fields):
        fake = fakes.fakes[provider]
        fields.setdefault("read_timeout", 2.0)
        fields.setdefault("connect_timeout", 1.0)
        fields.setdefault("credential", fake.credential)
        account = ProviderAccount(
            provider=provider, name=name or provider, base_url=fakes.base_url(provider), **fields
        )
        account.full_clean()
        account.save()
        return account

    return make


def database_url_for_subprocess() -> str:
    """The test database as a DATABASE_URL, for a worker process started by a test."""
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


class Cluster:
    """A real ``manage.py qcluster`` in its own process group, on the test database.

    ``env`` adds to or overrides its environment (``REDIS_URL`` for the Redis broker).
    """

    def __init__(self, workers: int = 2, env: dict | None = None):
        import os
        import sys
        from pathlib import Path

        self.root = Path(__file__).resolve().parent.parent
        self.command = [sys.executable, "manage.py", "qcluster"]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "Q_WORKERS": str(workers),
            "BRIDGE_KICK_WORKERS": "true",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process = None
        self.terminated = False

    def start(self):
        import subprocess

        self.log = open(self.root / "var" / "qcluster-test.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            cwd=self.root,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        return self

    def kill(self, sig=None):
        """Stop the whole cluster (its workers too); SIGKILL by default, as a crash would."""
        import os
        import signal

        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig or signal.SIGKILL)
        except ProcessLookupError:
            return
        self.process.wait(timeout=30)

    def terminate(self):
        """Ask the cluster to stop (SIGTERM, once), without waiting for it."""
        import signal

        if self.process and self.process.poll() is None and not self.terminated:
            self.process.send_signal(signal.SIGTERM)
            self.terminated = True

    def stop(self):
        """Ask the cluster to stop; kill it if it has not within a few seconds."""
        import subprocess

        self.terminate()
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.log.close()


@pytest.fixture
def qcluster(transactional_db):
    """Start a real django-q2 cluster on the test database; stopped after the test."""
    clusters = []

    def start(workers: int = 2, env: dict | None = None):
        cluster = Cluster(workers, env).start()
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:  # asked all at once, several clusters stop side by side
        cluster.terminate()
    for cluster in clusters:
        cluster.stop()


# --- browser tests -------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether a test's body failed, so its page fixture can save a screenshot."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: `make test` installs it (apt-get)")
        pytest.skip("chromium is not installed: `make test` installs it as root")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread; the tests' own ORM calls
    # stay plain synchronous code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page; a full-page screenshot lands in test-artifacts/ on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    if request.node.stash.get(CALL_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def staff(django_user_model):
    """The operator the browser tests log in as."""
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "s3cret-pass")


def log_in(page, live_server):
    """Log in through the admin's own login form."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))

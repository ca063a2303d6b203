"""Shared fixtures: accounts, contacts and leads built the way staff would make them."""

import pytest

from bridge.models import Contact, Lead, ProviderAccount


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
        account = ProviderAccount(
            provider=provider,
            name=name or provider,
            base_url=fakes.base_url(provider),
            credential=fake.credential,
            **fields,
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
    """A real ``manage.py qcluster`` in its own process group, on the test database."""

    def __init__(self, workers: int = 2):
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
        }
        self.process = None

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

    def stop(self):
        """Ask the cluster to stop; kill it if it has not within a few seconds."""
        import signal
        import subprocess

        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
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

    def start(workers: int = 2):
        cluster = Cluster(workers).start()
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()

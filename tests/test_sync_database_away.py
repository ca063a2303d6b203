"""A sync run whose database connection dies mid-run (PostgreSQL restarting) ends "failed".

The restart is played by PostgreSQL itself: another connection terminates the run's backend
(``pg_terminate_backend``), exactly what a restart does to every open connection. The run must
be recorded failed, with the reason, on a fresh connection — not left "running" for the stale
takeover to find much later. PostgreSQL only (SQLite has no server to lose).
"""

import psycopg
import pytest
from django.db import connection

from bridge.models import SyncRun
from bridge.sync import run_sync
from bridge.sync.resources import PULLS

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_own_backend():
    """End this connection's backend from another connection, as a server restart would."""
    settings = connection.settings_dict
    backend_pid = connection.connection.info.backend_pid
    with psycopg.connect(
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        user=settings.get("USER") or "postgres",
        password=settings.get("PASSWORD") or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


@pytest.fixture
def leeloo(fake_account):
    return fake_account("leeloo", requests_per_second=1000, concurrency=2)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a PostgreSQL server")
def test_a_run_whose_connection_dies_is_recorded_failed_on_a_new_one(leeloo, monkeypatch):
    def pull_during_a_restart(ctx):
        terminate_own_backend()
        SyncRun.objects.count()  # the next statement meets the dead connection

    monkeypatch.setitem(PULLS, "people", pull_during_a_restart)
    run = run_sync(leeloo, "people")

    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.FAILED
    assert stored.finished_at is not None
    assert "OperationalError" in stored.error or "InterfaceError" in stored.error

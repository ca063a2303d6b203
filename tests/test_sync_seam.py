"""The sync seam: a provider declares what it syncs and how each resource is read, and the sync
machinery knows no provider by name.

A test-only provider (``tests/syncing_provider.py``, "Demo CRM") that the sync has never heard
of syncs its labels into Tags through the same runs, paging, pipeline and upserts as Leeloo,
against its own small fake over real HTTP.
"""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from bridge import sync
from bridge.models import ProviderAccount, RemoteLink, SyncRun, SyncState, Tag
from integrations import registry
from integrations.base import Provider
from integrations.fakes.core import FakeServer
from integrations.leeloo import EVERYONE_SINCE, LeelooProvider
from integrations.syncing import SyncedResource

from .syncing_provider import DOTTED, FakeDemoCrm

# Runs use their own connections (the read-ahead thread's pacing, the budget): commit rows.
pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
Status = SyncRun.Status


@pytest.fixture
def demo_crm_registered():
    """Demo CRM in the registry for one test (the account form's choices follow), then out."""
    original = registry.PROVIDER_CLASSES
    registry.PROVIDER_CLASSES = (*original, DOTTED)
    registry.providers.cache_clear()
    try:
        yield registry.get_provider_class("demo-crm")
    finally:
        registry.PROVIDER_CLASSES = original
        registry.providers.cache_clear()


@pytest.fixture(scope="module")
def demo_server():
    server = FakeServer(port=0, fakes=[FakeDemoCrm()]).start()
    yield server
    server.stop()


@pytest.fixture
def demo_fake(demo_server):
    demo_server.reset()
    yield demo_server.fakes["demo-crm"]
    demo_server.reset()


@pytest.fixture
def demo(demo_crm_registered, demo_server, demo_fake):
    """A Demo CRM account pointed at its fake, with a budget that does not slow tests down."""
    account = ProviderAccount(
        provider="demo-crm",
        name="demo-crm",
        base_url=demo_server.base_url("demo-crm"),
        credential=demo_fake.credential,
        requests_per_second=1000,
        concurrency=2,
        read_timeout=2.0,
        connect_timeout=1.0,
    )
    account.full_clean()
    account.save()
    return account


def label_reads(server) -> list[tuple[str, str]]:
    """(limit, offset) of every label list read, in order."""
    return [
        (request.arg("limit"), request.arg("offset"))
        for request in server.requests_for("demo-crm", "GET", "/labels")
    ]


def counts(run):
    return run.created_count, run.updated_count, run.unchanged_count, run.failed_count


def succeeded(run):
    assert run.status == Status.SUCCEEDED, run.error
    return run


def tag_links(account) -> dict[str, str]:
    """Remote id -> local tag name, for the account's tag links."""
    tag_type = ContentType.objects.get_for_model(Tag)
    names = dict(Tag.objects.values_list("pk", "name"))
    return {
        link.remote_id: names[link.object_id]
        for link in RemoteLink.objects.filter(account=account, content_type=tag_type)
    }


# --- a provider the sync never heard of ------------------------------------------------------


def test_a_test_only_provider_syncs_its_labels_through_the_same_machinery(
    demo, demo_server, settings
):
    settings.BRIDGE_SYNC_PAGE_SIZE = 2
    run = succeeded(sync.run_sync(demo, "tags"))
    assert counts(run) == (5, 0, 0, 0)
    assert (run.pages, run.remote_total, run.linked_total) == (3, 5, 5)
    assert run.window_from is None and run.window_to is None  # not windowed: read whole
    assert label_reads(demo_server) == [("2", "0"), ("2", "2"), ("2", "4")]
    assert tag_links(demo) == {str(100 + n): f"Label {n}" for n in range(5)}
    state = SyncState.objects.get(account=demo, resource="tags")
    assert state.cursor == run.started_at

    tags_before = dict(Tag.objects.values_list("pk", "name"))
    again = succeeded(sync.run_sync(demo, "tags"))
    assert counts(again) == (0, 0, 5, 0)
    assert dict(Tag.objects.values_list("pk", "name")) == tags_before
    assert tag_links(demo) == {str(100 + n): f"Label {n}" for n in range(5)}


def test_a_rename_at_the_provider_renames_the_linked_tag(demo, demo_fake):
    succeeded(sync.run_sync(demo, "tags"))
    demo_fake.labels[1]["title"] = "Renamed"
    run = succeeded(sync.run_sync(demo, "tags"))
    assert counts(run) == (0, 1, 4, 0)
    assert tag_links(demo)["101"] == "Renamed"
    assert not Tag.objects.filter(name="Label 1").exists()


@pytest.mark.parametrize(
    ("report_count", "reads"),
    [
        (True, [("2", "0"), ("2", "2")]),  # the reported count is reached: no third read
        # Only the empty page ends the list. Reading ahead (a spare slot of the budget) may
        # have guessed a page past it too: a guess, never written.
        (False, [("2", "0"), ("2", "2"), ("2", "4")]),
    ],
)
def test_a_list_ending_on_a_page_boundary(
    demo, demo_fake, demo_server, settings, report_count, reads
):
    settings.BRIDGE_SYNC_PAGE_SIZE = 2
    demo_fake.labels = demo_fake.labels[:4]
    demo_fake.report_count = report_count
    run = succeeded(sync.run_sync(demo, "tags"))
    assert counts(run) == (4, 0, 0, 0)
    read = label_reads(demo_server)
    assert read[: len(reads)] == reads
    assert all(int(offset) > 4 for _, offset in read[len(reads) :]) and len(read) <= len(reads) + 1
    assert len(tag_links(demo)) == 4


def test_a_server_capping_the_page_size_is_still_read_to_the_end(
    demo, demo_fake, demo_server, settings
):
    settings.BRIDGE_SYNC_PAGE_SIZE = 3
    demo_fake.max_limit = 2  # serves 2 and says so: the offset moves by what arrived
    run = succeeded(sync.run_sync(demo, "tags"))
    assert counts(run) == (5, 0, 0, 0)
    assert label_reads(demo_server) == [("3", "0"), ("3", "2"), ("3", "4")]


def test_batches_written_apart_see_the_tags_earlier_batches_made(
    demo, demo_fake, demo_server, settings
):
    """Each page its own transaction: a later page's label named like an earlier one's (any
    case) is another tag of that name, a failure, not a second link to the same tag."""
    settings.BRIDGE_SYNC_PAGE_SIZE = 2
    settings.BRIDGE_SYNC_WRITE_BATCH = 2
    demo_fake.labels.append({"id": 200, "title": "LABEL 0"})
    run = succeeded(sync.run_sync(demo, "tags"))
    assert counts(run) == (5, 0, 0, 1)
    assert run.pages == 3
    assert "200: tag #" in run.error and "is already another tag" in run.error
    assert tag_links(demo) == {str(100 + n): f"Label {n}" for n in range(5)}


def test_a_refused_token_fails_the_run_and_pauses_the_account(demo, demo_fake):
    demo_fake.credential = "another-token-0123456789"
    run = sync.run_sync(demo, "tags")
    assert run.status == Status.FAILED and "AuthenticationError" in run.error
    demo.refresh_from_db()
    assert demo.paused
    assert not Tag.objects.exists()


def test_only_the_declared_resources_have_states_schedules_and_runs(demo, monkeypatch):
    import django_q.tasks

    assert sync.can_sync(demo) and sync.synced(demo) == ("tags",)
    assert set(demo.sync_states.values_list("resource", flat=True)) == {"tags"}
    assert [job.args for job in sync.scheduled_jobs(sync_job)] == [repr((demo.pk, "tags"))]
    with pytest.raises(sync.SyncRefused, match="'people' is not one Demo CRM syncs"):
        sync.run_sync(demo, "people")
    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kw: queued.append(args))
    assert sync.enqueue_syncs(demo) == 1
    assert queued == [(sync.TASK, demo.pk, "tags")]


def test_the_sync_command_runs_what_the_provider_declares(demo):
    out, err = StringIO(), StringIO()
    call_command("sync", account="demo-crm", stdout=out, stderr=err)
    assert "tags: succeeded" in out.getvalue() and "5 created" in out.getvalue()
    assert err.getvalue() == ""  # no refusal for the resources Demo CRM does not sync
    assert list(SyncRun.objects.values_list("resource", flat=True)) == ["tags"]


def sync_job(**fields):
    """A stand-in for the bridge's Job class: the fields a sync job is made of."""
    return type("Job", (), fields)


# --- the declarations ------------------------------------------------------------------------


def test_leeloo_declares_its_seven_resources_as_the_sync_read_them():
    declared = {resource.name: resource for resource in LeelooProvider.syncs}
    assert set(declared) == set(sync.RESOURCES)
    assert LeelooProvider.synced_resource("orders").path == "/orders"
    assert sync.WINDOWED == ("people", "channels")
    for name in sync.WINDOWED:
        assert declared[name].everyone_since == EVERYONE_SINCE
        assert declared[name].cursor_field == "last_message_at"
    assert declared["tags"].path is None and declared["tags"].list_all == "list_tags"
    with pytest.raises(KeyError, match="does not sync 'calls'"):
        LeelooProvider.synced_resource("calls")


@pytest.mark.parametrize("provider", list(registry.providers().values()), ids=lambda c: c.id)
def test_every_declaration_names_methods_the_client_has(provider):
    for resource in provider.syncs:
        named = [resource.list_all, resource.detail, *resource.readers.values()]
        named += [resource.window] if isinstance(resource.window, str) else []
        for method in filter(None, named):
            assert callable(getattr(provider, method, None)), (provider.id, resource.name, method)
        if resource.path is not None:
            assert provider.list_page is not Provider.list_page, (provider.id, resource.name)


def test_a_declaration_that_cannot_be_read_is_refused_where_it_is_made():
    with pytest.raises(ValueError, match="exactly one of path"):
        SyncedResource("tags")
    with pytest.raises(ValueError, match="needs parse"):
        SyncedResource("tags", path="/labels")
    with pytest.raises(ValueError, match="needs everyone_since and cursor_field"):
        SyncedResource("people", path="/people", parse=dict, window="people_params")
    with pytest.raises(ValueError, match="parse_options"):
        SyncedResource("people", path="/people", parse=dict, parse_options=("colour",))


def test_the_sync_machinery_names_no_provider():
    """bridge/sync imports no provider module, names no path or client method a provider
    declares, and asks a client only for the seam's ``list_page`` and ``name``."""
    classes = list(registry.providers().values())
    modules = {f"integrations.{cls.__module__.split('.')[1]}" for cls in classes}
    paths = {r.path for cls in classes for r in cls.syncs if r.path}
    methods = {
        name
        for cls in classes
        for r in cls.syncs
        for name in (r.list_all, r.detail, r.window, *r.readers.values())
        if isinstance(name, str) and name
    }
    assert "/people" in paths and "get_person" in methods  # the scan looks for real names
    found = []
    for path in sorted((ROOT / "bridge" / "sync").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module]
            elif isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            else:
                imported = []
            found += [
                (path.name, name)
                for name in imported
                if any(name == m or name.startswith(m + ".") for m in modules)
            ]
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in paths | methods or node.value.startswith("/api/"):
                    found.append((path.name, node.value))
            if isinstance(node, ast.Attribute):
                if node.attr in methods:
                    found.append((path.name, node.attr))
                on_client = isinstance(node.value, ast.Attribute) and node.value.attr == "client"
                if on_client and node.attr not in ("list_page", "name"):
                    found.append((path.name, f"client.{node.attr}"))
    assert found == []

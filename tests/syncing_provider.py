"""A provider that exists only in the tests: "Demo CRM", which syncs its labels as tags.

It proves the sync seam (``integrations.syncing``): a provider the bridge's sync has never
heard of declares one resource, and the same machinery (runs, paging, pipeline, upserts) mirrors
it. Its fake serves ``GET /labels`` paged by ``limit``/``offset``, with its own page-size cap,
on the shared fake server's core (``integrations.fakes.core``).

Nothing outside ``tests/`` imports this module; the ``demo_crm_registered`` fixture of
``tests/test_sync_seam.py`` adds it to the registry for a test and takes it out after.
"""

from __future__ import annotations

from typing import Any

from integrations.base import Provider
from integrations.fakes.core import FakeProvider, FakeRequest, FakeResponse, route
from integrations.syncing import ListPage, SyncedResource

DOTTED = "tests.syncing_provider.DemoCrmProvider"


def parse_label(item: dict) -> dict:
    """A Demo CRM label as a plain tag record."""
    return {"remote_id": str(item["id"]), "name": str(item.get("title") or "")}


class DemoCrmProvider(Provider):
    """Demo CRM: bearer token, ``{"labels": [...], "count": n, "limit": served}`` lists."""

    id = "demo-crm"
    name = "Demo CRM"
    base_urls = {"production": "https://api.demo-crm.invalid"}
    syncs = (SyncedResource("tags", path="/labels", parse=parse_label),)

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["Authorization"] = f"Bearer {self.require_credential()}"

    def list_page(self, path, params=None, *, limit=20, offset=0, parse=None) -> ListPage:
        """One page of a list; ``count`` is the list's size when the CRM reports it."""
        body = self.request(
            "GET", path, params={**(params or {}), "limit": limit, "offset": offset}
        ).data
        items = body.get("labels") or []
        count = body.get("count")
        return ListPage(
            items=[parse(item) for item in items] if parse else items,
            meta={"limit": body.get("limit")},
            offset=offset,
            limit=limit,
            total=int(count) if count is not None else None,
        )


class FakeDemoCrm(FakeProvider):
    """The fake Demo CRM: labels, served a capped page at a time."""

    id = "demo-crm"
    credential = "demo-crm-token-0123456789"

    def reset(self) -> None:
        self.labels = [{"id": 100 + n, "title": f"Label {n}"} for n in range(5)]
        #: The largest page the server serves, whatever is asked (it says so in ``limit``).
        self.max_limit = 50
        #: Whether lists report their size (``count``); without it only a short page ends one.
        self.report_count = True

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        if request.header("Authorization") != f"Bearer {self.credential}":
            return FakeResponse(401, {"error": "Invalid token"})
        return None

    @route("GET", "/labels")
    def list_labels(self, request: FakeRequest) -> FakeResponse:
        limit = min(int(request.arg("limit", "20")), self.max_limit)
        offset = int(request.arg("offset", "0"))
        body = {"labels": self.labels[offset : offset + limit], "limit": limit}
        if self.report_count:
            body["count"] = len(self.labels)
        return FakeResponse(200, body)

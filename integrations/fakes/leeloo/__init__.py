"""A fake Leeloo.ai API v2 that honours the reference: envelope, auth header, form-data, paging.

It keeps people, orders, tags, tunnels (with LGTs, blocks and stats), users, communication
channels, connections, message templates, messages, comments, calls and traffic sources in
memory, seeded from the reference's own examples (``data/leeloo.json``). Like Leeloo it
refuses with ``"status": 0`` in a 200, requires the ``filter[last_message]`` window on
``GET /people``, reads form-data (and only form-data) where the document says so, and reports
``totalCount``/``filteredCount``.

Where the document is silent the fake picks one behaviour and says so: an unknown id is a 404
with ``status: 0``; both ends of a last-message window are inclusive; several ``filter[tags]``
match people with any of the tags; a person added through ``POST /people`` gets its creation
time as last-message time, so it shows in later lists.

:meth:`FakeLeeloo.seed_people` adds N deterministic people quickly (a benchmark's hundred
thousand without a wait; ``POST /leeloo/_fake/seed-people`` does the same from another
process); people are kept sorted by last-message time so a window is two bisections and a page
a slice.

The fake is a package by role: :mod:`.common` (ids, dates, Leeloo's envelope), :mod:`.state`
(the records, the people index, seeding, paging), and one mixin of routes each for
:mod:`.people`, :mod:`.orders`, :mod:`.catalog` (tags, tunnels, LGTs, users, connections,
templates) and :mod:`.messages` (channels, chats, subscriptions, calls). The fake server finds
``@route`` methods on the assembled :class:`FakeLeeloo`, wherever they are defined.
"""

from __future__ import annotations

from ..core import FakeRequest, FakeResponse
from .catalog import CatalogRoutes
from .common import (
    API_USER_ID,
    CALL_FIELDS,
    CALL_STATUSES,
    CALL_TYPES,
    COMPANY_ID,
    CUSTOM_FIELD_TYPES,
    ID,
    SEED_TAGS,
    digits,
    not_found,
    now_text,
    ok,
    parse_js_date,
    refuse,
    seed_phone,
    time_key,
    to_text,
)
from .messages import MessageRoutes
from .orders import OrderRoutes
from .people import PeopleRoutes
from .state import EXAMPLES, LeelooState

__all__ = [
    "API_USER_ID",
    "CALL_FIELDS",
    "CALL_STATUSES",
    "CALL_TYPES",
    "COMPANY_ID",
    "CUSTOM_FIELD_TYPES",
    "EXAMPLES",
    "ID",
    "SEED_TAGS",
    "FakeLeeloo",
    "digits",
    "not_found",
    "now_text",
    "ok",
    "parse_js_date",
    "refuse",
    "seed_phone",
    "time_key",
    "to_text",
]


class FakeLeeloo(PeopleRoutes, OrderRoutes, CatalogRoutes, MessageRoutes, LeelooState):
    """Leeloo.ai's API v2 in memory, served under ``/leeloo`` by the fake server."""

    id = "leeloo"
    credential = "fake-leeloo-token"

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        """The token must be in ``X-Leeloo-AuthToken``; otherwise 401 with ``status: 0``."""
        token = request.header("X-Leeloo-AuthToken")
        if not token:
            return refuse("Authorization token is required", 401)
        if token != self.credential:
            return refuse("Invalid authorization token", 401)
        return None

"""The fake Leeloo's in-memory store: its records, the people index, seeding and list paging.

:class:`LeelooState` holds everything the routes read and write (people, orders, tags,
tunnels, users, channels, messages…), loads the reference's examples
(``integrations/fakes/data/leeloo.json``) on every reset, and keeps people sorted by
last-message time and indexed by phone digits and lower-cased email, so a window is two
bisections and a look-up a dictionary read. It also reads the paging and last-message-window
parameters the list routes share.
"""

from __future__ import annotations

import bisect
import itertools
import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files

from ..core import FakeProvider, FakeRequest, FakeResponse
from .common import digits, ok, parse_js_date, refuse, time_key, to_text
from .generated import GeneratedPeople, person_id, seeded_person

#: The reference's example records (people, orders, tags, tunnels, users, channels, templates…).
EXAMPLES = files("integrations.fakes").joinpath("data", "leeloo.json")


class LeelooState(FakeProvider):
    """Leeloo's records in memory, the people index, seeding, and the list routes' paging."""

    # --- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything and load the reference's examples."""
        self._ids = itertools.count(1)
        self.people: dict[str, dict] = {}
        self._by_time: list[tuple[str, str]] = []  # (lastMessageTime, person id), sorted
        # phone digits / lower-cased email -> a person id, or a set of ids when shared
        self._by_phone: dict[str, str | set[str]] = {}
        self._by_email: dict[str, str | set[str]] = {}
        self.channels: dict[str, dict] = {}  # account_id -> communication channel
        self.orders: dict[str, dict] = {}
        self.tags: dict[str, dict] = {}
        self.tunnels: dict[str, dict] = {}
        self.leadgentools: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.connections: dict[str, dict] = {}
        self.categories: dict[str, dict] = {}
        self.offers: dict[str, dict] = {}
        self.payment_credits: set[str] = set()
        self.messages: dict[str, list[dict]] = {}  # account_id -> chat messages, newest first
        self.comments: list[dict] = []
        self.calls: list[dict] = []
        self.traffic_sources: list[dict] = []
        self.sms_requests: list[dict] = []
        self.subscriptions: list[dict] = []
        #: People made on the fly beside those held here (``generate_people``), or None.
        self.generated: GeneratedPeople | None = None
        self._merge_cache: tuple | None = None  # (window key, positions): people.py
        self._seed_examples()

    def new_id(self) -> str:
        """A fresh 24-hex id, shaped like Leeloo's MongoDB ObjectIds."""
        return f"fa4e{next(self._ids):020x}"

    # --- people index ---------------------------------------------------------------------

    def add_person(self, person: dict) -> dict:
        """Store a person (Leeloo's shape) and index it by last message, phone and email."""
        self.people[person["id"]] = person
        bisect.insort(self._by_time, (time_key(person["lastMessageTime"]), person["id"]))
        self._index(person)
        return person

    def touch(self, person_id: str, stamp: str) -> None:
        """Move a person's last-message time (a message was sent), keeping the order sorted."""
        person = self.people[person_id]
        old = (time_key(person["lastMessageTime"]), person_id)
        at = bisect.bisect_left(self._by_time, old)
        if at < len(self._by_time) and self._by_time[at] == old:
            del self._by_time[at]
        person["lastMessageTime"] = stamp
        bisect.insort(self._by_time, (time_key(stamp), person_id))

    def remove_person(self, person_id: str) -> None:
        """Take a person away, as deleting them in Leeloo's app does (the API has no delete)."""
        with self.lock:
            person = self.people.pop(person_id)
            self._unindex(person)
            self._by_time.remove((time_key(person["lastMessageTime"]), person_id))

    def _index(self, person: dict) -> None:
        if person.get("phone"):
            index_add(self._by_phone, digits(person["phone"]), person["id"])
        if person.get("email"):
            index_add(self._by_email, person["email"].lower(), person["id"])

    def _unindex(self, person: dict) -> None:
        index_discard(self._by_phone, digits(person.get("phone", "")), person["id"])
        index_discard(self._by_email, (person.get("email") or "").lower(), person["id"])

    def seed_people(
        self,
        count: int,
        start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
        step: timedelta = timedelta(minutes=1),
    ) -> list[str]:
        """Add ``count`` deterministic people, one last message every ``step`` from ``start``.

        Person n is "Person n", ``person<n>@example.com``, a valid US number
        (``seed_phone``), tagged ``vip``, ``tag2``, ``Mentor`` or ``Professional`` (every
        tenth non-vip also ``vip``), without channels (``generated.seeded_person``). Built in
        one pass, sharing immutable empty lists, and sorted once, so a benchmark's hundred
        thousand are quick and small (docs/benchmarks.md, "Sync"). Returns their ids in time
        order.
        """
        with self.lock:
            return self._seed_people(count, start, step)

    def _seed_people(self, count: int, start: datetime, step: timedelta) -> list[str]:
        first = self.people_count()
        ids = []
        new_index = []
        for n in range(first, first + count):
            moment = to_text(start + step * (n - first))
            person = seeded_person(n, moment)
            self.people[person["id"]] = person
            self._index(person)
            new_index.append((moment, person["id"]))
            ids.append(person["id"])
        self._by_time.extend(new_index)
        self._by_time.sort()
        return ids

    def generate_people(
        self,
        count: int,
        start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
        step: timedelta = timedelta(minutes=1),
    ) -> list[str]:
        """Add ``count`` people made on the fly (``generated.GeneratedPeople``): the people
        ``seed_people`` would add, without holding them. Replaces an earlier generated
        population; returns the first and the last id."""
        with self.lock:
            first = len(self.people)
            self.generated = GeneratedPeople(first, count, start, step)
            return [person_id(first), person_id(first + count - 1)] if count else []

    def change_generated(self, every: int) -> int:
        """Change one generated person in ``every`` once more (see ``GeneratedPeople.change``)."""
        with self.lock:
            if self.generated is None:
                return 0
            return self.generated.change(every)

    def people_count(self) -> int:
        """Every person, held or generated."""
        return len(self.people) + (self.generated.count if self.generated else 0)

    def find_person(self, person_id: str) -> dict | None:
        """A person held here or generated, by id."""
        person = self.people.get(person_id)
        if person is None and self.generated is not None:
            person = self.generated.by_id(person_id)
        return person

    # --- paging and the last-message window -----------------------------------------------

    @staticmethod
    def paging(request: FakeRequest) -> tuple[int, int] | FakeResponse:
        """(limit, offset) from the query (limit 20, offset 0 by default) or a refusal."""
        try:
            limit = int(request.arg("limit", "20"))
            offset = int(request.arg("offset", "0"))
        except ValueError:
            return refuse("limit and offset must be integers")
        if limit < 0 or offset < 0:
            return refuse("limit and offset must not be negative")
        return limit, offset

    def page(self, request: FakeRequest, items: list, total: int | None = None, render=None):
        """One page of ``items`` with Leeloo's meta."""
        paging = self.paging(request)
        if isinstance(paging, FakeResponse):
            return paging
        limit, offset = paging
        chosen = items[offset : offset + limit]
        meta = {
            "limit": limit,
            "offset": offset,
            "filteredCount": len(items),
            "totalCount": len(items) if total is None else total,
        }
        return ok([render(item) if render else dict(item) for item in chosen], meta)

    def _window(self, request: FakeRequest, required: bool):
        """(from, to) of ``filter[last_message]``; a refusal when required and missing."""
        raw_from = request.arg("filter[last_message][from]")
        raw_to = request.arg("filter[last_message][to]")
        if not raw_from or not raw_to:
            if required:
                return refuse(
                    "filter[last_message][from] and filter[last_message][to] are required"
                )
            if not raw_from and not raw_to:
                return None, None
        start = parse_js_date(raw_from) if raw_from else None
        end = parse_js_date(raw_to) if raw_to else None
        if (raw_from and start is None) or (raw_to and end is None):
            return refuse("filter[last_message] dates must be dates (e.g. 2015-04-02)")
        return start, end

    # --- the reference's examples ---------------------------------------------------------

    def _seed_examples(self) -> None:
        """Load the records the reference's examples show, with their ids (data/leeloo.json)."""
        examples = json.loads(EXAMPLES.read_text(encoding="utf-8"))
        for name in ("users", "tags", "categories", "connections", "tunnels", "leadgentools"):
            setattr(self, name, {item["id"]: item for item in examples[name]})
        self.payment_credits = set(examples["payment_credits"])
        self.offers = examples["offers"]
        for person in examples["people"]:
            self.add_person(person)
        self.channels = {channel["id"]: channel for channel in examples["channels"]}
        self.orders = {order["id"]: order for order in examples["orders"]}
        self.messages = examples["messages"]


def index_add(index: dict, key: str, person_id: str) -> None:
    """Index one id under ``key``; a plain id until a second one shares the key."""
    found = index.get(key)
    if found is None or found == person_id:
        index[key] = person_id
    elif isinstance(found, set):
        found.add(person_id)
    else:
        index[key] = {found, person_id}


def index_get(index: dict, key: str) -> set[str]:
    """The ids indexed under ``key`` (a new set the caller may keep)."""
    found = index.get(key)
    if found is None:
        return set()
    return set(found) if isinstance(found, set) else {found}


def index_discard(index: dict, key: str, person_id: str) -> None:
    """Forget one id under ``key``."""
    found = index.get(key)
    if found == person_id:
        del index[key]
    elif isinstance(found, set):
        found.discard(person_id)

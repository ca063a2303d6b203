"""The fake Leeloo's people routes: list (windowed, filtered, paged), card, create, update,
SMS people, comments, and the fake's own seeding route.

A mixin of :class:`~integrations.fakes.leeloo.FakeLeeloo`; the records and the people index it
reads are :class:`~integrations.fakes.leeloo.state.LeelooState`'s.
"""

from __future__ import annotations

import bisect
from datetime import timedelta

from ..core import FakeResponse, route
from .common import (
    API_USER_ID,
    COMPANY_ID,
    CUSTOM_FIELD_TYPES,
    ID,
    digits,
    not_found,
    now_text,
    ok,
    parse_js_date,
    refuse,
    time_key,
    to_text,
)
from .generated import Merged
from .state import index_get


class PeopleRoutes:
    """``/api/v2/people…`` and ``/_fake/seed-people``."""

    # --- seeding and the shapes people are shown in ---------------------------------------

    @route("POST", r"/_fake/seed-people")
    def seed_people_route(self, request):
        """Not Leeloo's: lets a benchmark in another process seed people (JSON ``count``,
        optional ``start`` ISO time and ``step_seconds``)."""
        count, start, step = people_to_make(request)
        if count is None:
            return refuse(SEED_REFUSAL)
        ids = self.seed_people(count, start=start, step=step)
        return ok({"seeded": len(ids), "ids": ids[:1] + ids[-1:], "total": self.people_count()})

    @route("POST", r"/_fake/generate-people")
    def generate_people_route(self, request):
        """Not Leeloo's: as ``seed-people``, but the people are made on the fly when listed
        or read (``generated.GeneratedPeople``), so a million cost no memory."""
        count, start, step = people_to_make(request)
        if count is None:
            return refuse(SEED_REFUSAL)
        ids = self.generate_people(count, start=start, step=step)
        return ok({"generated": count, "ids": ids, "total": self.people_count()})

    @route("POST", r"/_fake/change-people")
    def change_people_route(self, request):
        """Not Leeloo's: one generated person in ``every`` (JSON) gets a new name and tags,
        its last message unmoved (what only a full reconcile finds)."""
        body = request.json if isinstance(request.json, dict) else {}
        every = body.get("every")
        if not isinstance(every, int) or every < 1:
            return refuse("every (a whole number, at least 1) is required")
        return ok({"changed": self.change_generated(every)})

    def person_list_item(self, person: dict) -> dict:
        """A person as ``GET /people`` lists them."""
        return {
            "id": person["id"],
            "name": person["name"],
            "email": person["email"],
            "phone": person["phone"],
            "tags": list(person["tags"]),
            "accounts": [dict(account) for account in person["accounts"]],
            "lastMessageTime": person["lastMessageTime"],
        }

    def person_card(self, person: dict) -> dict:
        """A person as ``GET /people/{id}`` and ``…/{account_id}/person`` show them."""
        return {
            "id": person["id"],
            "name": person["name"],
            "tags": list(person["tags"]),
            "profileImage": person["profileImage"],
            "gender": person["gender"],
            "phone": person["phone"],
            "email": person["email"],
            "locale": person["locale"],
            "accounts": [dict(account) for account in person["accounts"]],
            "subscribeHistory": [dict(entry) for entry in person["subscribeHistory"]],
            "links": {
                "contactedUsers": [{"type": "users", "id": i} for i in person["contactedUsers"]],
                "orders": [{"type": "orders", "id": i} for i in person["orders"]],
            },
            "custom_fields": [dict(entry) for entry in person["custom_fields"]],
            "created_at": person["created_at"],
            "updated_at": person["updated_at"],
        }

    # --- people ---------------------------------------------------------------------------

    @route("GET", r"/api/v2/people")
    def list_people(self, request):
        """People in the required last-message window, filtered and paged."""
        window = self._window(request, required=True)
        if isinstance(window, FakeResponse):
            return window
        first, last = to_text(window[0]), to_text(window[1])
        low = bisect.bisect_left(self._by_time, (first, ""))
        high = bisect.bisect_right(self._by_time, (last, "\uffff"))
        tags = set(request.query.get("filter[tags]", []))
        phone, email = request.arg("filter[phone]"), request.arg("filter[email]").lower()
        if not (tags or phone or email):
            entries = Slice(self._by_time, low, high)  # a page is a slice: no scan
            if self.generated is not None:
                entries = self._merged_window(low, high, first, last)
        else:
            candidates = None
            if phone:
                candidates = index_get(self._by_phone, digits(phone))
            if email:
                found = index_get(self._by_email, email)
                candidates = found if candidates is None else candidates & found
            if candidates is not None:
                keys = ((time_key(self.people[i]["lastMessageTime"]), i) for i in candidates)
                pool = sorted(key for key in keys if first <= key[0] <= last)
            else:
                pool = self._by_time[low:high]
            entries = [e for e in pool if not tags or tags & set(self.people[e[1]]["tags"])]
        return self.page(
            request,
            entries,
            total=self.people_count(),
            render=lambda entry: self.person_list_item(self.listed_person(entry)),
        )

    def _merged_window(self, low: int, high: int, first: str, last: str) -> Merged:
        """The held people ``_by_time[low:high]`` and the generated ones in ``[first, last]``,
        in one order; where the held ones stand is kept for the next page of the window."""
        few = self._by_time[low:high]
        made = self.generated.entries().window(first, last)
        key = (tuple(few), first, last, id(self.generated), made.low, made.high)
        if self._merge_cache is None or self._merge_cache[0] != key:
            self._merge_cache = (key, Merged(few, made).positions)
        return Merged(few, made, self._merge_cache[1])

    def listed_person(self, entry: tuple[str, str]) -> dict:
        """The person of a list entry: held here, else generated (made from the entry)."""
        person = self.people.get(entry[1])
        return person if person is not None else self.generated.listed(entry)

    @route("GET", r"/api/v2/people/" + ID.format("person_id"))
    def get_person(self, request, person_id):
        """One person's card, with ``include``d users and orders."""
        person = self.find_person(person_id)
        if person is None:
            return not_found("Person", person_id)
        include = set(filter(None, request.arg("include").split(",")))
        included = {}
        if "contactedUsers" in include:
            included["users"] = [dict(self.users[i]) for i in person["contactedUsers"]]
        if "orders" in include:
            included["orders"] = [
                {
                    k: self.orders[i][k]
                    for k in ("id", "title", "price", "currency", "status", "updatedAt")
                }
                for i in person["orders"]
                if i in self.orders
            ]
        return ok(self.person_card(person), included=included)

    @route("PUT", r"/api/v2/people/" + ID.format("person_id"))
    def update_person(self, request, person_id):
        """Change a card's phone, email and custom fields (JSON)."""
        person = self.people.get(person_id)
        if person is None:
            return not_found("Person", person_id)
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return refuse("The request body must be JSON")
        fields = body.get("custom_fields", [])
        if not isinstance(fields, list) or any(
            not isinstance(f, dict) or f.get("type") not in CUSTOM_FIELD_TYPES or not f.get("name")
            for f in fields
        ):
            return refuse(
                f"custom_fields must be [{{type, name, value}}], type one of "
                f"{', '.join(CUSTOM_FIELD_TYPES)}"
            )
        self._unindex(person)
        for key in ("phone", "email"):
            if body.get(key):
                person[key] = str(body[key])
        self._index(person)
        by_name = {entry["name"]: entry for entry in person["custom_fields"]}
        for entry in fields:
            by_name[entry["name"]] = {
                "type": entry["type"],
                "name": entry["name"],
                "value": entry.get("value"),
            }
        person["custom_fields"] = list(by_name.values())
        person["updated_at"] = now_text()
        return ok(self.person_card(person))

    @route("POST", r"/api/v2/people")
    def create_person(self, request):
        """A new person with one MANUAL channel; answers with the channel (JSON)."""
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return refuse("The request body must be JSON")
        if not body.get("name"):
            return refuse("name is required")
        if not body.get("leadgentool_id"):
            return refuse("leadgentool_id is required")
        tool = self.leadgentools.get(body["leadgentool_id"])
        if tool is None:
            return refuse(f"Leadgentool {body['leadgentool_id']} not found")
        users = body.get("connected_users_ids") or []
        if not isinstance(users, list) or any(user not in self.users for user in users):
            return refuse("connected_users_ids must be ids of platform users")
        person, channel = self._new_person(
            name=str(body["name"]),
            email=str(body.get("email") or ""),
            phone=str(body.get("phone") or ""),
            source="MANUAL",
            tool=tool,
            connection_id="",
        )
        person["contactedUsers"] = list(users)
        return ok(
            {
                "id": channel["id"],
                "person_id": person["id"],
                "name": person["name"],
                "tags": [],
                "from": "MANUAL",
                "botStatus": "BOT",
                "connectionStatus": "OK",
                "gender": "NOT_DEFINED",
                "phone": person["phone"],
                "email": person["email"],
                "locale": "",
                "subscribeHistory": [],
                "createdAt": person["created_at"],
                "updatedAt": person["updated_at"],
            }
        )

    def _new_person(self, *, name, email, phone, source, tool, connection_id, tags=()):
        """A new person with one communication channel, subscribed through ``tool``."""
        stamp = now_text()
        person_id, account_id = self.new_id(), self.new_id()
        tunnel = self.tunnels.get(tool["tunnel_id"], {})
        person = {
            "id": person_id,
            "name": name,
            "email": email,
            "phone": phone,
            "tags": list(tags),
            "profileImage": "NOT_DEFINED",
            "gender": "NOT_DEFINED",
            "locale": "",
            "accounts": [
                {
                    "account_id": account_id,
                    "connection_id": connection_id,
                    "connection_status": "OK",
                    "from": source,
                }
            ],
            "subscribeHistory": [
                {
                    "tunnelName": tunnel.get("name", ""),
                    "leadgentoolName": tool["name"],
                    "trafficSource": "Default traffic source",
                    "tunnelId": tool["tunnel_id"],
                    "leadgentoolId": tool["id"],
                    "trafficSourceId": "",
                    "accountId": account_id,
                }
            ],
            "custom_fields": [],
            "contactedUsers": [],
            "orders": [],
            "created_at": stamp,
            "updated_at": stamp,
            "lastMessageTime": stamp,
        }
        channel = {
            "id": account_id,
            "person_id": person_id,
            "name": name,
            "from": source,
            "botStatus": "BOT",
            "lastMessageTime": stamp,
            "createdAt": stamp,
            "utmMarks": {},
        }
        self.add_person(person)
        self.channels[account_id] = channel
        return person, channel

    @route("POST", r"/api/v2/people/sms")
    def add_sms_people(self, request):
        """People reachable by SMS, created at once here (Leeloo queues them)."""
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return refuse("The request body must be JSON")
        people = body.get("data")
        if not isinstance(people, list) or not people:
            return refuse("data must be a list of people")
        if any(not isinstance(p, dict) or not p.get("phone") for p in people):
            return refuse("every person in data needs a phone")
        connection = self.connections.get(str(body.get("connection_id") or ""))
        if connection is None:
            return refuse(f"Connection {body.get('connection_id')} not found")
        tool = self.leadgentools.get(str(body.get("leadgentool_id") or ""))
        if tool is None:
            return refuse(f"Leadgentool {body.get('leadgentool_id')} not found")
        tag_ids = body.get("tags") or []
        if not isinstance(tag_ids, list) or any(tag not in self.tags for tag in tag_ids):
            return refuse("tags must be ids of existing tags")
        self.sms_requests.append(body)
        for entry in people:
            self._new_person(
                name=str(entry.get("name") or entry["phone"]),
                email=str(entry.get("email") or ""),
                phone=str(entry["phone"]),
                source="SMS",
                tool=tool,
                connection_id=connection["id"],
                tags=[self.tags[tag]["name"] for tag in tag_ids],
            )
        return ok({"count_to_process": len(people)})

    @route("PUT", r"/api/v2/people/" + ID.format("person_id") + "/add-comment")
    def add_comment(self, request, person_id):
        """A comment on a person's card (JSON)."""
        if person_id not in self.people:
            return not_found("Person", person_id)
        text = request.json.get("comment") if isinstance(request.json, dict) else None
        if not text:
            return refuse("comment is required")
        stamp = now_text()
        comment = {
            "created_by": API_USER_ID,
            "company_id": COMPANY_ID,
            "text": str(text),
            "entity_id": person_id,
            "entity_type": "PERSON",
            "created_at": stamp,
            "updated_at": stamp,
            "id": self.new_id(),
        }
        self.comments.append(comment)
        return ok(dict(comment))


class Slice:
    """A read-only view of ``items[start:stop]`` that pages without copying the window."""

    def __init__(self, items: list, start: int, stop: int):
        self.items, self.start, self.stop = items, start, max(start, stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, part: slice) -> list:
        begin, end, _ = part.indices(len(self))
        return self.items[self.start + begin : self.start + end]


SEED_REFUSAL = "count (a whole number) and an ISO start are required"


def people_to_make(request):
    """(count, start, step) asked by a seed or generate request; (None, None, None) when the
    JSON's ``count`` or ``start`` is not usable."""
    body = request.json if isinstance(request.json, dict) else {}
    count = body.get("count")
    start = parse_js_date(str(body.get("start") or "2024-01-01T00:00:00Z"))
    if not isinstance(count, int) or count < 0 or start is None:
        return None, None, None
    return count, start, timedelta(seconds=float(body.get("step_seconds", 60)))

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
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from importlib.resources import files

from .core import FakeProvider, FakeRequest, FakeResponse, route

ID = r"(?P<{}>[^/]+)"
#: The reference's example records (people, orders, tags, tunnels, users, channels, templates…).
EXAMPLES = files(__package__).joinpath("data", "leeloo.json")
COMPANY_ID = "5b9f63e3d244d2000e27692f"
API_USER_ID = "5b9f63e3d244d2000e276957"  # the user the API token belongs to
CALL_FIELDS = (
    "user_id",
    "from",
    "to",
    "date",
    "account_id",
    "record_link",
    "status",
    "duration",
    "type",
)
CALL_STATUSES = ("TALKING", "SUCCESS", "NO_ANSWER", "CLOSED_BY_SYSTEM")
CALL_TYPES = ("INBOUND", "OUTBOUND")
CUSTOM_FIELD_TYPES = ("EMAIL", "PHONE", "DATE", "KEYWORD", "NUMBER")
SEED_TAGS = ("vip", "tag2", "Mentor", "Professional")


def now_text() -> str:
    """The current UTC time as Leeloo writes it: ``2020-02-06T11:30:30.035Z``."""
    return to_text(datetime.now(UTC))


def to_text(moment: datetime) -> str:
    """A UTC datetime as Leeloo writes it (milliseconds, ``Z``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def time_key(text: str) -> str:
    """A Leeloo date normalised so that keys sort as times (``14:20Z`` vs ``14:20:00.000Z``)."""
    moment = parse_js_date(text)
    return to_text(moment) if moment else ""


def parse_js_date(text: str) -> datetime | None:
    """What a JavaScript ``new Date(text)`` reads from an ISO date or timestamp; None if not."""
    text = (text or "").strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ok(data, meta: dict | None = None, **extra) -> FakeResponse:
    """Leeloo's success envelope."""
    body = {"status": 1, "data": data}
    if meta is not None:
        body["meta"] = meta
    body.update(extra)
    return FakeResponse(200, body)


def refuse(message: str, status: int = 200) -> FakeResponse:
    """Leeloo's refusal: ``status: 0`` and a message (in a 200 unless said otherwise)."""
    return FakeResponse(status, {"status": 0, "message": message})


def not_found(kind: str, item_id: str) -> FakeResponse:
    """An unknown id (the document is silent; the fake answers 404 with ``status: 0``)."""
    return refuse(f"{kind} {item_id} not found", 404)


def seed_phone(n: int) -> str:
    """Seeded person n's phone: a valid E.164 US number, unique for n below 8,000,000."""
    return f"+1310{200 + (n // 10000) % 800}{n % 10000:04d}"


def digits(phone: str) -> str:
    """A phone's digits, so ``+380 96…`` and ``380966…`` (an unescaped ``+``) match."""
    return re.sub(r"\D", "", phone or "")


class FakeLeeloo(FakeProvider):
    """Leeloo.ai's API v2 in memory, served under ``/leeloo`` by the fake server."""

    id = "leeloo"
    credential = "fake-leeloo-token"

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
        self._seed_examples()

    def new_id(self) -> str:
        """A fresh 24-hex id, shaped like Leeloo's MongoDB ObjectIds."""
        return f"fa4e{next(self._ids):020x}"

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        """The token must be in ``X-Leeloo-AuthToken``; otherwise 401 with ``status: 0``."""
        token = request.header("X-Leeloo-AuthToken")
        if not token:
            return refuse("Authorization token is required", 401)
        if token != self.credential:
            return refuse("Invalid authorization token", 401)
        return None

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
            _index_add(self._by_phone, digits(person["phone"]), person["id"])
        if person.get("email"):
            _index_add(self._by_email, person["email"].lower(), person["id"])

    def _unindex(self, person: dict) -> None:
        _index_discard(self._by_phone, digits(person.get("phone", "")), person["id"])
        _index_discard(self._by_email, (person.get("email") or "").lower(), person["id"])

    def seed_people(
        self,
        count: int,
        start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
        step: timedelta = timedelta(minutes=1),
    ) -> list[str]:
        """Add ``count`` deterministic people, one last message every ``step`` from ``start``.

        Person n is "Person n", ``person<n>@example.com``, a valid US number
        (:func:`seed_phone`), tagged ``vip``, ``tag2``, ``Mentor`` or ``Professional`` (every
        tenth non-vip also ``vip``), without channels. Built in one pass, sharing immutable
        empty lists, and sorted once, so a benchmark's hundred thousand are quick and small
        (docs/benchmarks.md, "Sync"). Returns their ids in time order.
        """
        with self.lock:
            return self._seed_people(count, start, step)

    def _seed_people(self, count: int, start: datetime, step: timedelta) -> list[str]:
        first = len(self.people)
        ids = []
        new_index = []
        tag_sets = [(tag,) for tag in SEED_TAGS] + [(tag, "vip") for tag in SEED_TAGS]
        for n in range(first, first + count):
            person_id = f"5eed{n:020x}"
            moment = to_text(start + step * (n - first))
            tags = tag_sets[n % 4 + (4 if n % 10 == 0 and n % 4 else 0)]
            person = {
                "id": person_id,
                "name": f"Person {n}",
                "email": f"person{n}@example.com",
                "phone": seed_phone(n),
                "tags": tags,
                "profileImage": "NOT_DEFINED",
                "gender": "NO_DATA",
                "locale": "",
                "accounts": (),
                "subscribeHistory": (),
                "custom_fields": (),
                "contactedUsers": (),
                "orders": (),
                "created_at": moment,
                "updated_at": moment,
                "lastMessageTime": moment,
            }
            self.people[person_id] = person
            self._index(person)
            new_index.append((moment, person_id))
            ids.append(person_id)
        self._by_time.extend(new_index)
        self._by_time.sort()
        return ids

    @route("POST", r"/_fake/seed-people")
    def seed_people_route(self, request):
        """Not Leeloo's: lets a benchmark in another process seed people (JSON ``count``,
        optional ``start`` ISO time and ``step_seconds``)."""
        body = request.json if isinstance(request.json, dict) else {}
        count = body.get("count")
        start = parse_js_date(str(body.get("start") or "2024-01-01T00:00:00Z"))
        if not isinstance(count, int) or count < 0 or start is None:
            return refuse("count (a whole number) and an ISO start are required")
        step = timedelta(seconds=float(body.get("step_seconds", 60)))
        ids = self.seed_people(count, start=start, step=step)
        return ok({"seeded": len(ids), "ids": ids[:1] + ids[-1:], "total": len(self.people)})

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

    # --- paging ---------------------------------------------------------------------------

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

    # --- message templates ----------------------------------------------------------------

    @route("GET", r"/api/v2/categories/templates")
    def list_categories(self, request):
        """Message template categories."""
        categories = [{"id": c["id"], "name": c["name"]} for c in self.categories.values()]
        return ok({"categories": categories})

    @route("GET", r"/api/v2/categories/templates/" + ID.format("category_id"))
    def list_templates(self, request, category_id):
        """The templates of one category."""
        category = self.categories.get(category_id)
        if category is None:
            return not_found("Category", category_id)
        return ok({"templates": [dict(t) for t in category["templates"]]})

    @route("POST", r"/api/v2/messages/send-template")
    def send_template(self, request):
        """Send a template to a channel; it lands in the channel's chat."""
        account_id, template_id = request.field("account_id"), request.field("template_id")
        if not account_id or not template_id:
            return refuse("account_id and template_id are required")
        if account_id not in self.channels:
            return not_found("Communication channel", account_id)
        template = self._template(template_id)
        if template is None:
            return not_found("Template", template_id)
        variables = request.field("variables", {}) or {}
        if not isinstance(variables, dict):
            return refuse("variables must be an object")
        text = template["message_name"] + "".join(f" {k}={v}" for k, v in variables.items())
        self._add_message(account_id, text)
        return ok({})

    def _template(self, template_id: str) -> dict | None:
        for category in self.categories.values():
            for template in category["templates"]:
                if template["id"] == template_id:
                    return template
        return None

    # --- messages and communication channels ----------------------------------------------

    def _add_message(self, account_id: str, text: str) -> dict:
        stamp = now_text()
        message = {
            "id": self.new_id(),
            "text": text,
            "type": "YOUR_MESSAGE",
            "read": True,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.messages.setdefault(account_id, []).insert(0, message)
        channel = self.channels[account_id]
        channel["lastMessageTime"] = stamp
        if channel["person_id"] in self.people:
            self.touch(channel["person_id"], stamp)
        return message

    @route("GET", r"/api/v2/communication-channels/" + ID.format("person_id") + "/chat-messages")
    def list_chat_messages(self, request, person_id):
        """A channel's chat, newest first, paged."""
        # The path says person_id; the document means the communication channel (account) id.
        if person_id not in self.channels:
            return not_found("Communication channel", person_id)
        return self.page(request, self.messages.get(person_id, []))

    @route("POST", r"/api/v2/messages/send-message")
    def send_message(self, request):
        """Send a text to a channel; it lands in the channel's chat."""
        account_id, text = request.field("account_id"), request.field("text")
        if not account_id or not str(text or "").strip():
            return refuse("account_id and text are required")
        if account_id not in self.channels:
            return not_found("Communication channel", account_id)
        self._add_message(account_id, str(text))
        return ok({})

    @route("GET", r"/api/v2/communication-channels")
    def list_channels(self, request):
        """Communication channels, newest message first; the window is optional here."""
        window = self._window(request, required=False)
        if isinstance(window, FakeResponse):
            return window
        start, end = window
        channels = sorted(self.channels.values(), key=lambda c: c["lastMessageTime"], reverse=True)
        chosen = [
            channel
            for channel in channels
            if (start is None or parse_js_date(channel["lastMessageTime"]) >= start)
            and (end is None or parse_js_date(channel["lastMessageTime"]) <= end)
        ]
        return self.page(request, chosen, total=len(channels))

    @route("GET", r"/api/v2/connections")
    def list_connections(self, request):
        """The account's connections (bots)."""
        return ok({"connections": [dict(c) for c in self.connections.values()]})

    @route("GET", r"/api/v2/communication-channels/" + ID.format("account_id") + "/person")
    def person_by_channel(self, request, account_id):
        """The person behind a communication channel."""
        channel = self.channels.get(account_id)
        person = self.people.get(channel["person_id"]) if channel else None
        if person is None:
            return not_found("Communication channel", account_id)
        return ok(self.person_card(person), included={})

    @route(
        "POST", r"/api/v2/communication-channels/" + ID.format("account_id") + "/manual-subscribe"
    )
    def manual_subscribe(self, request, account_id):
        """Subscribe a channel to a tunnel block (form-data only)."""
        form = request.form or {}
        tunnel_id = (form.get("tunnel_id") or [""])[0]
        block_id = (form.get("tunnel_block_id") or [""])[0]
        if not tunnel_id or not block_id:
            return refuse("tunnel_id and tunnel_block_id are required (form-data)")
        channel = self.channels.get(account_id)
        if channel is None:
            return not_found("Communication channel", account_id)
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None or block_id not in tunnel["blocks"]:
            return refuse(f"Block {block_id} is not in tunnel {tunnel_id}")
        self.subscriptions.append(
            {"account_id": account_id, "tunnel_id": tunnel_id, "tunnel_block_id": block_id}
        )
        tool = self.leadgentools[tunnel["leadgentools"][0]] if tunnel["leadgentools"] else {}
        person = self.people.get(channel["person_id"])
        if person is not None:
            person["subscribeHistory"] = [
                *person["subscribeHistory"],
                {
                    "tunnelName": tunnel["name"],
                    "leadgentoolName": tool.get("name", ""),
                    "trafficSource": "Default traffic source",
                    "tunnelId": tunnel_id,
                    "leadgentoolId": tool.get("id", ""),
                    "trafficSourceId": "",
                    "accountId": account_id,
                },
            ]
        return ok({})

    # --- lead-generation tools ------------------------------------------------------------

    @route(
        "POST", r"/api/v2/leadgentools/" + ID.format("leadgentool_id") + "/create-traffic-source"
    )
    def create_traffic_source(self, request, leadgentool_id):
        """A new traffic source in an LGT (JSON)."""
        tool = self.leadgentools.get(leadgentool_id)
        if tool is None:
            return not_found("Leadgentool", leadgentool_id)
        if not isinstance(request.json, dict) or not request.json.get("name"):
            return refuse("name is required")
        stamp = now_text()
        source = {
            "type": "normal",
            "fb_adset_id": None,
            "name": request.json["name"],
            "description": request.json.get("description", ""),
            "synchronized_with_fb": False,
            "synchronization_error": False,
            "disabled": False,
            "company_id": COMPANY_ID,
            "leadgentool_id": leadgentool_id,
            "tunnel_id": tool["tunnel_id"],
            "created_by": API_USER_ID,
            "hash": f"fk{len(self.traffic_sources) + 1:04d}",
            "resubscribe_button_id": self.new_id(),
            "createdAt": stamp,
            "updatedAt": stamp,
            "id": self.new_id(),
        }
        self.traffic_sources.append(source)
        return ok(dict(source))

    # --- orders ---------------------------------------------------------------------------

    @route("POST", r"/api/v2/orders")
    def create_order(self, request):
        """A manual order for an offer, found person and payment system (JSON)."""
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return refuse("The request body must be JSON")
        for name in ("paymentCreditsId", "offerId", "transactionDate"):
            if not body.get(name):
                return refuse(f"{name} is required")
        if body["paymentCreditsId"] not in self.payment_credits:
            return refuse(f"Payment system {body['paymentCreditsId']} not found")
        offer = self.offers.get(body["offerId"])
        if offer is None:
            return refuse(f"Offer {body['offerId']} not found")
        if parse_js_date(str(body["transactionDate"])) is None:
            return refuse("transactionDate must be a date")
        if str(body.get("isNotifyAccount", "false")).lower() not in ("true", "false"):
            return refuse("isNotifyAccount must be true or false")
        if body.get("managerId") and body["managerId"] not in self.users:
            return refuse(f"User {body['managerId']} not found")
        person = self._order_person(body)
        if person is None:
            return refuse("Person not found: send personId, or the email or phone of a person")
        stamp = now_text()
        order = {
            "id": self.new_id(),
            "person_id": person["id"],
            "title": offer["title"],
            "description": offer.get("description", ""),
            "price": offer["price"],
            "currency": offer["currency"],
            "status": "OPENED",
            "paymentMethod": "MANUAL",
            "createdAt": stamp,
            "updatedAt": stamp,
            "transactionDate": body["transactionDate"],
            "managerId": body.get("managerId", ""),
            "isNotifyAccount": str(body.get("isNotifyAccount", "false")).lower() == "true",
        }
        self.orders[order["id"]] = order
        person["orders"] = [*person["orders"], order["id"]]
        return ok(self._order_summary(order, with_person=False))

    def _order_person(self, body: dict) -> dict | None:
        if body.get("personId"):
            return self.people.get(body["personId"])
        for index, key in ((self._by_email, "email"), (self._by_phone, "phone")):
            value = str(body.get(key) or "")
            value = value.lower() if key == "email" else digits(value)
            for person_id in sorted(_index_get(index, value)) if value else ():
                return self.people[person_id]
        return None

    @staticmethod
    def _order_summary(order: dict, with_person: bool = True) -> dict:
        keys = ["id", "person_id", "title", "price", "currency", "status", "createdAt"]
        keys.append("updatedAt")
        return {k: order[k] for k in keys if with_person or k != "person_id"}

    @route("GET", r"/api/v2/orders")
    def list_orders(self, request):
        """Orders, newest first, paged."""
        orders = sorted(self.orders.values(), key=lambda o: o["createdAt"], reverse=True)
        return self.page(request, orders, render=self._order_summary)

    @route("GET", r"/api/v2/orders/" + ID.format("order_id"))
    def get_order(self, request, order_id):
        """One order with its description and payment method."""
        order = self.orders.get(order_id)
        if order is None:
            return not_found("Order", order_id)
        keys = ("id", "createdAt", "updatedAt", "title", "description", "price", "currency")
        return ok({**{k: order[k] for k in keys}, **self._order_state(order)})

    @staticmethod
    def _order_state(order: dict) -> dict:
        return {"status": order["status"], "paymentMethod": order["paymentMethod"]}

    @route("POST", r"/api/v2/orders/" + ID.format("order_id"))
    def update_order(self, request, order_id):
        """Resolve or reject a manual order (form-data only)."""
        order = self.orders.get(order_id)
        if order is None:
            return not_found("Order", order_id)
        if request.form is None:
            return refuse("The request body must be form-data")
        form = {key: values[0] for key, values in request.form.items()}
        if order["paymentMethod"] != "MANUAL" or order.get("partialPayments"):
            return refuse("Only manual orders without partial payments can be updated")
        if form.get("status") not in ("RESOLVED", "REJECTED"):
            return refuse("status must be one of RESOLVED, REJECTED")
        if "paymentDate" in form and not re.fullmatch(
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", form["paymentDate"]
        ):
            return refuse("paymentDate must look like 2018-06-27 07:32")
        if "price" in form:
            try:
                order["price"] = float(form["price"])
            except ValueError:
                return refuse("price must be a number")
            order["price"] = int(order["price"]) if order["price"].is_integer() else order["price"]
        order["status"] = form["status"]
        order["currency"] = form.get("currency", order["currency"])
        order["paymentDate"] = form.get("paymentDate", "")
        order["userComments"] = form.get("userComments", "")
        order["updatedAt"] = now_text()
        return ok({"id": order_id})

    # --- people ---------------------------------------------------------------------------

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
            entries = _Slice(self._by_time, low, high)  # a page is a slice: no scan
        else:
            candidates = None
            if phone:
                candidates = _index_get(self._by_phone, digits(phone))
            if email:
                found = _index_get(self._by_email, email)
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
            total=len(self.people),
            render=lambda entry: self.person_list_item(self.people[entry[1]]),
        )

    @route("GET", r"/api/v2/people/" + ID.format("person_id"))
    def get_person(self, request, person_id):
        """One person's card, with ``include``d users and orders."""
        person = self.people.get(person_id)
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

    # --- calls ----------------------------------------------------------------------------

    @route("POST", r"/api/v2/calls")
    def add_call(self, request):
        """A call on a card; every field required (form-data only)."""
        if request.form is None:
            return refuse("The request body must be form-data")
        call = {key: values[0] for key, values in request.form.items()}
        for name in CALL_FIELDS:
            if not call.get(name):
                return refuse(f"{name} is required")
        if call["status"] not in CALL_STATUSES:
            return refuse(f"status must be one of {', '.join(CALL_STATUSES)}")
        if call["type"] not in CALL_TYPES:
            return refuse(f"type must be one of {', '.join(CALL_TYPES)}")
        if not call["duration"].isdigit():
            return refuse("duration must be a number of seconds")
        if parse_js_date(call["date"]) is None:
            return refuse("date must be a date")
        if call["user_id"] not in self.users:
            return refuse(f"User {call['user_id']} not found")
        if call["account_id"] not in self.channels:
            return refuse(f"Communication channel {call['account_id']} not found")
        call["id"] = self.new_id()
        self.calls.append(call)
        return ok({})

    # --- tags -----------------------------------------------------------------------------

    @route("GET", r"/api/v2/tags")
    def list_tags(self, request):
        """Every tag."""
        return ok([dict(tag) for tag in self.tags.values()])

    @route("PUT", r"/api/v2/people/" + ID.format("person_id") + "/(?P<action>add|remove)-tag")
    def change_tag(self, request, person_id, action):
        """Add or remove a tag on a person (form-data only)."""
        person = self.people.get(person_id)
        if person is None:
            return not_found("Person", person_id)
        tag_id = ((request.form or {}).get("tag_id") or [""])[0]
        if not tag_id:
            return refuse("tag_id is required (form-data)")
        tag = self.tags.get(tag_id)
        if tag is None:
            return refuse(f"Tag {tag_id} not found")
        tags = [name for name in person["tags"] if name != tag["name"]]
        person["tags"] = tags + [tag["name"]] if action == "add" else tags
        person["updated_at"] = now_text()
        return ok({})

    # --- tunnels --------------------------------------------------------------------------

    def _tunnel_item(self, tunnel: dict) -> dict:
        return {k: tunnel[k] for k in ("id", "name", "createdAt", "updatedAt")}

    @route("GET", r"/api/v2/tunnels")
    def list_tunnels(self, request):
        """Sales tunnels, paged."""
        return self.page(request, list(self.tunnels.values()), render=self._tunnel_item)

    @route("GET", r"/api/v2/tunnels/stats")
    def all_tunnel_stats(self, request):
        """Statistics of every tunnel."""
        return ok([dict(tunnel["stats"]) for tunnel in self.tunnels.values()])

    @route("GET", r"/api/v2/tunnels/(?!stats$)" + ID.format("tunnel_id"))
    def get_tunnel(self, request, tunnel_id):
        """One tunnel; ``include=leadgentools`` side-loads its LGTs as ``linked``."""
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None:
            return not_found("Tunnel", tunnel_id)
        data = self._tunnel_item(tunnel)
        data["links"] = {
            "leadgentools": [{"type": "leadgentools", "id": i} for i in tunnel["leadgentools"]]
        }
        extra = {}
        if "leadgentools" in request.arg("include").split(","):
            extra["linked"] = {
                "leadgentools": [
                    {k: self.leadgentools[i][k] for k in ("id", "name", "type")}
                    for i in tunnel["leadgentools"]
                ]
            }
        return ok(data, **extra)

    @route("GET", r"/api/v2/tunnels/" + ID.format("tunnel_id") + "/stats")
    def tunnel_stats(self, request, tunnel_id):
        """Statistics of one tunnel, as a one-item list."""
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None:
            return not_found("Tunnel", tunnel_id)
        return ok([dict(tunnel["stats"])])

    # --- users ----------------------------------------------------------------------------

    @route("GET", r"/api/v2/users")
    def list_users(self, request):
        """Platform users, paged."""
        return self.page(request, list(self.users.values()))

    @route("GET", r"/api/v2/users/" + ID.format("user_id"))
    def get_user(self, request, user_id):
        """One platform user."""
        user = self.users.get(user_id)
        if user is None:
            return not_found("User", user_id)
        return ok(dict(user))

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


class _Slice:
    """A read-only view of ``items[start:stop]`` that pages without copying the window."""

    def __init__(self, items: list, start: int, stop: int):
        self.items, self.start, self.stop = items, start, max(start, stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, part: slice) -> list:
        begin, end, _ = part.indices(len(self))
        return self.items[self.start + begin : self.start + end]


def _index_add(index: dict, key: str, person_id: str) -> None:
    """Index one id under ``key``; a plain id until a second one shares the key."""
    found = index.get(key)
    if found is None or found == person_id:
        index[key] = person_id
    elif isinstance(found, set):
        found.add(person_id)
    else:
        index[key] = {found, person_id}


def _index_get(index: dict, key: str) -> set[str]:
    """The ids indexed under ``key`` (a new set the caller may keep)."""
    found = index.get(key)
    if found is None:
        return set()
    return set(found) if isinstance(found, set) else {found}


def _index_discard(index: dict, key: str, person_id: str) -> None:
    """Forget one id under ``key``."""
    found = index.get(key)
    if found == person_id:
        del index[key]
    elif isinstance(found, set):
        found.discard(person_id)

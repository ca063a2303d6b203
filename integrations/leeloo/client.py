"""The Leeloo.ai client: auth, errors, the envelope, paging, and one method per endpoint.

Leeloo wraps every answer as ``{"status": 1, "data": ..., "meta": {...}}`` and says "no" with
``"status": 0`` in a 200; :meth:`LeelooProvider.check_success` turns that into a
:class:`PermanentError` and :meth:`LeelooProvider.call` is the one place the envelope is opened.
Lists page with ``limit``/``offset`` by ``integrations.paging``'s stop rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .. import paging
from ..base import ApiResponse, EnvVars, Provider
from ..connection import Probe
from ..errors import InvalidResponse, PayloadError, PermanentError
from .events import LeelooEvents
from .operations import LeelooOperations
from .options import ACCOUNT_OPTIONS, FIELD_MAPPING, OPERATIONS, PUSH_OPTIONS
from .parsing import (
    parse_channel,
    parse_comment,
    parse_connection,
    parse_message,
    parse_order,
    parse_person,
    parse_stats,
    parse_tag,
    parse_template,
    parse_template_category,
    parse_traffic_source,
    parse_tunnel,
    parse_user,
)
from .payloads import build_call_form, build_custom_fields
from .syncs import SYNCS
from .wire import (
    API,
    EVERYONE_SINCE,
    Envelope,
    Page,
    _int,
    _items,
    _required,
    _segment,
    format_datetime,
    format_window_bound,
    leeloo_message,
)


class LeelooProvider(LeelooOperations, Provider):
    """Leeloo.ai API v2: people, orders, tags, tunnels, messages, calls and users."""

    id = "leeloo"
    name = "Leeloo.ai"
    base_urls = {"production": "https://api.leeloo.ai"}
    env = EnvVars(credential="LEELOO_AUTH_TOKEN", base_url="LEELOO_BASE_URL")
    pushes = ("contact", "lead", "order")
    syncs = SYNCS
    fake = "integrations.fakes.leeloo.FakeLeeloo"
    events = LeelooEvents()
    connection_probe = Probe("/api/v2/users", {"limit": 1}, "lists one user")
    contact_requirements = (("email", "phone"),)
    # The reference says "Request Body(form-data)" for tags, order updates, calls and tunnel
    # subscriptions: sent as multipart/form-data, the literal meaning. If Leeloo turns out to
    # read only urlencoded forms, this flag is the one switch.
    multipart_forms = True
    push_options = PUSH_OPTIONS
    account_options = ACCOUNT_OPTIONS
    operations = OPERATIONS
    field_mapping = FIELD_MAPPING

    # --- hooks -----------------------------------------------------------------------------

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        """The API token goes in the ``X-Leeloo-AuthToken`` header of every call."""
        headers["X-Leeloo-AuthToken"] = self.require_credential()

    def parse_error(self, status: int, body: Any) -> tuple[str, str, dict]:
        """Leeloo's reason from a JSON, plain-text (its 429), HTML (a proxy's 5xx) or empty body."""
        if isinstance(body, dict):
            errors = body.get("errors")
            return (
                str(body.get("code") or ""),
                leeloo_message(body),
                (errors if isinstance(errors, dict) else {}),
            )
        return "", leeloo_message(body) if isinstance(body, str) else "", {}

    def check_success(self, response: ApiResponse) -> None:
        """Refuse a 2xx that is not the envelope, or whose envelope says ``status: 0``."""
        body = response.data
        if not isinstance(body, dict):
            raise InvalidResponse(
                f"{self.name} answered {response.status} without its JSON envelope",
                status=response.status,
                body=json.dumps(body) if body is not None else "",
            )
        if "status" in body and str(body["status"]).strip().lower() in ("0", "false"):
            code, message, field_errors = self.parse_error(response.status, body)
            raise PermanentError(
                f"{self.name} refused the request" + (f": {message}" if message else ""),
                status=response.status,
                code=code,
                provider_message=message,
                field_errors=field_errors,
                body=json.dumps(body),
            )

    # --- the envelope and paging ---------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict | None = None,
        params: dict | list | None = None,
    ) -> Envelope:
        """One call under ``/api/v2``, its envelope opened (the only place that opens it)."""
        body = self.request(method, API + path, json_body=json_body, form=form, params=params).data
        return Envelope(
            data=body.get("data"),
            meta=body.get("meta") or {},
            linked=body.get("included") or body.get("linked") or {},
        )

    def list_page(
        self,
        path: str,
        params: dict | list | None = None,
        *,
        limit: int = 20,
        offset: int = 0,
        parse: Callable[[dict], Any] | None = None,
    ) -> Page:
        """One page of a ``limit``/``offset`` list, items parsed with ``parse`` when given."""
        pairs = [(key, value) for key, value in _pairs(params) if key not in ("limit", "offset")]
        envelope = self.call("GET", path, params=[*pairs, ("limit", limit), ("offset", offset)])
        items = envelope.data if isinstance(envelope.data, list) else []
        return Page(
            items=[parse(item) for item in items] if parse else items,
            meta=envelope.meta,
            offset=offset,
            limit=limit,
        )

    def iter_pages(
        self,
        path: str,
        params: dict | list | None = None,
        page_size: int = 100,
        *,
        parse: Callable[[dict], Any] | None = None,
    ) -> Iterator[Page]:
        """Every page of a list, in order, until an empty or short page or Leeloo's count.

        The stop rules are ``integrations.paging``'s, which the bridge's sync follows too (it
        reads from a saved offset, ahead and in batches, so it walks the pages itself). The
        offset moves by the items received, so a server that caps ``limit`` below
        ``page_size`` (and says so in ``meta.limit``) still pages through everything.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        offset, previous = 0, None
        while True:
            page = self.list_page(path, params, limit=page_size, offset=offset, parse=parse)
            if not page.items:
                return
            paging.refuse_repeat(self.name, path, offset, page.items, previous)
            previous = page.items
            yield page
            offset, last = paging.next_offset(page, offset, page_size)
            if last:
                return

    # --- message templates ---------------------------------------------------------------

    def list_template_categories(self) -> list[dict]:
        """Message template categories (Sales Funnels, Message Templates)."""
        data = self.call("GET", "/categories/templates").data
        return [parse_template_category(item) for item in _items(data, "categories")]

    def list_templates(self, category_id: str) -> list[dict]:
        """The message templates of one category."""
        data = self.call("GET", f"/categories/templates/{_segment(category_id, 'category_id')}")
        return [parse_template(item) for item in _items(data.data, "templates")]

    def send_template(self, account_id: str, template_id: str, variables: dict | None = None):
        """Send a message template to a communication channel, filling its variables."""
        payload = {
            "account_id": _required(account_id, "account_id"),
            "template_id": _required(template_id, "template_id"),
            "variables": dict(variables or {}),
        }
        return self.call("POST", "/messages/send-template", json_body=payload).data

    # --- messages and communication channels --------------------------------------------

    def list_chat_messages(self, person_id: str, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of a chat's messages.

        The path names it ``person_id`` but the document describes a communication channel id.
        """
        path = f"/communication-channels/{_segment(person_id, 'person_id')}/chat-messages"
        return self.list_page(path, limit=limit, offset=offset, parse=parse_message)

    def send_message(self, account_id: str, text: str):
        """Send a text message to a communication channel."""
        payload = {"account_id": _required(account_id, "account_id"), "text": text or ""}
        if not payload["text"].strip():
            raise PayloadError("A Leeloo.ai message needs text.", field_errors={"text": []})
        return self.call("POST", "/messages/send-message", json_body=payload).data

    def channel_params(self, since: datetime | date | None, until: datetime | date | None):
        """The ``filter[last_message]`` window of the channel list (optional there)."""
        pairs = []
        if since:
            pairs.append(("filter[last_message][from]", format_window_bound(since)))
        if until:
            pairs.append(("filter[last_message][to]", format_window_bound(until)))
        return pairs

    def list_channels(self, since=None, until=None, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of communication channels with their UTM marks."""
        params = self.channel_params(since, until)
        return self.list_page(
            "/communication-channels", params, limit=limit, offset=offset, parse=parse_channel
        )

    def list_connections(self) -> list[dict]:
        """The account's connections (bots): telegram, sendGrid…"""
        return [
            parse_connection(item)
            for item in _items(self.call("GET", "/connections").data, "connections")
        ]

    def person_by_channel(self, account_id: str) -> dict:
        """The person behind a communication channel (account id -> person)."""
        path = f"/communication-channels/{_segment(account_id, 'account_id')}/person"
        return parse_person(self.call("GET", path).data)

    def subscribe_to_tunnel(self, account_id: str, tunnel_id: str, tunnel_block_id: str):
        """Subscribe a communication channel to a tunnel at one of its blocks (form-data)."""
        path = f"/communication-channels/{_segment(account_id, 'account_id')}/manual-subscribe"
        form = {
            "tunnel_id": _required(tunnel_id, "tunnel_id"),
            "tunnel_block_id": _required(tunnel_block_id, "tunnel_block_id"),
        }
        return self.call("POST", path, form=form).data

    # --- lead-generation tools -----------------------------------------------------------

    def create_traffic_source(self, leadgentool_id: str, name: str, description: str = "") -> dict:
        """Create a traffic source in a lead-generation tool."""
        path = f"/leadgentools/{_segment(leadgentool_id, 'leadgentool_id')}/create-traffic-source"
        payload = {"name": _required(name, "name"), "description": description or ""}
        return parse_traffic_source(self.call("POST", path, json_body=payload).data)

    # --- orders ----------------------------------------------------------------------------

    def create_order(self, payload: dict) -> dict:
        """Create a manual order from a payload built by :meth:`build_order_payload`."""
        return parse_order(self.call("POST", "/orders", json_body=payload).data)

    def list_orders(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of orders."""
        return self.list_page("/orders", limit=limit, offset=offset, parse=parse_order)

    def iter_orders(self, *, page_size: int = 100) -> Iterator[Page]:
        """Every page of orders."""
        return self.iter_pages("/orders", None, page_size, parse=parse_order)

    def get_order(self, order_id: str) -> dict:
        """One order."""
        return parse_order(self.call("GET", f"/orders/{_segment(order_id, 'order_id')}").data)

    def update_order(self, order_id: str, form: dict) -> str:
        """Resolve or reject a manual order (form-data); returns the order id."""
        data = self.call("POST", f"/orders/{_segment(order_id, 'order_id')}", form=form).data
        return str((data or {}).get("id") or order_id)

    def build_order_payload(self, record: dict, params: dict) -> dict:
        """The JSON of ``POST /orders`` from an order record, params and account options."""
        contact = record.get("contact") or {}
        payload = {
            "paymentCreditsId": params.get("payment_credits_id")
            or record.get("payment_credits_id")
            or self.option("payment_credits_id"),
            "email": str(contact.get("email") or "").lower(),
            "phone": contact.get("phone") or "",
            "transactionDate": format_datetime(record.get("transaction_date")),
            "offerId": params.get("offer_id") or record.get("offer_id") or self.option("offer_id"),
            # The reference's example sends the flag as the text "true"/"false".
            "isNotifyAccount": "true" if _truthy(params.get("notify")) else "false",
            # The outbox adds the contact's remote id in this account when it has one.
            "personId": params.get("person_id") or contact.get("remote_id") or "",
            "managerId": params.get("manager_id")
            or record.get("manager_id")
            or self.option("manager_id"),
        }
        for name, option in (("paymentCreditsId", "payment_credits_id"), ("offerId", "offer_id")):
            if not payload[name]:
                raise PayloadError(
                    f"A Leeloo.ai order needs '{name}': set the order's {option} or the "
                    f"account option '{option}'.",
                    field_errors={name: ["required"]},
                )
        if not (payload["personId"] or payload["email"] or payload["phone"]):
            raise PayloadError(
                "A Leeloo.ai order needs a person: a person_id, or a contact with an email or "
                "a phone.",
                field_errors={"personId": ["required"]},
            )
        return {key: value for key, value in payload.items() if value not in (None, "")}

    # --- people --------------------------------------------------------------------------

    def people_params(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        phone: str = "",
        email: str = "",
    ) -> list[tuple[str, str]]:
        """The filters of ``GET /people``; the last-message window is required there."""
        if not since or not until:
            raise PayloadError("Leeloo.ai lists people only within a last-message window.")
        pairs = [("filter[tags]", str(tag)) for tag in tags]
        pairs += [
            ("filter[last_message][from]", format_window_bound(since)),
            ("filter[last_message][to]", format_window_bound(until)),
        ]
        if phone:
            pairs.append(("filter[phone]", phone))
        if email:
            pairs.append(("filter[email]", email))
        return pairs

    def list_people(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        phone: str = "",
        email: str = "",
        limit: int = 20,
        offset: int = 0,
    ) -> Page:
        """One page of people whose last message falls in ``[since, until]`` (UTC)."""
        params = self.people_params(since, until, tags=tags, phone=phone, email=email)
        return self.list_page("/people", params, limit=limit, offset=offset, parse=parse_person)

    def iter_people(
        self,
        since: datetime | date,
        until: datetime | date,
        *,
        tags: Iterable[str] = (),
        page_size: int = 100,
    ) -> Iterator[Page]:
        """Every page of people whose last message falls in the window (what syncs read)."""
        params = self.people_params(since, until, tags=tags)
        return self.iter_pages("/people", params, page_size, parse=parse_person)

    def get_person(self, person_id: str) -> dict:
        """One person with the users who contacted them and their orders side-loaded."""
        path = f"/people/{_segment(person_id, 'person_id')}"
        envelope = self.call("GET", path, params={"include": "contactedUsers,orders"})
        person = parse_person(envelope.data)
        person["contacted_users"] = [parse_user(u) for u in envelope.linked.get("users") or []]
        person["orders"] = [parse_order(o) for o in envelope.linked.get("orders") or []]
        return person

    def update_person(
        self, person_id: str, *, phone: str = "", email: str = "", custom_fields: dict | None = None
    ):
        """Update a client card: phone, email and custom fields (the only fields it takes)."""
        payload: dict[str, Any] = {}
        if phone:
            payload["phone"] = phone
        if email:
            payload["email"] = email
        if custom_fields:
            payload["custom_fields"] = build_custom_fields(
                custom_fields, self.account.field_map.types
            )
        path = f"/people/{_segment(person_id, 'person_id')}"
        return self.call("PUT", path, json_body=payload).data

    def create_person(
        self,
        *,
        name: str,
        email: str = "",
        phone: str = "",
        leadgentool_id: str,
        connected_users_ids: Iterable[str] = (),
    ) -> dict:
        """Add a person through a lead-generation tool; returns the parsed new person."""
        payload: dict[str, Any] = {
            "name": name,
            "email": email,
            "phone": phone,
            "leadgentool_id": _required(leadgentool_id, "leadgentool_id"),
        }
        if connected_users_ids:
            payload["connected_users_ids"] = list(connected_users_ids)
        return parse_person(self.call("POST", "/people", json_body=payload).data)

    def add_sms_connections(
        self,
        people: list[dict],
        *,
        connection_id: str,
        leadgentool_id: str,
        tag_ids: Iterable[str] = (),
    ) -> int:
        """Add people reachable by SMS; Leeloo queues them and answers how many it will process."""
        payload = {
            "data": [
                {"name": p.get("name", ""), "email": p.get("email", ""), "phone": p["phone"]}
                for p in people
            ],
            "connection_id": _required(connection_id, "connection_id"),
            "leadgentool_id": _required(leadgentool_id, "leadgentool_id"),
            "tags": list(tag_ids),
        }
        data = self.call("POST", "/people/sms", json_body=payload).data
        return _int((data or {}).get("count_to_process")) or 0

    def add_comment(self, person_id: str, comment: str) -> dict:
        """Leave a comment on a person's card."""
        if not (comment or "").strip():
            raise PayloadError("A Leeloo.ai comment needs text.", field_errors={"comment": []})
        path = f"/people/{_segment(person_id, 'person_id')}/add-comment"
        return parse_comment(self.call("PUT", path, json_body={"comment": comment}).data)

    def find_person(self, *, phone: str = "", email: str = "") -> dict | None:
        """The person with this phone, else this email; None when neither is known to Leeloo.

        ``GET /people`` needs a last-message window, so the lookup spans 2000 to tomorrow.
        Assumption: a person who never wrote a message still falls in it. A returned person
        must really carry the phone or email, in case Leeloo matches loosely.
        """
        until = datetime.now(UTC) + timedelta(days=1)
        for key, value in (("phone", phone), ("email", email.lower() if email else "")):
            if not value:
                continue
            page = self.list_people(EVERYONE_SINCE, until, **{key: value}, limit=20)
            for person in page.items:
                if _same(key, person[key], value):
                    return person
        return None

    # --- calls ---------------------------------------------------------------------------

    def log_call(self, call: dict):
        """Add a call to a person's card (form-data, every field required)."""
        return self.call("POST", "/calls", form=build_call_form(call)).data

    # --- tags ----------------------------------------------------------------------------

    def list_tags(self) -> list[dict]:
        """Every tag of the account."""
        return [parse_tag(item) for item in _items(self.call("GET", "/tags").data, "tags")]

    def add_tag(self, person_id: str, tag_id: str):
        """Tag a person (form-data ``tag_id``)."""
        path = f"/people/{_segment(person_id, 'person_id')}/add-tag"
        return self.call("PUT", path, form={"tag_id": _required(tag_id, "tag_id")}).data

    def remove_tag(self, person_id: str, tag_id: str):
        """Untag a person (form-data ``tag_id``)."""
        path = f"/people/{_segment(person_id, 'person_id')}/remove-tag"
        return self.call("PUT", path, form={"tag_id": _required(tag_id, "tag_id")}).data

    def tag_id_for(self, params: dict) -> str:
        """The tag id from params: ``tag_id``, or a ``tag`` name looked up in the tag list."""
        if params.get("tag_id"):
            return str(params["tag_id"])
        name = str(params.get("tag") or "").strip()
        if not name:
            raise PayloadError("Say which tag: 'tag_id' or 'tag'.", field_errors={"tag_id": []})
        for tag in self.list_tags():
            if tag["name"].casefold() == name.casefold():
                return tag["remote_id"]
        raise PayloadError(
            f"Leeloo.ai has no tag named '{name}'; create it in Settings, CRM, Tags.",
            field_errors={"tag": [name]},
        )

    # --- tunnels -------------------------------------------------------------------------

    def list_tunnels(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of sales tunnels."""
        return self.list_page("/tunnels", limit=limit, offset=offset, parse=parse_tunnel)

    def get_tunnel(self, tunnel_id: str) -> dict:
        """One tunnel with its lead-generation tools (side-loaded as ``linked.leadgentools``)."""
        path = f"/tunnels/{_segment(tunnel_id, 'tunnel_id')}"
        envelope = self.call("GET", path, params={"include": "leadgentools"})
        return parse_tunnel(envelope.data, envelope.linked)

    def all_tunnel_stats(self) -> list[dict]:
        """Statistics of every tunnel."""
        data = self.call("GET", "/tunnels/stats").data
        return [parse_stats(item) for item in (data if isinstance(data, list) else [data])]

    def tunnel_stats(self, tunnel_id: str) -> dict:
        """Statistics of one tunnel (Leeloo answers a one-item list)."""
        data = self.call("GET", f"/tunnels/{_segment(tunnel_id, 'tunnel_id')}/stats").data
        item = data[0] if isinstance(data, list) and data else data
        return parse_stats(item if isinstance(item, dict) else {})

    # --- users ---------------------------------------------------------------------------

    def list_users(self, *, limit: int = 20, offset: int = 0) -> Page:
        """One page of platform users (managers)."""
        return self.list_page("/users", limit=limit, offset=offset, parse=parse_user)

    def get_user(self, user_id: str) -> dict:
        """One platform user."""
        return parse_user(self.call("GET", f"/users/{_segment(user_id, 'user_id')}").data)


def _pairs(params: dict | list | None) -> list[tuple[str, Any]]:
    if not params:
        return []
    return list(params.items()) if isinstance(params, dict) else list(params)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _same(key: str, found: str, wanted: str) -> bool:
    if key == "phone":
        return re.sub(r"\D", "", found or "") == re.sub(r"\D", "", wanted)
    return (found or "").strip().lower() == wanted.strip().lower()

"""A fake Aiployees (Autocalls): ``POST /api/user/lead`` behind a Bearer token.

Aiployees is a Laravel app: an unknown token is answered 401 ``{"message": "Unauthenticated."}``
and invalid input 422 ``{"message", "errors": {field: [..]}}``, which is what this fake does. A
valid lead is answered with the document's lead object, ids counting up, timestamps in the
document's "2025-06-30 11:53:20" form.

Duplicates (undocumented, our choice): with ``allow_dupplicate`` false, a second lead for a phone
already in the campaign is not created; the existing lead comes back with the message "Lead
already exists" (200). Returning the lead keeps a re-sent push idempotent, which is the behaviour
the bridge relies on; a 4xx would have lost the lead's id.

``envelope = "list"`` makes it answer the older shape (a list of envelopes, string ids, ISO
timestamps) that clients must still read.

Calls: once a webhook URL is configured (``/_control/webhook`` with ``provider``
"aiployees", ``url``, ``delay`` seconds, optionally ``status`` and ``transcript``), each new
lead is "called" after the delay and the post-call result is posted there, as Autocalls'
post-call webhook does. ``/_control/emit`` with type ``post_call`` sends one on demand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .core import FakeProvider, FakeRequest, FakeResponse, route
from .events import now_iso

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
BOOLEANS = (True, False, 0, 1, "0", "1", "true", "false")


def _invalid(errors: dict[str, list[str]]) -> FakeResponse:
    first = next(iter(errors.values()))[0]
    more = len(errors) - 1
    message = first + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")
    return FakeResponse(422, {"message": message, "errors": errors})


class FakeAiployees(FakeProvider):
    """Campaigns and their leads, in memory."""

    id = "aiployees"
    credential = "fake-aiployees-token"

    def reset(self) -> None:
        """The document's campaign 1 and a second one; no leads; the documented envelope."""
        self.campaigns: dict[int, str] = {1: "My new campaign", 7: "Dealership follow-up"}
        self.leads: list[dict] = []
        self.next_id = 1
        self.next_call_id = 48000
        self.envelope = "object"

    def record_key(self, request: FakeRequest) -> str:
        """A pushed lead is its phone (within a campaign: the soak uses one)."""
        return str(request.field("phone_number", "")) if request.path == "/api/user/lead" else ""

    def created_total(self) -> int:
        return len(self.leads)

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        if request.header("Authorization") != f"Bearer {self.credential}":
            return FakeResponse(401, {"message": "Unauthenticated."})
        return None

    @route("POST", r"/api/user/lead")
    def create_lead(self, request: FakeRequest) -> FakeResponse:
        """Validate as Laravel would, then create the lead or hand back the existing one."""
        body = request.json if isinstance(request.json, dict) else {}
        errors = self.validate(body)
        if errors:
            return _invalid(errors)
        campaign_id = int(body["campaign_id"])
        if campaign_id not in self.campaigns:
            return FakeResponse(404, {"message": "Campaign not found."})
        phone = body["phone_number"]
        if not _truthy(body.get("allow_dupplicate", False)):
            for lead in self.leads:
                if lead["campaign_id"] == campaign_id and lead["phone_number"] == phone:
                    return self.answer("Lead already exists", lead)
        lead = self.new_lead(campaign_id, phone, body.get("variables") or {})
        lead["campaign"] = {"id": campaign_id, "name": self.campaigns[campaign_id]}
        lead["secondary_contacts"] = [
            self.new_lead(campaign_id, item["phone_number"], item.get("variables") or {})
            for item in body.get("secondary_contacts") or []
        ]
        self.leads.append(lead)
        self.send_later(lambda: self.call_result(lead))
        return self.answer("Lead created successfully", lead)

    @route("GET", r"/api/user/leads")
    def list_leads(self, request: FakeRequest) -> FakeResponse:
        """The account's leads, Laravel-paged (``per_page`` 1–100, default 15; ``page``)."""
        try:
            per_page = int(request.arg("per_page", "15"))
            page = int(request.arg("page", "1"))
        except ValueError:
            return _invalid({"per_page": ["The per page field must be an integer."]})
        if not 1 <= per_page <= 100 or page < 1:
            return _invalid({"per_page": ["The per page field must be between 1 and 100."]})
        last_page = max(1, -(-len(self.leads) // per_page))
        start = (page - 1) * per_page
        return FakeResponse(
            200,
            {
                "current_page": page,
                "data": self.leads[start : start + per_page],
                "last_page": last_page,
                "per_page": per_page,
                "total": len(self.leads),
            },
        )

    def call_result(self, lead: dict, fields: dict | None = None) -> dict:
        """The post-call webhook body for a call to ``lead`` (the document's fields)."""
        fields = dict(fields or {})
        settings = self.webhook
        status = fields.pop("status", settings.get("status", "completed"))
        self.next_call_id += 1
        lead["status"] = "completed"
        name = (lead.get("variables") or {}).get("customer_name", "there")
        body = {
            "id": self.next_call_id,
            "customer_phone": lead["phone_number"],
            "assistant_phone": "+352201234567",
            "duration": 94 if status == "completed" else 0,
            "status": status,
            "extracted_variables": {
                "status": status == "completed",
                "summary": "Wants a test drive",
            },
            "input_variables": lead.get("variables") or {},
            "transcript": settings.get(
                "transcript", f"AI: Hello {name}, you asked about a vehicle.\nCustomer: Yes!"
            ),
            "recording_url": f"https://recordings.example.com/calls/{self.next_call_id}.mp3",
            "created_at": now_iso(),
            "finished_at": now_iso(),
            "lead": {
                "id": lead["id"],
                "phone_number": lead["phone_number"],
                "variables": lead.get("variables") or {},
                "status": lead["status"],
                "campaign": {
                    "id": lead["campaign_id"],
                    "name": self.campaigns[lead["campaign_id"]],
                },
            },
        }
        return {**body, **fields}

    def event_body(self, event_type: str, fields: dict) -> dict:
        """``post_call``: the result of a call to the lead ``lead_id`` (default: the last one),
        or to a lead the fake never had when there is none."""
        if event_type != "post_call":
            raise ValueError(f"Aiployees sends post_call, not {event_type!r}.")
        fields = dict(fields)
        lead_id = fields.pop("lead_id", None)
        found = [lead for lead in self.leads if lead_id in (None, lead["id"], str(lead["id"]))]
        lead = (
            found[-1]
            if found
            else self.new_lead(1, fields.get("customer_phone") or "+352621123456", {})
        )
        return self.call_result(lead, fields)

    def validate(self, body: dict) -> dict[str, list[str]]:
        """Laravel-style rules: the documented required fields, types and E.164 phones."""
        errors: dict[str, list[str]] = {}
        phone = body.get("phone_number")
        if phone in (None, ""):
            errors["phone_number"] = ["The phone number field is required."]
        elif not isinstance(phone, str) or not E164.match(phone):
            errors["phone_number"] = ["The phone number must be in E.164 format."]
        campaign = body.get("campaign_id")
        if campaign in (None, ""):
            errors["campaign_id"] = ["The campaign id field is required."]
        elif isinstance(campaign, bool) or not str(campaign).isdigit():
            errors["campaign_id"] = ["The campaign id must be an integer."]
        if "variables" in body and not isinstance(body["variables"], dict | list):
            errors["variables"] = ["The variables must be an array."]
        if "allow_dupplicate" in body and body["allow_dupplicate"] not in BOOLEANS:
            errors["allow_dupplicate"] = ["The allow dupplicate field must be true or false."]
        secondary = body.get("secondary_contacts")
        if secondary is not None and not isinstance(secondary, list):
            errors["secondary_contacts"] = ["The secondary contacts must be an array."]
        for index, item in enumerate(secondary if isinstance(secondary, list) else []):
            number = item.get("phone_number") if isinstance(item, dict) else None
            if not isinstance(number, str) or not E164.match(number):
                errors[f"secondary_contacts.{index}.phone_number"] = [
                    f"The secondary_contacts.{index}.phone_number must be in E.164 format."
                ]
        return errors

    def new_lead(self, campaign_id: int, phone: str, variables: Any) -> dict:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        lead = {
            "id": self.next_id,
            "campaign_id": campaign_id,
            "phone_number": phone,
            "variables": variables,
            "status": "created",
            "created_at": now,
            "updated_at": now,
        }
        self.next_id += 1
        return lead

    def answer(self, message: str, lead: dict) -> FakeResponse:
        """The documented envelope, or the older list-wrapped one with string ids."""
        if self.envelope == "list":
            old = {**lead, "id": str(lead["id"])}
            for key in ("created_at", "updated_at"):
                old[key] = lead[key].replace(" ", "T") + ".000000Z"
            return FakeResponse(200, [{"message": message, "data": old}])
        return FakeResponse(200, {"message": message, "data": lead})


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true")

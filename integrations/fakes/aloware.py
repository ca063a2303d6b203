"""A fake Aloware Lead API: ``POST /api/v1/webhook/forms`` with ``api_token`` in the body.

Contacts are kept by phone number (E.164; ten US digits as in the document are read as +1).
A new phone is answered 201 ``{"message": "Contact created."}``; a known one 200 ``{"message":
"Contact updated."}``. Without ``force_update`` only empty fields are filled, as the document
says; when the push would change a filled field this fake refuses it with 409, the undocumented
answer integrators report (``exists_status = 400`` switches to the 400 variant also reported).

Invalid input is answered as Laravel does: 400 ``{"message": "The given data was invalid.",
"errors": {field: [..]}}``. A missing ``api_token`` is such a 400; a wrong one is 401. The rate
limit (5,000 requests a minute) comes from the server's fault injection, not from here.

Events (``/_control/emit``): "Contact Created", "Contact Updated", "Contact Disposed",
"Call Disposed", "Communication Disposed"… in the ``{"event", "body"}`` shape third-party
receivers read; ``fields`` fill the body (a ``contact`` object inside call events).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .core import FakeProvider, FakeRequest, FakeResponse, route

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
INVALID = "The given data was invalid."

CONTACT_FIELDS = (
    "company_name",
    "name",
    "first_name",
    "last_name",
    "lead_source",
    "email",
    "date_of_birth",
    "timezone",
    "city",
    "state",
    "zipcode",
    "country",
    "address",
    "website",
    "notes",
    "csf1",
    "csf2",
)
BOOLEAN_FIELDS = (
    "distribute_to_ring_group",
    "check_available_users",
    "check_available_users_with_fallback",
    "add_to_powerdialer",
    "force_update_sequence",
    "force_update",
)
ROUTING_FIELDS = (
    *BOOLEAN_FIELDS,
    "user_id",
    "ring_group_id",
    "powerdialer_position",
    "sequence_id",
    "line_id",
    "tag_id",
    "disposition_status_id",
)


def normalize(phone: Any) -> str:
    """E.164 for what Aloware accepts: E.164 itself, or 10/11 US digits as in its examples."""
    text = re.sub(r"[\s().-]", "", str(phone or ""))
    if E164.match(text):
        return text
    if text.isdigit() and len(text) == 10:
        return "+1" + text
    if text.isdigit() and len(text) == 11 and text.startswith("1"):
        return "+" + text
    return ""


def _contact_body(contact: dict, number: int) -> dict:
    """A contact as Aloware's events carry it (third-party view)."""
    return {
        "id": str(55000 + number),
        "phone_number": contact.get("phone_number", "+13105550177"),
        "first_name": contact.get("first_name", "John"),
        "last_name": contact.get("last_name", "Doe"),
        "email": contact.get("email", ""),
        "disposition_status": contact.get("disposition_status", ""),
    }


def _invalid(errors: dict[str, list[str]]) -> FakeResponse:
    return FakeResponse(400, {"message": INVALID, "errors": errors})


class FakeAloware(FakeProvider):
    """One Aloware company's contacts, in memory."""

    id = "aloware"
    credential = "fake-aloware-token"

    def reset(self) -> None:
        """No contacts; an existing contact without force_update is refused with 409."""
        self.contacts: dict[str, dict] = {}
        self.exists_status = 409
        self.events_sent = 0

    def event_body(self, event_type: str, fields: dict) -> dict:
        """``{"event": <label>, "body": {...}}``; contact events carry the contact itself, call
        and communication events the call with its ``contact``."""
        self.events_sent += 1
        fields = dict(fields)
        label = event_type.strip()
        if label.lower().startswith("contact"):
            return {"event": label, "body": {**_contact_body(fields, self.events_sent), **fields}}
        contact = _contact_body(fields.pop("contact", {}), self.events_sent)
        body = {
            "id": str(918000 + self.events_sent),
            "contact_id": contact["id"],
            "user_id": "77",
            "direction": 2,
            "lead_number": contact["phone_number"],
            "call_disposition": "Interested",
            "call_disposition_id": "1234",
            "duration": 184,
            "talk_time": 160,
            "created_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "updated_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "contact": contact,
        }
        return {"event": label, "body": {**body, **fields}}

    def record_key(self, request: FakeRequest) -> str:
        """A pushed contact is its phone, as Aloware keys contacts."""
        if request.path != "/api/v1/webhook/forms":
            return ""
        return normalize(request.field("phone_number") or request.arg("phone_number"))

    def created_total(self) -> int:
        return len(self.contacts)

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        token = request.field("api_token") or request.arg("api_token")
        if not token:
            return _invalid({"api_token": ["The api token field is required."]})
        if token != self.credential:
            return FakeResponse(401, {"message": "Invalid API token."})
        return None

    @route("POST", r"/api/v1/webhook/forms")
    def submit_form(self, request: FakeRequest) -> FakeResponse:
        """Create the contact (201) or update it (200), as the document describes."""
        body = dict(request.json) if isinstance(request.json, dict) else {}
        if "phone_number" not in body and request.arg("phone_number"):
            body["phone_number"] = request.arg("phone_number")
        errors = self.validate(body)
        if errors:
            return _invalid(errors)
        phone = normalize(body["phone_number"])
        given = {key: body[key] for key in CONTACT_FIELDS if body.get(key) not in (None, "")}
        others = [
            {"label": item.get("label", ""), "phone_number": normalize(item["phone_number"])}
            for item in body.get("other_phone_numbers") or []
        ]
        routing = {key: body[key] for key in ROUTING_FIELDS if key in body}
        existing = self.contacts.get(phone)
        if existing is None:
            self.contacts[phone] = {
                "phone_number": phone,
                **given,
                "other_phone_numbers": others,
                "routing": routing,
            }
            return FakeResponse(201, {"message": "Contact created."})
        if body.get("force_update") is True:
            existing.update(given)
        else:
            conflicts = [
                key for key, value in given.items() if existing.get(key) and existing[key] != value
            ]
            if conflicts:
                return self.exists(phone, conflicts)
            existing.update({k: v for k, v in given.items() if not existing.get(k)})
        known = {item["phone_number"] for item in existing["other_phone_numbers"]}
        existing["other_phone_numbers"] += [o for o in others if o["phone_number"] not in known]
        existing["routing"] = {**existing["routing"], **routing}
        return FakeResponse(200, {"message": "Contact updated."})

    def exists(self, phone: str, fields: list[str]) -> FakeResponse:
        """The undocumented refusal of an existing contact pushed without force_update."""
        message = (
            f"A contact with phone number {phone} already exists; "
            "set force_update to overwrite " + ", ".join(sorted(fields)) + "."
        )
        if self.exists_status == 400:
            return _invalid({"phone_number": [message]})
        return FakeResponse(409, {"message": message})

    def validate(self, body: dict) -> dict[str, list[str]]:
        """Laravel-style rules for the documented fields."""
        errors: dict[str, list[str]] = {}
        if body.get("phone_number") in (None, ""):
            errors["phone_number"] = ["The phone number field is required."]
        elif not normalize(body["phone_number"]):
            errors["phone_number"] = ["The phone number format is invalid."]
        if body.get("email") and not EMAIL.match(str(body["email"])):
            errors["email"] = ["The email must be a valid email address."]
        if body.get("date_of_birth"):
            try:
                datetime.strptime(str(body["date_of_birth"]), "%m/%d/%Y")
            except ValueError:
                errors["date_of_birth"] = ["The date of birth does not match the format m/d/Y."]
        # Stricter than Laravel's boolean rule (which takes "1"/"0"): the document sends JSON
        # booleans, and a flag sent as the string "false" must not pass unnoticed here.
        for key in BOOLEAN_FIELDS:
            if key in body and not isinstance(body[key], bool):
                errors[key] = [f"The {key.replace('_', ' ')} field must be true or false."]
        if body.get("powerdialer_position") not in (None, "top", "bottom"):
            errors["powerdialer_position"] = ["The selected powerdialer position is invalid."]
        others = body.get("other_phone_numbers")
        if others is not None and not isinstance(others, list):
            errors["other_phone_numbers"] = ["The other phone numbers must be an array."]
        for index, item in enumerate(others if isinstance(others, list) else []):
            if not isinstance(item, dict) or not normalize(item.get("phone_number")):
                errors[f"other_phone_numbers.{index}.phone_number"] = [
                    "The phone number format is invalid."
                ]
        return errors

"""Aiployees (AI phone calls, a white-label of Autocalls): ``POST /api/user/lead``, Bearer token.

One operation, ``push``, puts a contact (or a lead's contact) into a call campaign. The phone is
sent as E.164, the campaign id as an integer, and what the call assistant may say about the
person as ``variables`` (``customer_name``, ``email``, and whatever the account's field
mapping (and its older ``variable_map`` option) adds). The contact's other phones become
``secondary_contacts``.

Aiployees answers with the lead it created (or, without ``allow_dupplicate``, the one it already
had): the lead id is kept as the remote id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .base import EnvVars, Option, Provider, PushResult
from .connection import Probe
from .errors import ConfigurationError, InvalidResponse, PayloadError
from .events import (
    Event,
    EventReader,
    WebhookSetup,
    integer,
    plain_object,
    require_object,
    text,
    timestamp,
)
from .mapping import MappingSpec

TRUE_WORDS = {"1", "true", "yes", "on"}


def contact_of(record: dict) -> dict:
    """The person in a record: a lead carries it under ``contact``, a contact is itself."""
    return record["contact"] if isinstance(record.get("contact"), dict) else record


def phone_number(contact: dict) -> str:
    """``phone_number``: the contact's main phone, already E.164 in the bridge."""
    phone = (contact.get("phone") or "").strip()
    if not phone:
        raise PayloadError("Aiployees requires a phone: the contact has no phone number.")
    return phone


def customer_name(contact: dict) -> str:
    """``variables.customer_name``: what the assistant calls the person."""
    name = contact.get("full_name") or " ".join(
        part for part in (contact.get("first_name"), contact.get("last_name")) if part
    )
    return (name or "").strip()


def _lookup(record: dict, contact: dict, key: str) -> Any:
    """A value for ``variable_map``: the contact's field, its custom field, then the lead's."""
    if key in contact and key not in ("custom_fields", "contact"):
        return contact[key]
    custom = contact.get("custom_fields") or {}
    if key in custom:
        return custom[key]
    if key.startswith("product.") and isinstance(record.get("product"), dict):
        return record["product"].get(key.split(".", 1)[1])
    if record is not contact and key in record and key != "contact":
        return record[key]
    return None


def _variable_value(value: Any) -> Any:
    """Lists (tags) read better to an assistant as one comma-separated string."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return value


def campaign_id(params: dict, default: Any) -> int:
    """``campaign_id`` (integer, required): from the push's params, else the account option."""
    value = params.get("campaign_id") if params.get("campaign_id") not in (None, "") else default
    if value in (None, ""):
        raise ConfigurationError(
            "Aiployees needs a campaign_id: set the account option 'campaign_id' (or "
            "AIPLOYEES_CAMPAIGN_ID) or choose a campaign when pushing."
        )
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigurationError(f"campaign_id must be an integer, not '{value}'.") from None
    if number <= 0:
        raise ConfigurationError(f"campaign_id must be a positive integer, not '{value}'.")
    return number


def allow_dupplicate(params: dict) -> bool:
    """``allow_dupplicate`` (the API's spelling): False unless the push asks for duplicates.

    False keeps one lead per phone and campaign, so a re-sent push does not make the assistant
    call the same person twice. Params may use either spelling.
    """
    value = params.get("allow_duplicate", params.get("allow_dupplicate", False))
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


def parse_timestamp(value: Any) -> datetime | None:
    """Aiployees' timestamps, seen both as "2025-06-30 11:53:20" and ISO with microseconds+Z.

    The space-separated form carries no zone; it is read as UTC (the Laravel default).
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_response(body: Any) -> tuple[str, dict]:
    """(message, lead object) out of the answer, whichever envelope it came in.

    The document shows ``{"message", "data": {...}}``; earlier answers were a list of such
    envelopes and ``data`` has been seen as a one-item list, with ``id`` as a string.
    """
    envelope = body[0] if isinstance(body, list) and body else body
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise InvalidResponse("Aiployees answered without a lead id", body=str(body)[:2000])
    return str(envelope.get("message") or ""), data


class AiployeesEvents(EventReader):
    """The post-call webhook (Autocalls' document): one JSON object per finished call.

    It has no envelope and no event type, so every object is a ``post_call``. Dedup on the
    call ``id`` (a retried lead gives new calls: same ``lead.id``, new ``id``). ``lead`` is
    only there for campaign calls; phones may be null; ``status`` values are open.
    """

    setup = WebhookSetup(
        steps=(
            "In Aiployees, open the call assistant used by the campaign → Post-call actions.",
            "Paste the URL above as the webhook URL and enable “Post call webhook”.",
            "Optionally define post-call variables and enable “Include recording in webhook”.",
        ),
        mapped=(
            "Each finished call becomes a call activity on the lead (status, duration, "
            "transcript, extracted variables, recording URL).",
            "The lead's status moves by the account option call_status_map "
            '(default {"completed": "contacted"}; a status never moves back).',
            "The lead is found by the id its push stored, else by the customer's phone.",
        ),
    )

    def read(self, body: Any) -> Event:
        call = require_object(body)
        lead = call.get("lead") if isinstance(call.get("lead"), dict) else {}
        campaign = lead.get("campaign") if isinstance(lead.get("campaign"), dict) else {}
        call_id = text(call.get("id"), 64)
        data = {
            "call_id": call_id,
            "customer_phone": text(call.get("customer_phone"), 32),
            "assistant_phone": text(call.get("assistant_phone"), 32),
            "duration": integer(call.get("duration")),
            "status": text(call.get("status"), 64),
            "extracted_variables": plain_object(call.get("extracted_variables")),
            "input_variables": plain_object(call.get("input_variables")),
            "transcript": text(call.get("transcript"), 100_000),
            "recording_url": text(call.get("recording_url"), 1000),
            "created_at": timestamp(call.get("created_at")),
            "finished_at": timestamp(call.get("finished_at")),
            "lead_id": text(lead.get("id"), 64),
            "lead_phone": text(lead.get("phone_number"), 32),
            "lead_status": text(lead.get("status"), 64),
            "campaign_id": text(campaign.get("id"), 64),
            "campaign_name": text(campaign.get("name"), 200),
        }
        return Event("post_call", "post_call", f"call:{call_id}" if call_id else "", data)


class AiployeesProvider(Provider):
    """Puts contacts and leads into an Aiployees call campaign."""

    id = "aiployees"
    name = "Aiployees"
    base_urls = {"production": "https://call.aiployees.com"}
    account_options = {
        "campaign_id": "Campaign (integer id) new leads are put into, unless a push names one.",
        "variable_map": "The older form of the Field mapping section below (which is the place "
        'for new variables): {"our field or custom field": "their variable"}, e.g. '
        '{"company": "company_name", "product.title": "vehicle"}. Still honoured; a mapping '
        "row for the same variable wins.",
        "call_status_map": 'How a finished call moves its lead: {"call status": "lead status"}, '
        'e.g. {"completed": "contacted", "busy": "new"}. Default {"completed": "contacted"}.',
    }
    env = EnvVars(
        credential="AIPLOYEES_TOKEN",
        base_url="AIPLOYEES_BASE_URL",
        options={"campaign_id": ("AIPLOYEES_CAMPAIGN_ID", "positive_integer")},
    )
    pushes = ("lead", "contact")
    operations = {"push": "push_lead"}
    push_options = (
        Option(
            "campaign_id",
            "Campaign id",
            kind="int",
            required=True,
            help="The Aiployees call campaign the leads are put into.",
        ),
        Option(
            "allow_dupplicate",
            "Allow duplicates",
            kind="bool",
            help="Yes lets Aiployees add a lead whose phone is already in the campaign; "
            "No (the default) keeps one lead per phone per campaign.",
        ),
    )
    # Aiployees calls phones: a contact without one cannot be put into a campaign.
    contact_requirements = (("phone",),)
    fake = "integrations.fakes.aiployees.FakeAiployees"
    events = AiployeesEvents()
    # Documented with the call results (inbound-events.md, "Reconcile"): a read, so harmless.
    connection_probe = Probe("/api/user/leads", {"per_page": 1}, "lists one lead")
    # Any variable the campaign's call assistant defines may be sent (the document's
    # customer_name and email are examples), so a row names its own variable.
    field_mapping = MappingSpec(
        variables=True,
        defaults="customer_name (the full name) and email; the account option variable_map "
        "(the older form of this mapping) adds more. A row for customer_name or email "
        "replaces that default.",
    )

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["Authorization"] = f"Bearer {self.require_credential()}"

    def variables(self, record: dict, contact: dict, params: dict) -> dict:
        """``variables``: name and email, the account's ``variable_map``, its field mapping
        rows, then params' own (each later one wins for the same variable)."""
        values: dict[str, Any] = {
            "customer_name": customer_name(contact),
            "email": (contact.get("email") or "").strip(),
        }
        mapping = self.option("variable_map", {}) or {}
        if not isinstance(mapping, dict):
            raise ConfigurationError(
                "The account option 'variable_map' must be an object of "
                '{"our field": "their variable"}.'
            )
        for ours, theirs in mapping.items():
            values[str(theirs)] = _variable_value(_lookup(record, contact, str(ours)))
        for variable, value in self.checked_field_map().values(record).items():
            values[variable] = _variable_value(value)
        values.update(params.get("variables") or {})
        return {key: value for key, value in values.items() if value not in (None, "", [])}

    def secondary_contacts(self, contact: dict, variables: dict) -> list[dict]:
        """``secondary_contacts``: the contact's other phones, called as the same person."""
        main = contact.get("phone")
        seen, contacts = {main}, []
        for entry in contact.get("other_phones") or []:
            number = entry.get("phone_number") if isinstance(entry, dict) else entry
            number = (number or "").strip()
            if number and number not in seen:
                seen.add(number)
                contacts.append({"phone_number": number, "variables": dict(variables)})
        return contacts

    def build_lead_payload(self, record: dict, params: dict) -> dict:
        """The whole ``POST /api/user/lead`` body for a lead or contact record."""
        contact = contact_of(record)
        payload = {
            "phone_number": phone_number(contact),
            "campaign_id": campaign_id(params, self.option("campaign_id")),
            "variables": self.variables(record, contact, params),
            "allow_dupplicate": allow_dupplicate(params),
        }
        if secondary := self.secondary_contacts(contact, payload["variables"]):
            payload["secondary_contacts"] = secondary
        return payload

    def push_lead(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create the campaign lead; keep its id, status, campaign and timestamps."""
        payload = self.build_lead_payload(record, params)
        response = self.request("POST", "/api/user/lead", json_body=payload)
        message, lead = read_response(response.data)
        created_at = parse_timestamp(lead.get("created_at"))
        updated_at = parse_timestamp(lead.get("updated_at"))
        # Without allow_dupplicate Autocalls hands back the lead it already had; its message
        # then says so instead of "Lead created successfully".
        created = "exist" not in message.lower()
        return PushResult(
            remote_id=str(lead["id"]),
            created=created,
            status=str(lead.get("status") or ""),
            data={
                "id": str(lead["id"]),
                "status": lead.get("status"),
                "campaign_id": lead.get("campaign_id"),
                "campaign": lead.get("campaign"),
                "created_at": created_at.isoformat() if created_at else None,
                "updated_at": updated_at.isoformat() if updated_at else None,
                "secondary_contact_ids": [
                    str(item.get("id")) for item in lead.get("secondary_contacts") or []
                ],
            },
        )

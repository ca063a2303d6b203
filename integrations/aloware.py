"""Aloware (dialer CRM): ``POST /api/v1/webhook/forms`` with ``api_token`` in the JSON body.

One operation, ``push``, creates or updates a contact (a lead's contact, with the lead's message
as its notes). Aloware matches contacts by phone number: 201 means it created one, 200 that it
updated one (only filled fields are overwritten, and only with ``force_update``). It returns no
contact id, so the E.164 phone is kept as the remote id.

Routing (owner, ring group, PowerDialer, sequence, line, tag, disposition) comes from the
account's options and can be overridden per push through params. The account's field mapping
(:data:`FIELD_MAPPING`) may fill ``csf1``, ``csf2``, ``notes``, ``lead_source`` and ``tag_id``
from other local fields. The payload is built by the small functions below, one per concern.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .base import EnvVars, Option, Provider, PushResult
from .errors import AuthenticationError, ConfigurationError, PayloadError, ProviderError
from .events import (
    Event,
    EventReader,
    WebhookSetup,
    body_hash,
    integer,
    require_object,
    text,
    timestamp,
)
from .mapping import FieldMap, MappingSpec, Target, as_text

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

#: Routing options: account defaults, overridable per push. Values are sent as the document
#: shows them: booleans as JSON booleans, ids as strings.
BOOLEAN_OPTIONS = (
    "distribute_to_ring_group",
    "check_available_users",
    "check_available_users_with_fallback",
    "add_to_powerdialer",
    "force_update_sequence",
    "force_update",
)
ID_OPTIONS = (
    "user_id",
    "ring_group_id",
    "sequence_id",
    "line_id",
    "tag_id",
    "disposition_status_id",
)
POWERDIALER_POSITIONS = ("top", "bottom")

#: Contact fields sent as they are: Aloware's name -> the bridge's contact key.
CONTACT_FIELDS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "company_name": "company",
    "email": "email",
    "timezone": "timezone",
    "address": "address",
    "city": "city",
    "state": "state",
    "zipcode": "zipcode",
    "country": "country",
    "website": "website",
}


def contact_of(record: dict) -> dict:
    """The person in a record: a lead carries it under ``contact``, a contact is itself."""
    return record["contact"] if isinstance(record.get("contact"), dict) else record


def phone_number(contact: dict) -> str:
    """``phone_number``, sent as E.164 (``+18181234567``).

    The document's example sends ten US digits ("8181234567"), which only works for US numbers;
    E.164 is unambiguous for every country and is what the bridge stores. Assumed: Aloware
    reads a leading "+" and country code (its dialer stores E.164).
    """
    phone = (contact.get("phone") or "").strip()
    if not phone:
        raise PayloadError("Aloware requires phone_number: the contact has no phone.")
    return phone


def other_phone_numbers(contact: dict) -> list[dict]:
    """``other_phone_numbers``: [{label, phone_number}], the main phone left out."""
    seen, numbers = {contact.get("phone")}, []
    for entry in contact.get("other_phones") or []:
        if isinstance(entry, str):
            entry = {"label": "", "phone_number": entry}
        number = (entry.get("phone_number") or "").strip()
        if number and number not in seen:
            seen.add(number)
            numbers.append({"label": entry.get("label") or "other", "phone_number": number})
    return numbers


def name(contact: dict) -> str:
    """``name``: the full name, beside ``first_name``/``last_name`` as the document sends it."""
    full = contact.get("full_name") or " ".join(
        part for part in (contact.get("first_name"), contact.get("last_name")) if part
    )
    return (full or "").strip()


def date_of_birth(value: Any) -> str:
    """``date_of_birth`` as MM/DD/YYYY (the bridge keeps ISO dates)."""
    if not value:
        return ""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%m/%d/%Y")
    except ValueError:
        raise PayloadError(f"date_of_birth '{value}' is not a date (YYYY-MM-DD).") from None


def lead_source(record: dict, contact: dict) -> str:
    """``lead_source``: the lead's own source, else where the contact came from."""
    source = record.get("source") if record is not contact else ""
    return (source or contact.get("lead_source") or "").strip()


def notes(record: dict, contact: dict) -> str:
    """``notes``: for a lead, its message and product; for a contact, the contact's notes."""
    if record is contact:
        return (contact.get("notes") or "").strip()
    lines = []
    product = record.get("product") or {}
    if product.get("title") or product.get("reference"):
        label = product.get("title") or ""
        if product.get("reference"):
            label = f"{label} (ref. {product['reference']})".strip()
        lines.append(f"Product: {label}")
    if record.get("message"):
        lines.append(str(record["message"]).strip())
    return "\n".join(lines)


def custom_fields(contact: dict) -> dict:
    """``csf1``/``csf2``: Aloware's two custom fields, from the same keys in custom_fields."""
    custom = contact.get("custom_fields") or {}
    return {key: str(custom[key]) for key in ("csf1", "csf2") if custom.get(key) not in (None, "")}


def _problems(problems: Any) -> str:
    """One field's messages from a Laravel ``errors`` entry (a list, or a lone string)."""
    return " ".join(map(str, problems)) if isinstance(problems, list) else str(problems)


def as_bool(option: str, value: Any) -> bool:
    """A routing flag as a JSON boolean; options typed in the admin may be "true"/"false"."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ConfigurationError(f"Aloware option '{option}' must be true or false, not '{value}'.")


def routing(options: dict, params: dict) -> dict:
    """Routing fields: account defaults overridden by the push's params; unset ones left out."""
    chosen = {**options, **{k: v for k, v in params.items() if v is not None}}
    payload: dict[str, Any] = {}
    for option in BOOLEAN_OPTIONS:
        if chosen.get(option) not in (None, ""):
            payload[option] = as_bool(option, chosen[option])
    for option in ID_OPTIONS:
        if chosen.get(option) not in (None, ""):
            payload[option] = str(chosen[option]).strip()
    position = chosen.get("powerdialer_position")
    if position not in (None, ""):
        position = str(position).strip().lower()
        if position not in POWERDIALER_POSITIONS:
            raise ConfigurationError(
                f"Aloware option 'powerdialer_position' must be top or bottom, not '{position}'."
            )
        payload["powerdialer_position"] = position
    return payload


def mapped_fields(record: dict, field_map: FieldMap) -> tuple[dict, dict]:
    """(contact fields, routing options) the account's mapping fills for ``record``.

    A mapped field replaces its default even when the record's value is blank (then it is
    left out). A mapped ``tag_id`` is the record's own tag: it stands over the account's
    ``tag_id`` option (which still tags a record without one), and a tag chosen on the push
    page stands over both.
    """
    fields, routed = {}, {}
    for target, value in field_map.values(record).items():
        text = as_text(value)
        if target == "tag_id":
            if text and not text.isdigit():
                raise PayloadError(
                    f"tag_id must be an Aloware tag id (digits), not '{text}': check the "
                    "account's field mapping for tag_id.",
                    field_errors={"tag_id": [text]},
                )
            routed[target] = text
        else:
            fields[target] = text
    return fields, routed


def build_contact_payload(
    record: dict, options: dict, params: dict, field_map: FieldMap | None = None
) -> dict:
    """The whole ``POST /api/v1/webhook/forms`` body (without ``api_token``, added by auth).

    Blank fields are left out: with ``force_update`` an empty string could blank a field
    Aloware already has.
    """
    contact = contact_of(record)
    mapped, routed = mapped_fields(record, field_map or FieldMap())
    payload: dict[str, Any] = {"phone_number": phone_number(contact)}
    fields = {
        "other_phone_numbers": other_phone_numbers(contact),
        "name": name(contact),
        **{theirs: (contact.get(ours) or "").strip() for theirs, ours in CONTACT_FIELDS.items()},
        "lead_source": lead_source(record, contact),
        "date_of_birth": date_of_birth(contact.get("date_of_birth")),
        "notes": notes(record, contact),
        **custom_fields(contact),
        **mapped,
    }
    payload.update({key: value for key, value in fields.items() if value not in ("", [], None)})
    chosen = {**options, **{key: value for key, value in routed.items() if value}}
    payload.update(routing(chosen, params))
    return payload


#: What an account's field mapping may fill (the document's names), and what each gets when
#: nothing is mapped to it.
FIELD_MAPPING = MappingSpec(
    targets=(
        Target("csf1", "Custom field 1"),
        Target("csf2", "Custom field 2"),
        Target("notes", "Notes"),
        Target("lead_source", "Lead source"),
        Target(
            "tag_id",
            "Tag",
            "An Aloware tag id; it replaces the account's tag_id option for that record.",
        ),
    ),
    defaults="csf1 and csf2: the contact's custom fields of those names; notes: a lead's "
    "product and message (a contact's own notes); lead source: the lead's source, else the "
    "contact's; tag: the account's tag_id option. Aloware takes one tag, by its id (tag_id).",
)


#: Routing options: account defaults, overridable per push; what Aloware does with each. The
#: words follow the push page's menus (Yes/No, Top/Bottom); in an account's options JSON the
#: same choices are written true/false and "top"/"bottom".
ROUTING_OPTIONS = {
    "user_id": "Owner (Aloware user id) given to new contacts.",
    "distribute_to_ring_group": "Yes hands new contacts to a ring group (ring_group_id).",
    "ring_group_id": "Ring group contacts are distributed to.",
    "check_available_users": "Yes assigns them only to users who are available now.",
    "check_available_users_with_fallback": "Yes falls back to any user when none is available.",
    "add_to_powerdialer": "Yes adds pushed contacts to the PowerDialer.",
    "powerdialer_position": "Top or Bottom: where in the PowerDialer list they go.",
    "sequence_id": "Sequence contacts are enrolled in.",
    "force_update_sequence": "Yes moves contacts already in a sequence to this one.",
    "force_update": "Yes overwrites fields Aloware already has (otherwise a re-push of an "
    "existing contact only fills empty fields, or is refused).",
    "line_id": "Line (phone number) the contact is attached to.",
    "tag_id": "Tag added to pushed contacts.",
    "disposition_status_id": "Disposition status set on pushed contacts.",
}


#: Aloware's event labels (as df-middleware handles them; the wire strings are not public),
#: compared lower-cased with "-" and "_" read as spaces, by kind.
CONTACT_EVENTS = ("contact created", "contact updated", "contact disposed", "contact dnc updated")
CALL_EVENTS = (
    "call disposed",
    "communication initiated",
    "communication disposed",
    "voicemail saved",
    "recording saved",
    "transcription saved",
    "call summarized",
    "outboundphonecall completed",
    "inboundphonecall completed",
)


def event_label(name: str) -> str:
    """An event name compared loosely: "Call Disposed", "call_disposed", "Call-Disposed"."""
    return " ".join(name.lower().replace("-", " ").replace("_", " ").split())


def read_person(body: dict) -> dict:
    """The person an event is about: the nested ``contact`` (or the body itself for contact
    events), with the call's ``lead_number`` as the phone when the contact has none."""
    contact = body.get("contact") if isinstance(body.get("contact"), dict) else body
    return {
        "contact_id": text(contact.get("id") or body.get("contact_id"), 64),
        "phone": text(contact.get("phone_number") or body.get("lead_number"), 32),
        "first_name": text(contact.get("first_name"), 150),
        "last_name": text(contact.get("last_name"), 150),
        "email": text(contact.get("email"), 254),
        "company": text(contact.get("company_name"), 200),
        "disposition": text(contact.get("disposition_status"), 100),
        "dnc": contact.get("is_dnc") if isinstance(contact.get("is_dnc"), bool) else None,
    }


class AlowareEvents(EventReader):
    """Aloware's webhooks: ``{"event": "<label>", "body": {...}}`` (third-party view).

    A body without ``event`` is Aloware's test ping (as df-middleware reads it): stored,
    ignored. No event or delivery id is documented, so the key is the event, the entity id
    and a hash of the body: a repeated delivery is one event, a later update of the same
    contact is another. Whether SMS is covered is not stated: a communication whose ``type``
    says sms is marked ``is_sms``.
    """

    setup = WebhookSetup(
        steps=(
            "In Aloware, open Integrations → Webhooks → Settings → “+Add Webhook”.",
            "Paste the URL above; choose the authentication the account page shows (None, "
            "Basic or Bearer) with its credential.",
            "Tick one event per webhook (Aloware's advice): add one webhook for each of "
            "Contact Created / Updated / Disposed and Call Disposed, then “Save & Test "
            "Webhook” until it shows “Valid & Active”.",
        ),
        mapped=(
            "Contact events update the contact's name, email, company and disposition.",
            "Call and communication events (SMS included) add a call activity with its "
            "disposition, direction and duration.",
            "The person is found by phone, then email; an unknown one becomes a contact.",
        ),
        auth_styles=("basic", "bearer"),
    )

    def read(self, body: Any) -> Event:
        envelope = require_object(body)
        name = text(envelope.get("event"), 100)
        inner = envelope.get("body") if isinstance(envelope.get("body"), dict) else {}
        label = event_label(name)
        kind = "contact" if label in CONTACT_EVENTS else "call" if label in CALL_EVENTS else ""
        if not name:
            return Event("", "", "", {})
        key = f"{label}:{text(inner.get('id'), 64)}:{body_hash(inner)[:16]}"
        data = {"event": name, "person": read_person(inner)}
        if kind == "call":
            data.update(read_communication(inner))
        return Event(name, kind, key, data)


def read_communication(body: dict) -> dict:
    """A call or SMS: its id, direction, disposition, durations and times."""
    direction = text(body.get("direction"), 16).lower()
    kind = text(body.get("type") or body.get("communication_type"), 32).lower()
    return {
        "communication_id": text(body.get("id"), 64),
        "direction": "inbound"
        if direction in ("1", "inbound")
        else "outbound"
        if direction in ("2", "outbound")
        else direction,
        "is_sms": kind in ("sms", "mms", "text", "2"),
        "disposition": text(body.get("call_disposition"), 100),
        "disposition_id": text(body.get("call_disposition_id"), 64),
        "duration": integer(body.get("duration")),
        "talk_time": integer(body.get("talk_time")),
        "user_id": text(body.get("user_id"), 64),
        "created_at": timestamp(body.get("created_at")),
        "updated_at": timestamp(body.get("updated_at")),
    }


class AlowareProvider(Provider):
    """Creates or updates Aloware contacts from the bridge's contacts and leads."""

    id = "aloware"
    name = "Aloware"
    base_urls = {"production": "https://app.aloware.com"}
    env = EnvVars(credential="ALOWARE_API_TOKEN", base_url="ALOWARE_BASE_URL")
    account_options = ROUTING_OPTIONS
    pushes = ("lead", "contact")
    operations = {"push": "push_contact"}
    push_options = tuple(
        Option(name, label, kind=kind, help=ROUTING_OPTIONS[name], choices=choices)
        for name, label, kind, choices in (
            ("force_update", "Force update", "bool", ()),
            ("add_to_powerdialer", "Add to PowerDialer", "bool", ()),
            (
                "powerdialer_position",
                "PowerDialer position",
                "choice",
                (("top", "Top"), ("bottom", "Bottom")),
            ),
            ("sequence_id", "Sequence id", "text", ()),
            ("force_update_sequence", "Force update sequence", "bool", ()),
            ("distribute_to_ring_group", "Distribute to ring group", "bool", ()),
            ("ring_group_id", "Ring group id", "text", ()),
            ("check_available_users", "Only available users", "bool", ()),
            ("check_available_users_with_fallback", "Fall back to any user", "bool", ()),
            ("line_id", "Line id", "text", ()),
            ("tag_id", "Tag id", "text", ()),
            ("disposition_status_id", "Disposition status id", "text", ()),
            ("user_id", "Owner (user id)", "text", ()),
        )
    )
    # Aloware keys contacts by phone number: one is required.
    contact_requirements = (("phone",),)
    fake = "integrations.fakes.aloware.FakeAloware"
    events = AlowareEvents()
    field_mapping = FIELD_MAPPING

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        # Aloware reads its token from the JSON body, not a header; base.redact masks it.
        headers["Content-Type"] = "application/json"
        if isinstance(json_body, dict):
            json_body["api_token"] = self.require_credential()

    def parse_error(self, status: int, body: Any) -> tuple[str, str, dict]:
        """Laravel's ``{"message", "errors": {field: [..]}}``, with the fields named."""
        code, message, field_errors = super().parse_error(status, body)
        field_errors = field_errors if isinstance(field_errors, dict) else {}
        if field_errors:
            details = "; ".join(
                f"{field}: {_problems(problems)}" for field, problems in field_errors.items()
            )
            message = f"{message} ({details})" if message else details
        # Undocumented: an existing contact pushed without force_update has been answered 409,
        # and also 400 with an "already exists" / "already been taken" message.
        lowered = message.lower()
        if status == 409 or (status == 400 and ("exist" in lowered or "already" in lowered)):
            code = code or "contact_exists"
            message = f"Contact exists; use force_update to update it. Aloware said: {message}"
        return code, message, field_errors

    def error_for(self, response, body: Any) -> ProviderError:
        """A 400 about ``api_token`` is a credential problem: pause the account, do not retry."""
        error = super().error_for(response, body)
        if response.status_code == 400 and "api_token" in error.field_errors:
            return AuthenticationError(
                str(error),
                status=error.status,
                code=error.code,
                provider_message=error.provider_message,
                field_errors=error.field_errors,
                body=error.body,
            )
        return error

    def push_contact(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create or update the contact; 201 created, 200 updated (Aloware upserts by phone).

        Aloware allows 5,000 requests a minute per account and answers 429 beyond it; the base
        turns that into RateLimitedError, honouring Retry-After when it is sent.
        """
        payload = build_contact_payload(
            record, dict(self.account.options), params, self.checked_field_map()
        )
        response = self.request("POST", "/api/v1/webhook/forms", json_body=payload)
        created = response.status == 201
        return PushResult(
            remote_id=payload["phone_number"],
            created=created,
            status="created" if created else "updated",
            data=response.data,
        )

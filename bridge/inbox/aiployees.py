"""Aiployees' post-call webhook into the mirror: a call activity on the lead, its status moved.

The lead is the one whose push stored ``lead.id`` as its remote id (the account's RemoteLink);
else the person is found by ``customer_phone``. A call that names a lead the bridge has not
linked yet while a push to the account is still open waits for that push (retried with
backoff); on the last attempt it falls back to the phone.
"""

from __future__ import annotations

from bridge.models import Contact, Lead

from .people import (
    Applying,
    NotYet,
    Unmatched,
    duration_text,
    find_or_create_person,
    find_person,
    latest_lead,
    linked_record,
    push_in_flight,
    record_activity,
)

#: Call status → lead status when the account sets no ``call_status_map``.
DEFAULT_STATUS_MAP = {"completed": Lead.Status.CONTACTED.value}
#: A lead's status only moves forward: a won or lost lead stays so.
STATUS_RANK = {"new": 0, "contacted": 1, "qualified": 2, "won": 3, "lost": 3}


def status_map(ctx: Applying) -> dict[str, str]:
    """The account's ``call_status_map`` (call status → lead status), checked."""
    mapping = ctx.account.options.get("call_status_map", DEFAULT_STATUS_MAP)
    if not isinstance(mapping, dict):
        raise Unmatched(
            'The account option call_status_map must be an object like {"completed": "contacted"}.'
        )
    checked = {}
    for call_status, lead_status in mapping.items():
        if lead_status not in STATUS_RANK:
            raise Unmatched(
                f"The account option call_status_map maps {call_status!r} to {lead_status!r}, "
                f"which is not a lead status ({', '.join(STATUS_RANK)})."
            )
        checked[str(call_status).lower()] = lead_status
    return checked


def find_lead(ctx: Applying) -> tuple[Contact, Lead | None]:
    """(contact, lead) of the call: by the pushed lead's id, else by the customer's phone."""
    data = ctx.data
    lead = linked_record(ctx, Lead, data["lead_id"])
    if lead is not None:
        return lead.contact, lead
    contact = linked_record(ctx, Contact, data["lead_id"])
    if contact is not None:
        return contact, latest_lead(ctx.account, contact)
    phone = data["customer_phone"] or data["lead_phone"]
    known = find_person(ctx, phone=phone) if phone else None
    if data["lead_id"] and not ctx.last_attempt and push_in_flight(ctx.account, known):
        raise NotYet(
            f"Aiployees lead {data['lead_id']} is not linked yet: a push to this account has "
            "not recorded its id."
        )
    contact = known or find_or_create_person(ctx, phone=phone)
    return contact, latest_lead(ctx.account, contact)


def move_status(ctx: Applying, lead: Lead | None) -> str:
    """Move the lead's status as the account's map says (forward only); "old → new" or ""."""
    if lead is None:
        return ""
    target = status_map(ctx).get(ctx.data["status"].lower())
    if not target or STATUS_RANK[target] <= STATUS_RANK.get(lead.status, 0):
        return ""
    before = lead.status
    lead.status = target
    lead.save(update_fields=["status", "updated_at"])
    return f"{before} → {target}"


def apply_post_call(ctx: Applying) -> None:
    """One finished call: its activity on the lead (or contact) and the lead's status."""
    data = ctx.data
    if not data["call_id"]:
        raise Unmatched("The post-call body has no call id.")
    contact, lead = find_lead(ctx)
    moved = move_status(ctx, lead)
    status = data["status"] or "unknown status"
    summary = f"AI call {status}"
    if data["duration"] is not None:
        summary += f", {duration_text(data['duration'])}"
    record_activity(
        ctx,
        "call",
        contact,
        lead=lead,
        summary=summary,
        occurred_at=data["finished_at"] or data["created_at"],
        remote_id=data["call_id"],
        details={
            "status": data["status"],
            "duration": data["duration"],
            "transcript": data["transcript"],
            "extracted_variables": data["extracted_variables"],
            "input_variables": data["input_variables"],
            "recording_url": data["recording_url"],
            "customer_phone": data["customer_phone"],
            "lead_id": data["lead_id"],
            "lead_status_at_provider": data["lead_status"],
            "campaign": {"id": data["campaign_id"], "name": data["campaign_name"]},
            "lead_status_moved": moved,
        },
    )


APPLIERS = {"post_call": apply_post_call}

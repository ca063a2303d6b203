"""Aloware's webhooks into the mirror: contact fields, and call or SMS activities.

Aloware's contacts carry no id the bridge keeps (its Lead API answers with a message only), so
the person is found by phone (Aloware's national digits read in the default region), then
email; an unknown one becomes a contact.
"""

from __future__ import annotations

from bridge import matching
from bridge.models import Contact

from .people import Applying, duration_text, find_or_create_person, latest_lead, record_activity


def person(ctx: Applying) -> Contact:
    """The event's contact, found or created with the names Aloware sent."""
    who = ctx.data["person"]
    return find_or_create_person(
        ctx,
        phone=who["phone"],
        email=who["email"],
        first_name=who["first_name"],
        last_name=who["last_name"],
    )


def update_fields(contact: Contact, who: dict) -> list[str]:
    """Aloware's newer values for the contact's name, company, email and disposition.

    An email another contact already has is left alone (one contact per email).
    """
    changed = []
    for field, value in (
        ("first_name", who["first_name"]),
        ("last_name", who["last_name"]),
        ("company", who["company"]),
    ):
        if value and getattr(contact, field) != value:
            setattr(contact, field, value)
            changed.append(field)
    email = matching.email_key(who["email"])
    if email and email != contact.email and "@" in email:
        owner = Contact.objects.holding("email", [email]).exclude(pk=contact.pk).exists()
        if not owner:
            contact.email = email
            changed.append("email")
    custom = dict(contact.custom_fields or {})
    for key, value in (("aloware_disposition", who["disposition"]), ("aloware_dnc", who["dnc"])):
        if value not in ("", None) and custom.get(key) != value:
            custom[key] = value
    if custom != (contact.custom_fields or {}):
        contact.custom_fields = custom
        changed.append("custom_fields")
    return changed


def apply_contact(ctx: Applying) -> None:
    """Contact created / updated / disposed / DNC: the contact's fields brought up to date."""
    contact = person(ctx)
    changed = update_fields(contact, ctx.data["person"])
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])


def apply_call(ctx: Applying) -> None:
    """A call or SMS: a call activity with the disposition, and the contact's fields."""
    data = ctx.data
    contact = person(ctx)
    changed = update_fields(contact, data["person"])
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    # A call activity either way (the mapping); an SMS says so in its summary.
    what = "SMS" if data["is_sms"] else "call"
    summary = " ".join(filter(None, ["Aloware", data["direction"], what]))
    summary += f" — {data['disposition'] or 'no disposition'}"
    if data["duration"] is not None and not data["is_sms"]:
        summary += f", {duration_text(data['duration'])}"
    record_activity(
        ctx,
        "call",
        contact,
        lead=latest_lead(ctx.account, contact),
        summary=summary,
        occurred_at=data["updated_at"] or data["created_at"],
        remote_id=data["communication_id"],
        details={
            "event": data["event"],
            "channel": "sms" if data["is_sms"] else "call",
            "disposition": data["disposition"],
            "disposition_id": data["disposition_id"],
            "direction": data["direction"],
            "duration": data["duration"],
            "talk_time": data["talk_time"],
            "user_id": data["user_id"],
            "aloware_contact_id": data["person"]["contact_id"],
        },
    )


APPLIERS = {"contact": apply_contact, "call": apply_call}

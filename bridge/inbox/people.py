"""What every applier shares: the person an event is about, and the activity it records.

The person is found with the project's one matching rule (``bridge.matching``: a linked
remote id, then the phone, then the email); a person the bridge does not have becomes a
contact keyed the same way, or the event fails naming why it cannot be matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from bridge import matching
from bridge.models import (
    Activity,
    Contact,
    Delivery,
    InboundEvent,
    Lead,
    ProviderAccount,
    RemoteLink,
)
from integrations.events import Event


class NotYet(Exception):
    """The event needs something the bridge does not have yet (a push's remote id, a synced
    channel): it is retried with backoff."""


class Unmatched(Exception):
    """The event cannot take effect (no person to match, a value the mirror refuses): it
    fails with this reason and is not retried."""


@dataclass
class Applying:
    """One event being applied: the stored row, its account, what the provider's reader made
    of the body, and whether this is the last attempt (no more waiting)."""

    event: InboundEvent
    account: ProviderAccount
    parsed: Event
    last_attempt: bool

    @property
    def data(self) -> dict:
        return self.parsed.data


def find_person(
    ctx: Applying, *, phone: str = "", email: str = "", remote_id: str = ""
) -> Contact | None:
    """The contact the rule finds for these keys (a phone that is no number is left out)."""
    return _find_by_keys(ctx, matching.phone_key(phone), matching.email_key(email), remote_id)


def _find_by_keys(ctx: Applying, phone_key: str, email_key: str, remote_id: str):
    return matching.find_matching_contact(
        remote_id=remote_id, phone=phone_key, email=email_key, account=ctx.account
    )


def find_or_create_person(
    ctx: Applying, *, phone: str = "", email: str = "", remote_id: str = "", **names: str
) -> Contact:
    """The matching contact, or a new one with these keys and names; Unmatched when the
    event offers nothing to match or create a person by."""
    phone_key, email_key = matching.phone_key(phone), matching.email_key(email)
    contact = _find_by_keys(ctx, phone_key, email_key, remote_id)
    if contact is not None:
        return contact
    if not phone_key and not email_key:
        offered = f"phone {phone!r} is not a number" if phone else "no phone or email"
        raise Unmatched(f"The person cannot be matched or created: {offered}.")
    contact = Contact(
        phone=phone_key,
        email=email_key,
        lead_source=f"{ctx.account.get_provider_display()} webhook"[:100],
        **{name: (value or "")[:150] for name, value in names.items()},
    )
    try:
        contact.full_clean()
    except ValidationError as error:
        raise Unmatched(f"The person cannot be created: {describe(error)}") from None
    contact.save()
    return contact


def describe(error: ValidationError) -> str:
    """A validation error as one line naming each field."""
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def linked_record(ctx: Applying, model, remote_id: str):
    """The local record of ``model`` linked to ``remote_id`` in the event's account, or None."""
    if not remote_id:
        return None
    object_id = (
        RemoteLink.objects.filter(
            account=ctx.account,
            content_type=ContentType.objects.get_for_model(model),
            remote_id=remote_id,
        )
        .values_list("object_id", flat=True)
        .first()
    )
    return model.objects.filter(pk=object_id).first() if object_id else None


def push_in_flight(account: ProviderAccount, contact: Contact | None) -> bool:
    """Whether a push of this contact (or one of its leads) to the account has not ended:
    its remote id may not be recorded yet."""
    if contact is None:
        return False
    open_states = [Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.FAILED]
    lead_ids = list(contact.leads.values_list("pk", flat=True))
    types = ContentType.objects.get_for_models(Lead, Contact)
    waiting = Delivery.objects.filter(account=account, state__in=open_states)
    return (
        waiting.filter(content_type=types[Lead], object_id__in=lead_ids).exists()
        or waiting.filter(content_type=types[Contact], object_id=contact.pk).exists()
    )


def latest_lead(account: ProviderAccount, contact: Contact) -> Lead | None:
    """The contact's newest lead sent to this account, else its newest lead (or None)."""
    lead_type = ContentType.objects.get_for_model(Lead)
    linked = RemoteLink.objects.filter(account=account, content_type=lead_type).values("object_id")
    leads = contact.leads.order_by("-received_at", "-id")
    return leads.filter(pk__in=linked).first() or leads.first()


def record_activity(
    ctx: Applying,
    kind: str,
    contact: Contact,
    *,
    summary: str,
    occurred_at: datetime | None = None,
    lead: Lead | None = None,
    details: dict | None = None,
    remote_id: str = "",
) -> Activity:
    """The event's one activity, created or (processed again) brought up to date."""
    activity, _ = Activity.objects.update_or_create(
        event=ctx.event,
        defaults={
            "kind": kind,
            "account": ctx.account,
            "contact": contact,
            "lead": lead,
            "occurred_at": occurred_at or ctx.event.received_at,
            "summary": summary[:255],
            "details": json_safe(details or {}),
            "remote_id": remote_id[:255],
        },
    )
    return activity


def json_safe(value: Any) -> Any:
    """Plain data for a JSON column: dates as ISO text, decimals as text."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def duration_text(seconds: int | None) -> str:
    """ "3 min 4 s", "45 s", or "" when unknown."""
    if seconds is None:
        return ""
    minutes, rest = divmod(max(seconds, 0), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"

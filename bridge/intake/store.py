"""Turning a posted lead into rows: validated like the admin, matched, written in one transaction.

The contact is the one the matching rule finds (``bridge.matching``: phone, then email), or a
new one; an existing contact is not changed. The lead is an ordinary ``Lead`` whose
``post_save`` is sent as ``save()`` sends it, so whatever reacts to new leads (routing, on
commit) sees it like any other. Contact, lead and idempotency keys are written at once
(``bridge.db.leads.insert_lead``: one statement on PostgreSQL, one transaction on SQLite): when
an earlier request (or a concurrent retry) wrote the same key first, the unique constraint
refuses ours, nothing is written, and the next attempt looks the key up first and answers the
earlier lead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError

from bridge.db.leads import insert_lead
from bridge.models import Contact, IntakeKey, IntakeSource, Lead
from bridge.public import Refusal

from .auth import read_again
from .parse import LeadInput

#: How many times a write that lost a race (a unique phone, email or key) is tried again.
ATTEMPTS = 3


@dataclass(frozen=True)
class Accepted:
    """The lead a request made (``created``) or found again (a retry)."""

    lead_id: int
    contact_id: int
    created: bool
    source: IntakeSource


def idempotency_keys(data: LeadInput, header_key: str) -> list[str]:
    """The keys a request is known by: its ``Idempotency-Key`` and its ``externalId``."""
    keys = []
    if header_key:
        keys.append(f"header:{header_key}")
    if data.external_id:
        keys.append(f"external:{data.external_id}")
    return keys


def accept_lead(
    source: IntakeSource, data: LeadInput, header_key: str = "", from_form: bool = False
) -> Accepted:
    """Validate ``data``, then find or write its lead (one transaction: ``insert_lead``).

    Raises ``Refusal`` (422, naming the caller's field) for invalid data, or 401 when the
    source was disabled or its token rotated since the caller read it (``from_form``: the
    token came in a form's field); nothing is written.
    """
    contact, lead = validated(source, data)
    keys = idempotency_keys(data, header_key)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # A first try writes straight away: most requests are new, and a key already used
            # fails on its unique index like a race would; a retry looks first.
            return write(source, contact, lead, keys, look_first=attempt > 1)
        except IntegrityError:
            # A concurrent request wrote the same key, phone or email first and has committed
            # (the unique index waited for it): the next attempt finds what it wrote. Or the
            # source changed since it was read: it is read again (a 401 if it no longer admits
            # the request).
            if attempt == ATTEMPTS:
                raise
            source = read_again(source, from_form)
            lead.source = source.name
            contact.pk = lead.pk = None
            contact._state.adding = lead._state.adding = True
    raise AssertionError("unreachable")  # pragma: no cover


def validated(source: IntakeSource, data: LeadInput) -> tuple[Contact, Lead]:
    """The unsaved Contact and Lead, checked with the models' own validation (as the admin)."""
    contact = Contact(**data.contact)
    check(contact, data, "contact", exclude=())
    if not contact.email and not contact.phone:
        raise Refusal(
            422,
            "invalid",
            "A lead needs a contact with an email or a phone.",
            data.name("contact.email"),
        )
    lead = Lead(source=source.name, **data.lead)
    check(lead, data, "lead", exclude=("contact",))
    return contact, lead


def check(instance, data: LeadInput, prefix: str, exclude) -> None:
    """``full_clean`` of one model; the first error becomes a 422 naming the caller's field.

    Uniqueness is left to the database (the write retries a lost race), which spares the
    queries ``validate_unique`` would make.
    """
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors = exc.message_dict
        field = next((name for name in errors if name != "__all__"), "__all__")
        message = " ".join(errors[field])
        name = "" if field == "__all__" else data.name(f"{prefix}.{field}")
        raise Refusal(422, "invalid", f"{name}: {message}" if name else message, name) from None


def write(
    source: IntakeSource, contact: Contact, lead: Lead, keys: list[str], look_first: bool
) -> Accepted:
    """The lead a key already names (when ``look_first``), or a new lead (and contact); a key
    already used raises IntegrityError on its unique index and nothing is written."""
    if keys and look_first:
        found = (
            IntakeKey.objects.filter(source=source, key__in=keys)
            .values_list("lead_id", "lead__contact_id")
            .first()
        )
        if found:
            return Accepted(found[0], found[1], created=False, source=source)
    insert_lead(contact, lead, source, keys)
    return Accepted(lead.pk, lead.contact_id, created=True, source=source)

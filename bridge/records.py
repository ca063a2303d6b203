"""Local records as plain data: what the integrations layer receives.

Provider modules never see a Django model; the outbox hands them these dicts. The keys are the
bridge's own vocabulary (see docs/adding-a-provider.md), stable across providers.
"""

from __future__ import annotations

from decimal import Decimal

from .models import Contact, Lead, Order, Tag, Tunnel


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def contact_data(contact: Contact) -> dict:
    """A Contact as plain data (E.164 phone, lower-cased email, tag names)."""
    return {
        "id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "email": contact.email,
        "phone": contact.phone,
        "other_phones": list(contact.other_phones or []),
        "company": contact.company,
        "address": contact.address,
        "city": contact.city,
        "state": contact.state,
        "zipcode": contact.zipcode,
        "country": contact.country,
        "timezone": contact.timezone,
        "date_of_birth": _iso(contact.date_of_birth),
        "website": contact.website,
        "lead_source": contact.lead_source,
        "notes": contact.notes,
        "tags": _tag_names(contact),
        "custom_fields": dict(contact.custom_fields or {}),
    }


def _tag_names(contact: Contact) -> list[str]:
    """The contact's tag names: as :func:`records_queryset` read them, else from the database."""
    known = contact.__dict__.get(TAG_NAMES)
    if known is not None:
        return list(known)
    return [tag.name for tag in contact.tags.all()] if contact.pk else []


def lead_data(lead: Lead) -> dict:
    """A Lead with its contact and product as plain data."""
    return {
        "id": lead.pk,
        "external_id": lead.external_id,
        "contact": contact_data(lead.contact),
        "product": {
            "reference": lead.product_reference,
            "title": lead.product_title,
            "link": lead.product_link,
            "image": lead.product_image,
            "price": _decimal(lead.product_price),
        },
        "message": lead.message,
        "source": lead.source,
        "status": lead.status,
        "received_at": _iso(lead.received_at),
    }


def order_data(order: Order) -> dict:
    """An Order (and its contact, when it has one) as plain data."""
    return {
        "id": order.pk,
        "title": order.title,
        "description": order.description,
        "price": _decimal(order.price),
        "currency": order.currency,
        "status": order.status,
        "payment_method": order.payment_method,
        "offer_id": order.offer_id,
        "payment_credits_id": order.payment_credits_id,
        "manager_id": order.manager_id,
        "transaction_date": _iso(order.transaction_date),
        "payment_date": _iso(order.payment_date),
        "user_comments": order.user_comments,
        "contact": contact_data(order.contact) if order.contact_id else None,
    }


def tag_data(tag: Tag) -> dict:
    return {"id": tag.pk, "name": tag.name}


def tunnel_data(tunnel: Tunnel) -> dict:
    """A sales funnel and its lead-generation tools."""
    return {"id": tunnel.pk, "name": tunnel.name, "leadgen_tools": list(tunnel.leadgen_tools)}


SERIALIZERS = {
    Contact: contact_data,
    Lead: lead_data,
    Order: order_data,
    Tag: tag_data,
    Tunnel: tunnel_data,
}

#: The record kind names providers declare in ``Provider.pushes`` and operations' kinds.
KINDS = {Contact: "contact", Lead: "lead", Order: "order", Tag: "tag", Tunnel: "tunnel"}


def record_data(record) -> dict:
    """Plain data for any pushable record."""
    return SERIALIZERS[type(record)](record)


#: Where :func:`load_records` leaves a contact's tag names for :func:`contact_data`.
TAG_NAMES = "_bridge_tag_names"


def records_queryset(model):
    """``model``'s records with the contact their plain data reads fetched alongside."""
    queryset = model._default_manager.all()
    if model in (Lead, Order):
        return queryset.select_related("contact")
    return queryset


def load_records(model, ids) -> list:
    """``model``'s records with these ids, ready for :func:`record_data` in two queries.

    The contacts' tag names are read in one query and kept on each contact, rather than
    through ``prefetch_related``, whose per-contact managers were most of the outbox's cost of
    reading a claimed batch.
    """
    records = list(records_queryset(model).filter(pk__in=ids))
    contacts = {}
    for record in records:
        contact = record if model is Contact else getattr(record, "contact", None)
        if contact is not None:
            contacts[contact.pk] = contact
            contact.__dict__[TAG_NAMES] = []
    if contacts:
        through = Contact.tags.through
        tags = through.objects.filter(contact_id__in=contacts).order_by("tag__name", "tag_id")
        for contact_id, name in tags.values_list("contact_id", "tag__name"):
            contacts[contact_id].__dict__[TAG_NAMES].append(name)
    return records

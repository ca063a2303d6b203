"""Local records as plain data: what the integrations layer receives.

Provider modules never see a Django model; the outbox hands them these dicts. The keys are the
bridge's own vocabulary (see docs/adding-a-provider.md), stable across providers.
"""

from __future__ import annotations

from decimal import Decimal

from .models import Contact, Lead, Order, Tag, Tunnel
from .models.crm import full_name


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


#: The Contact columns its plain data reads (``contact_data``), in the rows a claim loads.
CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "other_phones",
    "company",
    "address",
    "city",
    "state",
    "zipcode",
    "country",
    "timezone",
    "date_of_birth",
    "website",
    "lead_source",
    "notes",
    "custom_fields",
)
LEAD_COLUMNS = (
    "id",
    "external_id",
    "product_reference",
    "product_title",
    "product_link",
    "product_image",
    "product_price",
    "message",
    "source",
    "status",
    "received_at",
    "custom_fields",
)
ORDER_COLUMNS = (
    "id",
    "title",
    "description",
    "price",
    "currency",
    "status",
    "payment_method",
    "offer_id",
    "payment_credits_id",
    "manager_id",
    "transaction_date",
    "payment_date",
    "user_comments",
)
TAG_COLUMNS = ("id", "name")
TUNNEL_COLUMNS = ("id", "name", "leadgen_tools")


def _row(record, columns: tuple[str, ...]) -> dict:
    """A model instance's values as the row a ``.values(*columns)`` query gives."""
    return {column: getattr(record, column) for column in columns}


def contact_data(contact: Contact) -> dict:
    """A Contact as plain data (E.164 phone, lower-cased email, tag names)."""
    return _contact_from_row(_row(contact, CONTACT_COLUMNS), _tag_names(contact))


def _contact_from_row(row: dict, tags: list[str]) -> dict:
    return {
        "id": row["id"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "full_name": full_name(row["first_name"], row["last_name"]),
        "email": row["email"],
        "phone": row["phone"],
        "other_phones": list(row["other_phones"] or []),
        "company": row["company"],
        "address": row["address"],
        "city": row["city"],
        "state": row["state"],
        "zipcode": row["zipcode"],
        "country": row["country"],
        "timezone": row["timezone"],
        "date_of_birth": _iso(row["date_of_birth"]),
        "website": row["website"],
        "lead_source": row["lead_source"],
        "notes": row["notes"],
        "tags": list(tags),
        "custom_fields": dict(row["custom_fields"] or {}),
    }


def _tag_names(contact: Contact) -> list[str]:
    """The contact's tag names (a prefetch of its tags is used when there is one)."""
    return [tag.name for tag in contact.tags.all()] if contact.pk else []


def lead_data(lead: Lead) -> dict:
    """A Lead with its contact and product as plain data."""
    return _lead_from_row(_row(lead, LEAD_COLUMNS), contact_data(lead.contact))


def _lead_from_row(row: dict, contact: dict) -> dict:
    return {
        "id": row["id"],
        "external_id": row["external_id"],
        "contact": contact,
        "product": {
            "reference": row["product_reference"],
            "title": row["product_title"],
            "link": row["product_link"],
            "image": row["product_image"],
            "price": _decimal(row["product_price"]),
        },
        "message": row["message"],
        "source": row["source"],
        "status": row["status"],
        "received_at": _iso(row["received_at"]),
        "custom_fields": dict(row["custom_fields"] or {}),
    }


def order_data(order: Order) -> dict:
    """An Order (and its contact, when it has one) as plain data."""
    contact = contact_data(order.contact) if order.contact_id else None
    return _order_from_row(_row(order, ORDER_COLUMNS), contact)


def _order_from_row(row: dict, contact: dict | None) -> dict:
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "price": _decimal(row["price"]),
        "currency": row["currency"],
        "status": row["status"],
        "payment_method": row["payment_method"],
        "offer_id": row["offer_id"],
        "payment_credits_id": row["payment_credits_id"],
        "manager_id": row["manager_id"],
        "transaction_date": _iso(row["transaction_date"]),
        "payment_date": _iso(row["payment_date"]),
        "user_comments": row["user_comments"],
        "contact": contact,
    }


def tag_data(tag: Tag) -> dict:
    return _tag_from_row(_row(tag, TAG_COLUMNS))


def _tag_from_row(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"]}


def tunnel_data(tunnel: Tunnel) -> dict:
    """A sales funnel and its lead-generation tools."""
    return _tunnel_from_row(_row(tunnel, TUNNEL_COLUMNS))


def _tunnel_from_row(row: dict) -> dict:
    return {"id": row["id"], "name": row["name"], "leadgen_tools": list(row["leadgen_tools"])}


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


def load_record_data(model, ids) -> dict[int, dict]:
    """Plain data of ``model``'s records with these ids (id -> data), in two queries.

    What :func:`record_data` gives for each record, read as rows: one query for the records
    (with their contact's columns joined in), one for the contacts' tag names. A claimed batch
    is read this way because building a model instance per record and per contact (and
    managers for their tags) was a large share of a drain's CPU (docs/benchmarks.md, "Push
    throughput"). Missing ids are simply absent.
    """
    ids = list(ids)
    if model is Contact:
        rows = list(Contact.objects.filter(pk__in=ids).values(*CONTACT_COLUMNS))
        tags = _tag_names_of({row["id"] for row in rows})
        return {row["id"]: _contact_from_row(row, tags.get(row["id"], ())) for row in rows}
    if model in (Lead, Order):
        columns = LEAD_COLUMNS if model is Lead else ORDER_COLUMNS
        joined = [f"contact__{column}" for column in CONTACT_COLUMNS]
        rows = list(model._default_manager.filter(pk__in=ids).values(*columns, *joined))
        tags = _tag_names_of({row["contact__id"] for row in rows} - {None})
        build = _lead_from_row if model is Lead else _order_from_row
        data = {}
        for row in rows:
            contact_row = {column: row[f"contact__{column}"] for column in CONTACT_COLUMNS}
            contact = None
            if contact_row["id"] is not None:
                contact = _contact_from_row(contact_row, tags.get(contact_row["id"], ()))
            data[row["id"]] = build(row, contact)
        return data
    columns, build = {
        Tag: (TAG_COLUMNS, _tag_from_row),
        Tunnel: (TUNNEL_COLUMNS, _tunnel_from_row),
    }[model]
    return {
        row["id"]: build(row) for row in model._default_manager.filter(pk__in=ids).values(*columns)
    }


def _tag_names_of(contact_ids: set[int]) -> dict[int, list[str]]:
    """Each contact's tag names, sorted, in one query."""
    names: dict[int, list[str]] = {}
    if contact_ids:
        through = Contact.tags.through
        tags = through.objects.filter(contact_id__in=contact_ids).order_by("tag__name", "tag_id")
        for contact_id, name in tags.values_list("contact_id", "tag__name"):
            names.setdefault(contact_id, []).append(name)
    return names

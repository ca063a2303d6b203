"""One new lead, its contact and its idempotency keys written at once: ``insert_lead``.

The intake API writes a lead a request, and a request's time is mostly its round trips to the
database. The ORM's way is a transaction of seven (BEGIN, the matching rule's phone and email
look-ups, the contact, lead and key INSERTs, COMMIT). On PostgreSQL this is one statement whose
common table expressions do the same, atomic as any statement: the contact the matching rule
finds (phone, then email), else a new one; the lead; its keys. The SQLite twin is those ORM
steps in one transaction, so behaviour is the same on both.

The rows are the caller's model instances, validated (``full_clean``) and normalised: each
value is prepared by its field as ``save()`` prepares it (``pre_save``: the ``auto_now``
times; ``get_db_prep_save``). The lead's ``post_save`` is sent after the write, as ``save()``
sends it, so whatever reacts to new leads (routing, on commit) sees this one like any other.

A unique index that refuses the write (a key already used, or a contact with this phone or
email committed by a concurrent request since the statement's snapshot) raises
``IntegrityError`` and nothing is written, as with the ORM: the caller looks again and retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from functools import cache

from django.db import IntegrityError, connection, models, transaction
from django.db.models.signals import post_save

from bridge.matching import Candidate, match_contacts
from bridge.models import Contact, IntakeKey, IntakeSource, Lead


def insert_lead(contact: Contact, lead: Lead, source: IntakeSource, keys: Sequence[str]) -> Lead:
    """Write ``lead`` for the contact matching ``contact`` (or ``contact`` itself, new), with
    ``keys`` as ``source``'s idempotency keys; returns ``lead``, saved (pk and contact_id set).

    ``source`` may be a copy the caller read a few seconds ago: the write checks that the
    source still holds as read (enabled, same token, not saved since) and raises
    ``IntegrityError`` otherwise, as for a lost race, so the caller reads it again.
    """
    if connection.vendor != "postgresql":
        _insert_with_the_orm(contact, lead, source, keys)
        return lead
    lead.pk, lead.contact_id = _insert_in_one_statement(contact, lead, source, keys)
    lead._state.adding, lead._state.db = False, connection.alias
    post_save.send(
        sender=Lead, instance=lead, created=True, update_fields=None, raw=False,
        using=connection.alias,
    )  # fmt: skip
    return lead


def _insert_with_the_orm(contact: Contact, lead: Lead, source: IntakeSource, keys) -> None:
    with transaction.atomic():
        if not _as_read(IntakeSource.objects.filter(pk=source.pk), source).exists():
            raise IntegrityError(f"intake source {source.pk} changed since it was read")
        candidate = Candidate(phone=contact.phone, email=contact.email)
        (contact_id,) = match_contacts([candidate], keyed=True)
        if contact_id is None:
            contact.save()
            contact_id = contact.pk
        lead.contact_id = contact_id
        lead.save()
        IntakeKey.objects.bulk_create(
            [IntakeKey(source_id=source.pk, key=key, lead_id=lead.pk) for key in keys]
        )


def _as_read(sources, source: IntakeSource):
    """``sources`` narrowed to the row ``source`` was read from, if it still holds as read."""
    return sources.filter(token_hash=source.token_hash, enabled=True, updated_at=source.updated_at)


def _insert_in_one_statement(contact: Contact, lead: Lead, source: IntakeSource, keys) -> tuple:
    """PostgreSQL: the matching look-ups and the three INSERTs as one statement.

    The new contact's INSERT runs whether or not one was found (a data-modifying CTE always
    runs); ``ON CONFLICT DO NOTHING`` makes it write nothing when one was, since the found
    contact holds the phone or email it would take. (A plain ``VALUES`` list, not a ``SELECT``
    with a condition, lets PostgreSQL type each parameter by its column.) When nothing was
    found and the INSERT still meets a conflict (a concurrent request committed that person
    meanwhile), no contact id comes out, the lead's NOT NULL ``contact_id`` refuses it, and
    the caller retries. A source that no longer holds as read gives no contact id either.
    """
    contact_columns, contact_values = _prepared(contact)
    lead_columns, lead_values = _prepared(lead, exclude=("contact",))
    sql = _statement(contact_columns, lead_columns)
    params = [
        source.pk,
        source.token_hash,
        source.updated_at,
        contact.phone,
        contact.email,
        *contact_values,
        *lead_values,
        source.pk,
        lead.created_at,
        list(keys),
    ]
    # A statement is atomic by itself; inside an outer transaction a savepoint keeps a refused
    # write from aborting it (the caller retries).
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            lead_id, contact_id = cursor.fetchone()
    return lead_id, contact_id


def _prepared(instance: models.Model, exclude: tuple[str, ...] = ()) -> tuple[tuple, list]:
    """Column names and values of ``instance`` as ``save()`` would insert them."""
    fields = _insert_fields(type(instance), exclude)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    return tuple(f.column for f in fields), values


@cache
def _insert_fields(model, exclude: tuple[str, ...]) -> tuple[models.Field, ...]:
    return tuple(
        f for f in model._meta.concrete_fields if not f.primary_key and f.name not in exclude
    )


@cache
def _statement(contact_columns: tuple[str, ...], lead_columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    contacts, leads = quote(Contact._meta.db_table), quote(Lead._meta.db_table)
    keys, sources = quote(IntakeKey._meta.db_table), quote(IntakeSource._meta.db_table)

    def placeholders(n: int) -> str:
        return ", ".join(["%s"] * n)

    # "found" spells out the unique indexes' own conditions (Contact.objects.holding), so each
    # look-up is one probe of its partial index; rank keeps the matching rule's order.
    return f"""
        WITH still AS (
            SELECT 1 FROM {sources}
            WHERE id = %s AND token_hash = %s AND updated_at = %s AND enabled
        ), found AS (
            SELECT id FROM (
                SELECT id, 1 AS rank FROM {contacts} WHERE phone = %s AND phone <> ''
                UNION ALL
                SELECT id, 2 AS rank FROM {contacts} WHERE LOWER(email) = %s AND email <> ''
            ) AS matches
            ORDER BY rank LIMIT 1
        ), made AS (
            INSERT INTO {contacts} ({", ".join(map(quote, contact_columns))})
            VALUES ({placeholders(len(contact_columns))})
            ON CONFLICT DO NOTHING
            RETURNING id
        ), chosen AS (
            SELECT id FROM found UNION ALL SELECT id FROM made
        ), new_lead AS (
            INSERT INTO {leads} ({", ".join(map(quote, lead_columns))}, {quote("contact_id")})
            VALUES ({placeholders(len(lead_columns))}, (
                SELECT id FROM chosen WHERE EXISTS (SELECT 1 FROM still) LIMIT 1
            ))
            RETURNING id, contact_id
        ), new_keys AS (
            INSERT INTO {keys} (source_id, key, lead_id, created_at)
            SELECT %s, key, new_lead.id, %s FROM new_lead, unnest(%s::varchar[]) AS key
        )
        SELECT id, contact_id FROM new_lead
    """

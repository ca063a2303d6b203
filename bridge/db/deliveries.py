"""The outbox's vendor-specific work on Delivery rows: inserting a batch, claiming due rows.

Each operation has its PostgreSQL form and its SQLite twin (the ORM, which other databases
would use too) side by side; callers see one function and the same answer on either.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Concat

from bridge.models import Delivery

State = Delivery.State
_DUE_STATES = (State.PENDING, State.FAILED)


# --- inserting a batch -------------------------------------------------------------------


def insert_deliveries(template: Delivery, object_ids: list[int]) -> None:
    """Insert a copy of ``template`` for each object id, in the ids' order.

    PostgreSQL: one ``INSERT … SELECT … FROM unnest(ids)``. Every column but the object id is
    the same, so a batch of any size is one short statement instead of a row of parameters
    per delivery. SQLite: a plain ``bulk_create``.
    """
    if not object_ids:
        return
    if connection.vendor == "postgresql":
        _insert_deliveries_postgresql(template, object_ids)
    else:
        _insert_deliveries_sqlite(template, object_ids)


def _insert_deliveries_postgresql(template: Delivery, object_ids: list[int]) -> None:
    columns, values, sql_params = [], [], []
    for field in _copied_fields():
        columns.append(connection.ops.quote_name(field.column))
        if field.attname == "object_id":
            values.append("ids.id")
        else:
            values.append("%s")
            value = field.pre_save(template, add=True)
            sql_params.append(field.get_db_prep_save(value, connection))
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM unnest(%s::bigint[]) WITH ORDINALITY AS ids(id, n) "
            "ORDER BY ids.n",
            [*sql_params, list(object_ids)],
        )


def _insert_deliveries_sqlite(template: Delivery, object_ids: list[int]) -> None:
    rows = []
    for object_id in object_ids:
        row = Delivery(**{f.attname: getattr(template, f.attname) for f in _copied_fields()})
        row.object_id = object_id
        rows.append(row)
    Delivery.objects.bulk_create(rows, batch_size=2000)


def _copied_fields():
    return [field for field in Delivery._meta.concrete_fields if not field.primary_key]


# --- claiming ----------------------------------------------------------------------------


def claim_rows(account_id: int, limit: int, now, holder: str, spent_note: str) -> list[Delivery]:
    """Move up to ``limit`` of an account's due rows to "sending" for ``holder``; return them.

    Due: pending or failed, with no ``next_attempt_at`` or one at or before ``now``; taken in
    ``(next_attempt_at, id)`` order, skipping rows another claimer holds locked. The change is
    a compare-and-set on "still due", so two claimers never take one row. Each claimed row
    counts an attempt and remembers the state it was claimed from (``claimed_from``). A due
    row whose attempts are all used is marked dead instead, ``spent_note`` before its last
    error, and not returned.

    PostgreSQL: one statement (lock with ``SKIP LOCKED``, compare-and-set, read back).
    SQLite: the ORM in a transaction, then a read of the claimed rows.
    """
    if connection.vendor == "postgresql":
        return _claim_rows_postgresql(account_id, limit, now, holder, spent_note)
    return _claim_rows_sqlite(account_id, limit, now, holder, spent_note)


def _claim_rows_postgresql(
    account_id: int, limit: int, now, holder: str, spent_note: str
) -> list[Delivery]:
    table = Delivery._meta.db_table
    due_states = [str(state) for state in _DUE_STATES]
    sql = f"""
        WITH due AS (
            SELECT id, state, attempts >= max_attempts AS spent FROM {table}
            WHERE account_id = %s AND state IN (%s, %s)
              AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
            ORDER BY next_attempt_at, id
            LIMIT %s
            FOR UPDATE SKIP LOCKED
        )
        UPDATE {table} AS d
        SET state = CASE WHEN due.spent THEN %s ELSE %s END,
            claimed_at = %s, claimed_by = %s,
            attempts = CASE WHEN due.spent THEN d.attempts ELSE d.attempts + 1 END,
            next_attempt_at = CASE WHEN due.spent THEN NULL ELSE d.next_attempt_at END,
            error_message = CASE WHEN due.spent THEN %s || d.error_message
                                 ELSE d.error_message END,
            updated_at = %s
        FROM due
        WHERE d.id = due.id AND d.state IN (%s, %s)
          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %s)
        RETURNING d.*, due.state AS claimed_from
    """
    params = [
        account_id,
        *due_states,
        now,
        limit,
        str(State.DEAD),
        str(State.SENDING),
        now,
        holder,
        spent_note,
        now,
        *due_states,
        now,
    ]
    claimed = [d for d in Delivery.objects.raw(sql, params) if d.state == State.SENDING]
    claimed.sort(key=lambda d: (d.next_attempt_at is None, d.next_attempt_at or now, d.pk))
    return claimed


def _claim_rows_sqlite(
    account_id: int, limit: int, now, holder: str, spent_note: str
) -> list[Delivery]:
    due = Q(state__in=_DUE_STATES) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(due, account_id=account_id)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", "state", "attempts", "max_attempts")[:limit]
        )
        spent = [pk for pk, _, attempts, most in rows if attempts >= most]
        if spent:
            Delivery.objects.filter(due, id__in=spent).update(
                state=State.DEAD,
                next_attempt_at=None,
                error_message=Concat(
                    Value(spent_note), F("error_message"), output_field=TextField()
                ),
                updated_at=now,
            )
        found = {pk: state for pk, state, attempts, most in rows if attempts < most}
        if not found:
            return []
        Delivery.objects.filter(due, id__in=found).update(
            state=State.SENDING,
            claimed_at=now,
            claimed_by=holder,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    claimed = list(
        Delivery.objects.filter(id__in=found, state=State.SENDING, claimed_at=now)
        .select_related("content_type")
        .order_by("next_attempt_at", "id")
    )
    for delivery in claimed:
        delivery.claimed_from = found[delivery.pk]
    return claimed

"""Setting a "task queued" mark in one statement, and learning whether this caller set it.

``bridge.wakeups`` marks a row when a commit queues a task for a worker, so later commits queue
none. Every new lead asks; the ORM needs two statements when the mark is already set (an
UPDATE that matches nothing, then a look to tell "marked" from "no row yet"). On PostgreSQL
both are one statement. Of two concurrent callers only the first sets the mark: the second's
UPDATE waits for the first's row lock and then re-checks its condition on the new version.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Q


def set_mark(model, pk, field_name: str, now: datetime, stale_before: datetime) -> bool | None:
    """Set ``field_name`` of row ``pk`` to ``now`` unless it holds a mark newer than
    ``stale_before``; True when this call set it, False when a recent one stays, None when
    there is no such row."""
    if connection.vendor != "postgresql":
        return _set_mark_with_the_orm(model, pk, field_name, now, stale_before)
    field = model._meta.get_field(field_name)
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(field.column)
    key = quote(model._meta.pk.column)
    # A recent mark is left untouched (no new row version, nothing to flush at commit: every
    # new lead asks, and most find the mark set); the count tells "marked" from "no row".
    sql = f"""
        WITH claimed AS (
            UPDATE {table} SET {column} = %s
            WHERE {key} = %s AND ({column} IS NULL OR {column} < %s)
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM {table} WHERE {key} = %s)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, pk, stale_before, pk])
        claimed, rows = cursor.fetchone()
    return None if not rows else bool(claimed)


def _set_mark_with_the_orm(model, pk, field_name, now, stale_before) -> bool | None:
    """SQLite: the same in two statements (it has no UPDATE inside WITH)."""
    rows = model._default_manager.filter(pk=pk)
    free = Q(**{f"{field_name}__isnull": True}) | Q(**{f"{field_name}__lt": stale_before})
    if rows.filter(free).update(**{field_name: now}):
        return True
    return False if rows.exists() else None

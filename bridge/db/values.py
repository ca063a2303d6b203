"""Distinct values of an indexed column, for the admin's list filters at a million rows.

``SELECT DISTINCT`` reads every row. On PostgreSQL a loose index scan (a recursive query
probing the column's index once per distinct value) reads one index entry per value instead.
SQLite (and any column without such an index) keeps Django's own query.
"""

from __future__ import annotations


def distinct_values(connection, queryset, field, limit: int) -> list | None:
    """Up to ``limit`` distinct non-null values of ``field``, or None to use Django's query."""
    if connection.vendor != "postgresql" or field.null:
        return None
    return _loose_index_scan(connection, queryset.model, field, limit)


def _loose_index_scan(connection, model, field, limit: int) -> list:
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(field.column)
    sql = f"""
        WITH RECURSIVE found(value, n) AS (
            (SELECT {column}, 1 FROM {table} ORDER BY {column} LIMIT 1)
            UNION ALL
            SELECT (SELECT {column} FROM {table} WHERE {column} > found.value
                    ORDER BY {column} LIMIT 1), found.n + 1
            FROM found WHERE found.value IS NOT NULL AND found.n < %s
        )
        SELECT value FROM found WHERE value IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]

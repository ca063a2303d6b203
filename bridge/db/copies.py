"""Bulk writes from plain rows, for the syncs' hot path: ``insert_copies`` and ``add_pairs``.

A sync page creates a hundred contacts, their remote links and their tag rows. Django's
``bulk_create`` builds a model instance per row and prepares every value of every field through
the ORM; at a first pull's scale that is most of the run (docs/benchmarks.md, "Sync"). These
take plain dicts of column values instead: on PostgreSQL the ids are drawn from the table's
sequence and the rows are streamed with ``COPY``; the SQLite twin is a plain ``bulk_create``,
so behaviour is the same on both.

Rows are written as given: the caller has already normalised and checked them (the sync's
values are cut to their columns' lengths by ``fit``). A unique constraint still refuses a
duplicate, raising ``IntegrityError`` and rolling back the caller's transaction, as
``bulk_create`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache

from django.db import connection, models
from django.utils import timezone

from bridge.lookups import array_literal


@cache
def _columns(model) -> tuple[tuple[models.Field, ...], dict[str, int], frozenset[int]]:
    """The model's concrete fields other than the primary key; attname -> position; JSON ones."""
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    positions = {f.attname: i for i, f in enumerate(fields)}
    json = frozenset(i for i, f in enumerate(fields) if isinstance(f, models.JSONField))
    return fields, positions, json


#: Empty JSON containers as text: most of a sync's JSON values (no channels, no card fields).
_EMPTY_JSON = {list: "[]", dict: "{}"}


def _copy_value(field: models.Field, value):
    """A value as COPY takes it: JSON as text, the rest as psycopg adapts it."""
    if isinstance(field, models.JSONField) and value is not None:
        if not value and type(value) in _EMPTY_JSON:
            return _EMPTY_JSON[type(value)]
        return json.dumps(value, cls=field.encoder)
    return value


def _defaults(fields, now) -> list:
    """What each field holds when a row does not say: auto_now(_add) times, else its default."""
    return [
        _copy_value(
            f,
            now
            if (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
            else f.get_default(),
        )
        for f in fields
    ]


_sequences: dict[tuple[str, str, str], str] = {}


def _sequence(cursor, table: str, column: str) -> str:
    """The sequence behind ``table.column``, looked up once per database.

    Asked inside the ``nextval`` query, ``pg_get_serial_sequence`` would run once per row, and
    that lookup was most of a batch's id drawing (docs/benchmarks.md).
    """
    key = (connection.settings_dict["NAME"], table, column)
    if key not in _sequences:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        _sequences[key] = cursor.fetchone()[0]
    return _sequences[key]


def insert_copies(model, rows: list[dict]) -> list[int]:
    """Insert ``rows`` (field attname -> value) into ``model``'s table; their new ids, in order.

    Fields a row leaves out take their defaults (``created_at``/``updated_at`` now).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        return _insert_copies_sqlite(model, rows)
    fields, positions, json_at = _columns(model)
    template = _defaults(fields, timezone.now())
    table, pk = model._meta.db_table, model._meta.pk.column
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
            [_sequence(cursor, table, pk), len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(quote(f.column) for f in fields)
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        # wrap_database_errors: a refused row raises Django's IntegrityError, as bulk_create does
        with (
            connection.wrap_database_errors,
            raw.copy(f"COPY {quote(table)} ({quote(pk)}, {columns}) FROM STDIN") as copy,
        ):
            keys, places = None, ()
            for new_id, row in zip(ids, rows, strict=True):
                order = tuple(row)
                if order != keys:  # a batch's rows share their keys, in order: placed once
                    keys = order
                    places = [(positions[name], positions[name] in json_at) for name in keys]
                values = [new_id, *template]
                for (at, is_json), value in zip(places, row.values(), strict=True):
                    values[at + 1] = _copy_value(fields[at], value) if is_json else value
                copy.write_row(values)
    return ids


def _insert_copies_sqlite(model, rows: list[dict]) -> list[int]:
    """The SQLite twin of :func:`insert_copies`: ``bulk_create`` returns the new ids."""
    objs = model.objects.bulk_create([model(**row) for row in rows], batch_size=500)
    return [obj.pk for obj in objs]


def add_pairs(
    through, left: str, right: str, pairs: Iterable[tuple[int, int]], *, new: bool = False
) -> None:
    """Insert many-to-many rows (``left``, ``right``) ids, skipping those already there.

    ``new`` says the ``left`` rows were created in this transaction, so none of these pairs
    can exist yet: a plain insert, without ``ON CONFLICT``'s speculative insertion (a large
    share of the cost of a new contact's tag rows; docs/benchmarks.md).
    """
    pairs = list(pairs)
    if not pairs:
        return
    if connection.vendor != "postgresql":
        _add_pairs_sqlite(through, left, right, pairs, new=new)
        return
    table = connection.ops.quote_name(through._meta.db_table)
    left_col = through._meta.get_field(left).column
    right_col = through._meta.get_field(right).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({left_col}, {right_col}) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[])"
            + ("" if new else " ON CONFLICT DO NOTHING"),
            # Each list as one array literal: quoted once, not id by id by the driver.
            [array_literal([a for a, _ in pairs]), array_literal([b for _, b in pairs])],
        )


def _add_pairs_sqlite(through, left: str, right: str, pairs: list, *, new: bool) -> None:
    """The SQLite twin of :func:`add_pairs`: ``bulk_create``, skipping existing pairs."""
    through.objects.bulk_create(
        [through(**{left: a, right: b}) for a, b in pairs],
        batch_size=500,
        ignore_conflicts=not new,
    )


def update_objects(model, objs: list, names: Iterable[str]) -> None:
    """Write the fields ``names`` of ``objs`` (instances with their pk) in one statement.

    ``bulk_update``'s job, for the syncs' hot path: Django builds a ``CASE WHEN`` per field
    with a branch per object, and compiling it cost a batch more than the database's work
    (docs/benchmarks.md, "The nightly reconcile"). PostgreSQL takes the rows as one ``VALUES``
    list joined on the pk, each value cast to its column's type; the SQLite twin is
    ``bulk_update``.
    """
    objs, names = list(objs), list(names)
    if not objs or not names:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, names, batch_size=500)
        return
    fields = [model._meta.get_field(name) for name in names]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    assignments = ", ".join(
        f"{quote(f.column)} = v.{quote(f.column)}::{f.cast_db_type(connection)}" for f in fields
    )
    row = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    table, key = quote(model._meta.db_table), quote(pk.column)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), 500):
            chunk = objs[start : start + 500]
            params = []
            for obj in chunk:
                params.append(obj.pk)
                params += [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
            cursor.execute(
                f"UPDATE {table} SET {assignments} "
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v({key}, {columns}) "
                f"WHERE {table}.{key} = v.{key}",
                params,
            )


def insert_column(model, column: str, values: list, **fixed) -> None:
    """Insert a row per value of ``column`` (a field's attname), each with the ``fixed``
    values too; the ids are the table's defaults and are not read back.

    One statement and one array parameter on PostgreSQL (a run's list of people ids: no row
    dictionaries, no ids drawn); the SQLite twin is ``bulk_create``.
    """
    if not values:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**fixed, **{column: v}) for v in values], batch_size=500)
        return
    quote = connection.ops.quote_name
    names = list(fixed)
    fields = [model._meta.get_field(name) for name in [*names, column]]
    array_type = fields[-1].cast_db_type(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"SELECT {', '.join(['%s'] * len(names))}{', ' if names else ''}"
            f"unnest(%s::{array_type}[])",
            [*fixed.values(), array_literal(values)],
        )

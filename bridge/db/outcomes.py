"""The outbox's vendor-specific writes of outcomes: finishing claimed rows, writing links.

Each operation has its PostgreSQL form and its SQLite twin side by side. The PostgreSQL forms
write a whole batch in one statement, its rows travelling as one JSON document that
PostgreSQL casts column by column; the SQLite twins write the same rows one at a time, with
the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from bridge.models import Delivery, RemoteLink

State = Delivery.State


# --- finishing claimed deliveries ----------------------------------------------------------


@dataclass
class Finish:
    """A delivery's outcome: ``fields`` to write if its claim (``claimed_at``) still stands."""

    pk: int
    claimed_at: datetime
    fields: dict


def finish_claimed(finishes: Sequence[Finish]) -> int:
    """Write several outcomes, each a compare-and-set on its claim; returns how many stood.

    A claim stands while the row is "sending" with the same ``claimed_at`` (no other worker
    recovered and re-claimed it, no staff action changed it). Field values are plain (no
    expressions); a ``None`` is SQL NULL, JSON columns included, as the ORM writes it.

    PostgreSQL: one ``UPDATE … FROM jsonb_to_recordset(…)`` per set of columns (the outcomes
    of one kind write the same columns, so usually one statement). SQLite: the ORM's update,
    row by row.
    """
    if connection.vendor == "postgresql":
        groups: dict[tuple[str, ...], list[Finish]] = {}
        for finish in finishes:
            groups.setdefault(tuple(sorted(finish.fields)), []).append(finish)
        return sum(_update_from_json(names, group) for names, group in groups.items())
    return sum(
        Delivery.objects.filter(
            pk=finish.pk, state=State.SENDING, claimed_at=finish.claimed_at
        ).update(**finish.fields)
        for finish in finishes
    )


def _update_from_json(names: tuple[str, ...], finishes: list[Finish]) -> int:
    """PostgreSQL: one ``UPDATE … FROM jsonb_to_recordset(…)`` for outcomes writing ``names``.

    The rows travel as one JSON document (``json.dumps`` runs in C; binding a value per row
    and column would go through Python adapters one by one). A JSON ``null`` in a JSON column
    is written as SQL NULL, as the ORM writes ``None``.
    """
    qn = connection.ops.quote_name
    fields = [Delivery._meta.get_field(name) for name in names]
    columns = ["id bigint", "claim timestamptz"]
    assignments = []
    for n, model_field in enumerate(fields):
        db_type = model_field.db_type(connection)
        columns.append(f"c{n} {db_type}")
        value = f"NULLIF(v.c{n}, 'null'::jsonb)" if db_type == "jsonb" else f"v.c{n}"
        assignments.append(f"{qn(model_field.column)} = {value}")
    rows = [
        {
            "id": finish.pk,
            "claim": finish.claimed_at.isoformat(),
            **{f"c{n}": _json_value(finish.fields[f.name]) for n, f in enumerate(fields)},
        }
        for finish in finishes
    ]
    sql = (
        f"UPDATE {qn(Delivery._meta.db_table)} AS d SET {', '.join(assignments)} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({', '.join(columns)}) "
        "WHERE d.id = v.id AND d.state = %s AND d.claimed_at = v.claim"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows), str(State.SENDING)])
        return cursor.rowcount


def _json_value(value):
    """A column's value as JSON: datetimes in ISO 8601 (exact to the microsecond)."""
    return value.isoformat() if isinstance(value, datetime) else value


# --- remote links ------------------------------------------------------------------------


@dataclass
class Link:
    """A record's remote link to write: which record, which remote id, what was pushed when."""

    account_id: int
    content_type_id: int
    object_id: int
    remote_id: str
    content_hash: str
    now: datetime
    first: bool = False  # no link was known for the record when its delivery was claimed

    @property
    def key(self) -> tuple[int, int]:
        return (self.content_type_id, self.object_id)


# Insert or update a record's link unless another local record of the same kind already maps
# to this remote one (two leads of one contact can be the same Leeloo person or Aloware phone;
# the first link stands). A remote id is unique per kind of record (RemoteLink): a tag and a
# tunnel, or a lead and its contact, may each hold the same one. Both databases run it.
_UPSERT_LINK_SQL = """
    INSERT INTO {table} (account_id, content_type_id, object_id, remote_id,
                         pushed_hash, last_pushed_at, created_at)
    SELECT %s, %s, %s, %s, %s, %s, %s
    WHERE NOT EXISTS (
        SELECT 1 FROM {table}
        WHERE account_id = %s AND remote_id = %s
          AND content_type_id = %s AND object_id <> %s
    )
    ON CONFLICT (account_id, content_type_id, object_id) DO UPDATE
    SET remote_id = excluded.remote_id, pushed_hash = excluded.pushed_hash,
        last_pushed_at = excluded.last_pushed_at, pulled_hash = {keep_pulled_hash}
"""


# A link moved to another remote record forgets what it last pulled (bridge.sync.fingerprints).
_KEEP_PULLED_HASH = (
    "CASE WHEN {table}.remote_id = excluded.remote_id THEN {table}.pulled_hash ELSE '' END"
)


def _upsert_link_sql() -> str:
    table = connection.ops.quote_name(RemoteLink._meta.db_table)
    return _UPSERT_LINK_SQL.format(
        table=table, keep_pulled_hash=_KEEP_PULLED_HASH.format(table=table)
    )


def upsert_links(links: Sequence[Link]) -> list[bool]:
    """Write each record's link, in order; for each, whether it was written.

    A link is not written (False) when another local record of its kind already holds its
    remote id in the account: the first link stands. A record's existing link moves to the new
    remote id. The links are written as if one after the other, so each sees those before it.

    PostgreSQL: links that cannot see each other (:func:`_independent`) go in one statement
    (:func:`insert_first_links`); otherwise, and on SQLite, one statement per link, all of
    them in one transaction (one commit, not one per link).
    """
    if connection.vendor == "postgresql" and len(links) > 1 and _independent(links):
        written = insert_first_links(links)
        return [link.key in written for link in links]
    sql = _upsert_link_sql()
    answers = []
    with transaction.atomic(), connection.cursor() as cursor:
        for link in links:
            cursor.execute(sql, _link_params(link))
            answers.append(cursor.rowcount > 0)
    return answers


def _link_params(link: Link) -> list:
    stamp = connection.ops.adapt_datetimefield_value(link.now)
    key = [link.account_id, link.content_type_id, link.object_id]
    return [
        *key,
        link.remote_id,
        link.content_hash,
        stamp,
        stamp,
        link.account_id,
        link.remote_id,
        *key[1:],
    ]


def _independent(links: Sequence[Link]) -> bool:
    """Whether one statement writes these links as the one-by-one statements would.

    True when every record is linked for the first time and no two share a record or a remote
    id of one kind: no row's write can then change another row's "taken" check, so reading
    them all from the snapshot before the statement gives the same answers.
    """
    return (
        all(link.first for link in links)
        and len({link.key for link in links}) == len(links)
        and len({(link.content_type_id, link.remote_id) for link in links}) == len(links)
    )


def insert_first_links(links: Sequence[Link]) -> set[tuple[int, int]]:
    """PostgreSQL: many independent links in one statement; the keys of those written.

    The statement of :func:`upsert_links` for a batch, its rows as one JSON document. Only
    for links :func:`_independent` accepts (PostgreSQL only: SQLite has no
    ``jsonb_to_recordset``).
    """
    table = connection.ops.quote_name(RemoteLink._meta.db_table)
    rows = [
        {
            "account_id": link.account_id,
            "content_type_id": link.content_type_id,
            "object_id": link.object_id,
            "remote_id": link.remote_id,
            "pushed_hash": link.content_hash,
            "stamp": link.now.isoformat(),
        }
        for link in links
    ]
    sql = f"""
        INSERT INTO {table} (account_id, content_type_id, object_id, remote_id,
                             pushed_hash, last_pushed_at, created_at)
        SELECT v.account_id, v.content_type_id, v.object_id, v.remote_id,
               v.pushed_hash, v.stamp, v.stamp
        FROM jsonb_to_recordset(%s::jsonb) AS v(account_id bigint, content_type_id integer,
             object_id bigint, remote_id varchar(255), pushed_hash varchar(64), stamp timestamptz)
        WHERE NOT EXISTS (
            SELECT 1 FROM {table} AS o
            WHERE o.account_id = v.account_id AND o.remote_id = v.remote_id
              AND o.content_type_id = v.content_type_id AND o.object_id <> v.object_id
        )
        ON CONFLICT (account_id, content_type_id, object_id) DO UPDATE
        SET remote_id = excluded.remote_id, pushed_hash = excluded.pushed_hash,
            last_pushed_at = excluded.last_pushed_at,
            pulled_hash = {_KEEP_PULLED_HASH.format(table=table)}
        RETURNING content_type_id, object_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows)])
        return set(cursor.fetchall())

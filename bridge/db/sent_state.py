"""The triggers that keep ``SentState`` (``bridge.models.sent_state``), and its rebuild: the
PostgreSQL form (plpgsql functions) and the SQLite twin (statements in the trigger) side by side.

Why triggers: deliveries change state in bulk (a claim, a batch cancelled, a retry of ten
thousand, a merge moving a contact's rows) through ``UPDATE``s that send no Django signal; a
trigger sees every row a statement changes, in the statement's transaction.

What a trigger does is *refresh* the (content type, object id, account) keys a write touched:
each key's row is set from its newest counted push (operation ``push``, not cancelled), and
removed when there is none or the record is gone. PostgreSQL does it once per statement for
all its keys (the transition tables); SQLite once per row, for a delivery inserted, deleted or
changed in a column the state reads (both keys when it moved to another record or account). A
lead moved to another contact carries its rows' ``contact_id``; a lead or contact deleted
takes its rows. A refresh reads each key's pushes through ``delivery_record_idx``: a record
has a handful.

The content types are found by name (``django_content_type``, its unique index) each time:
their ids differ from database to database and do not exist yet when the migration runs.
Migration 0029 installs what this module says; a change here needs a migration that drops
and installs them again (``drop_triggers``, ``install_triggers``).
"""

from __future__ import annotations

from django.db import connection

TABLE = "bridge_sentstate"
COLUMNS = (
    "content_type_id, object_id, account_id, contact_id, status, since, delivered_at, "
    "newest_push_id"
)

_TYPE = "(SELECT id FROM django_content_type WHERE app_label = 'bridge' AND model = '{}')"
LEAD_TYPE, CONTACT_TYPE = _TYPE.format("lead"), _TYPE.format("contact")

#: A delivery ``d``'s place in the column, most pressing first (bridge/admin/sent_to.py).
STATUS = """CASE
    WHEN d.state IN ('pending', 'sending', 'failed')
         AND (d.attempts > 0 OR d.error_code <> '' OR d.error_message <> '') THEN 'failing'
    WHEN d.state = 'dead' THEN 'dead'
    WHEN d.state IN ('pending', 'sending', 'failed') THEN 'sending'
    ELSE 'delivered' END"""
COUNTED = "operation = 'push' AND state <> 'cancelled'"
DELIVERED_WHEN = (
    "CASE WHEN state IN ('delivered', 'skipped') THEN COALESCE(delivered_at, updated_at) END"
)


#: The person of a delivery ``d``'s record, by an index probe (NULL when the record is gone).
CONTACT = (
    f"CASE WHEN d.content_type_id = {LEAD_TYPE} "
    f"THEN (SELECT contact_id FROM bridge_lead WHERE id = d.object_id) "
    f"WHEN d.content_type_id = {CONTACT_TYPE} "
    f"THEN (SELECT id FROM bridge_contact WHERE id = d.object_id) END"
)


def _refresh_sql(ct: str, obj: str, acc: str) -> str:
    """Delete and re-insert one key's row; ``ct``, ``obj``, ``acc`` are SQL expressions.
    (SQLite's row triggers: SQLite runs one writer at a time.)"""
    key = f"content_type_id = {ct} AND object_id = {obj} AND account_id = {acc}"
    return f"""
        DELETE FROM {TABLE} WHERE {key};
        INSERT INTO {TABLE} ({COLUMNS})
        SELECT * FROM (
            SELECT d.content_type_id, d.object_id, d.account_id, {CONTACT} AS contact_id,
                   {STATUS}, d.updated_at,
                   (SELECT max({DELIVERED_WHEN}) FROM bridge_delivery WHERE {key} AND {COUNTED}),
                   d.id
            FROM bridge_delivery d
            WHERE d.id = (SELECT max(id) FROM bridge_delivery WHERE {key} AND {COUNTED})
        ) AS fresh WHERE contact_id IS NOT NULL;"""


#: A delivery's columns the state reads (``updated_at``: its ``since``): on SQLite an UPDATE
#: changing none of them — a lease renewed, a retry's time moved — refreshes nothing.
WATCHED = [
    "updated_at",
    "state",
    "attempts",
    "error_code",
    "error_message",
    "delivered_at",
    "operation",
    "content_type_id",
    "object_id",
    "account_id",
]
MOVED = ["content_type_id", "object_id", "account_id", "operation"]


def _changed(columns, distinct: str, old: str = "OLD", new: str = "NEW") -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in columns)


# --- PostgreSQL: once per statement, over the keys it touched ------------------------------
#
# A push of 10,000 leads is one INSERT, a claim or a batch's results one UPDATE: a trigger per
# statement refreshes all their keys in three statements, each reading the transition table
# (the rows the statement wrote) and probing the deliveries per key through
# delivery_record_idx — where a trigger per row ran its statements 10,000 times
# (docs/benchmarks.md, "What the triggers cost"). The refresh first locks the keys' existing
# rows, so two transactions refreshing one key take turns, and the second computes from a
# snapshot that holds the first's deliveries; rows are written by upsert, never twice.

_KEY = ("content_type_id", "object_id", "account_id")
#: The keys a statement touched, from its transition tables (``new_rows``, ``old_rows``).
PG_KEYS = {
    "INSERT": "SELECT DISTINCT content_type_id, object_id, account_id FROM new_rows "
    "WHERE operation = 'push'",
    "DELETE": "SELECT DISTINCT content_type_id, object_id, account_id FROM old_rows "
    "WHERE operation = 'push'",
    # Both sides' keys, without comparing each row's old and new columns: the transition
    # tables have no statistics, so PostgreSQL joined them row by row (25 s for a claim of
    # 10,000). A refresh that changes nothing writes nothing (the upsert's WHERE).
    "UPDATE": "SELECT content_type_id, object_id, account_id FROM old_rows "
    "WHERE operation = 'push' UNION "
    "SELECT content_type_id, object_id, account_id FROM new_rows WHERE operation = 'push'",
}


def _pg_refresh(keys: str, prune: bool = True) -> str:
    """Lock, upsert and (``prune``) delete the rows of ``keys`` (a query of key columns)
    that no counted push is left for — never the case after an INSERT."""
    match = " AND ".join(f"s.{c} = k.{c}" for c in _KEY)
    same = ", ".join(f"{TABLE}.{c}" for c in COLUMNS.split(", ")[3:])
    fresh = ", ".join(f"EXCLUDED.{c}" for c in COLUMNS.split(", ")[3:])
    per_key = " AND ".join(f"x.{c} = k.{c}" for c in _KEY)
    per_row = " AND ".join(f"x.{c} = s.{c}" for c in _KEY)
    lock = f"""
        PERFORM 1 FROM (SELECT * FROM ({keys}) q ORDER BY 1, 2, 3) k
        CROSS JOIN LATERAL (SELECT 1 FROM {TABLE} s WHERE {match} FOR UPDATE) locked;"""
    upsert = f"""
        INSERT INTO {TABLE} ({COLUMNS})
        SELECT * FROM (
            SELECT d.content_type_id, d.object_id, d.account_id, {CONTACT} AS contact_id,
                   {STATUS}, d.updated_at, n.delivered_at, d.id
            FROM ({keys}) k
            CROSS JOIN LATERAL (
                SELECT max(x.id) AS newest, max({DELIVERED_WHEN}) AS delivered_at
                FROM bridge_delivery x
                WHERE {per_key} AND x.operation = 'push' AND x.state <> 'cancelled'
            ) n
            JOIN bridge_delivery d ON d.id = n.newest
            OFFSET 0  -- kept whole: pushed down, the filter below read each person twice
        ) AS fresh WHERE contact_id IS NOT NULL
        ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET ({COLUMNS.split(", ", 3)[3]}) = ({fresh})
        WHERE ({same}) IS DISTINCT FROM ({fresh});"""
    delete = f"""
        DELETE FROM {TABLE} s USING ({keys}) k
        WHERE {match} AND NOT EXISTS (
            SELECT 1 FROM bridge_delivery x WHERE {per_row}
            AND x.operation = 'push' AND x.state <> 'cancelled');"""
    return lock + upsert + (delete if prune else "")


POSTGRESQL = [
    f"""CREATE OR REPLACE FUNCTION bridge_sent_state_on_deliveries() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN {_pg_refresh(PG_KEYS["INSERT"], prune=False)}
        ELSIF TG_OP = 'UPDATE' THEN {_pg_refresh(PG_KEYS["UPDATE"])}
        ELSE {_pg_refresh(PG_KEYS["DELETE"])}
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION bridge_sent_state_on_lead() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM {TABLE} WHERE content_type_id = {LEAD_TYPE} AND object_id = OLD.id;
        ELSE
            UPDATE {TABLE} SET contact_id = NEW.contact_id
            WHERE content_type_id = {LEAD_TYPE} AND object_id = NEW.id;
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION bridge_sent_state_on_contact() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {TABLE} WHERE content_type_id = {CONTACT_TYPE} AND object_id = OLD.id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER bridge_sent_state_delivery_insert AFTER INSERT ON bridge_delivery
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_sent_state_on_deliveries()""",
    """CREATE TRIGGER bridge_sent_state_delivery_update AFTER UPDATE ON bridge_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_sent_state_on_deliveries()""",
    """CREATE TRIGGER bridge_sent_state_delivery_delete AFTER DELETE ON bridge_delivery
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_sent_state_on_deliveries()""",
    """CREATE TRIGGER bridge_sent_state_lead_moved AFTER UPDATE OF contact_id ON bridge_lead
    FOR EACH ROW WHEN (OLD.contact_id IS DISTINCT FROM NEW.contact_id)
    EXECUTE FUNCTION bridge_sent_state_on_lead()""",
    """CREATE TRIGGER bridge_sent_state_lead_delete AFTER DELETE ON bridge_lead
    FOR EACH ROW EXECUTE FUNCTION bridge_sent_state_on_lead()""",
    """CREATE TRIGGER bridge_sent_state_contact_delete AFTER DELETE ON bridge_contact
    FOR EACH ROW EXECUTE FUNCTION bridge_sent_state_on_contact()""",
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS bridge_sent_state_delivery_insert ON bridge_delivery",
    "DROP TRIGGER IF EXISTS bridge_sent_state_delivery_update ON bridge_delivery",
    "DROP TRIGGER IF EXISTS bridge_sent_state_delivery_delete ON bridge_delivery",
    "DROP TRIGGER IF EXISTS bridge_sent_state_lead_moved ON bridge_lead",
    "DROP TRIGGER IF EXISTS bridge_sent_state_lead_delete ON bridge_lead",
    "DROP TRIGGER IF EXISTS bridge_sent_state_contact_delete ON bridge_contact",
    "DROP FUNCTION IF EXISTS bridge_sent_state_on_deliveries()",
    "DROP FUNCTION IF EXISTS bridge_sent_state_on_lead()",
    "DROP FUNCTION IF EXISTS bridge_sent_state_on_contact()",
]


# --- SQLite: no functions, so each trigger carries its statements ---------------------------


def _sqlite_trigger(name: str, event: str, when: str, body: str) -> str:
    return f"CREATE TRIGGER {name} AFTER {event} FOR EACH ROW WHEN {when} BEGIN {body} END"


_OLD = _refresh_sql("OLD.content_type_id", "OLD.object_id", "OLD.account_id")
_NEW = _refresh_sql("NEW.content_type_id", "NEW.object_id", "NEW.account_id")
SQLITE = [
    _sqlite_trigger(
        "bridge_sent_state_delivery_insert", "INSERT ON bridge_delivery",
        "NEW.operation = 'push'", _NEW,
    ),
    # Same key, a watched column changed: that key again.
    _sqlite_trigger(
        "bridge_sent_state_delivery_update", "UPDATE ON bridge_delivery",
        f"NEW.operation = 'push' AND NOT ({_changed(MOVED, 'IS NOT')}) "
        f"AND ({_changed(WATCHED, 'IS NOT')})",
        _NEW,
    ),
    # Moved to another record or account (a merge), or no longer or newly a push: both keys.
    _sqlite_trigger(
        "bridge_sent_state_delivery_move", "UPDATE ON bridge_delivery",
        f"(OLD.operation = 'push' OR NEW.operation = 'push') AND ({_changed(MOVED, 'IS NOT')})",
        _OLD + _NEW,
    ),
    _sqlite_trigger(
        "bridge_sent_state_delivery_delete", "DELETE ON bridge_delivery",
        "OLD.operation = 'push'", _OLD,
    ),
    _sqlite_trigger(
        "bridge_sent_state_lead_moved", "UPDATE OF contact_id ON bridge_lead",
        "OLD.contact_id IS NOT NEW.contact_id",
        f"UPDATE {TABLE} SET contact_id = NEW.contact_id "
        f"WHERE content_type_id = {LEAD_TYPE} AND object_id = NEW.id;",
    ),
    _sqlite_trigger(
        "bridge_sent_state_lead_delete", "DELETE ON bridge_lead", "1",
        f"DELETE FROM {TABLE} WHERE content_type_id = {LEAD_TYPE} AND object_id = OLD.id;",
    ),
    _sqlite_trigger(
        "bridge_sent_state_contact_delete", "DELETE ON bridge_contact", "1",
        f"DELETE FROM {TABLE} WHERE content_type_id = {CONTACT_TYPE} AND object_id = OLD.id;",
    ),
]  # fmt: skip

SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "bridge_sent_state_delivery_insert",
        "bridge_sent_state_delivery_update",
        "bridge_sent_state_delivery_move",
        "bridge_sent_state_delivery_delete",
        "bridge_sent_state_lead_moved",
        "bridge_sent_state_lead_delete",
        "bridge_sent_state_contact_delete",
    )
]


# --- The set-based form: the backfill, the rebuild and the check ----------------------------

#: Every row the table should hold, computed from the deliveries in one pass: per key, its
#: newest counted push and its last delivery, joined to the record for the person.
EXPECTED = f"""
    SELECT d.content_type_id, d.object_id, d.account_id,
           COALESCE(l.contact_id, c.id) AS contact_id, {STATUS} AS status,
           d.updated_at AS since, n.delivered_at, d.id AS newest_push_id
    FROM (
        SELECT content_type_id, object_id, account_id, max(id) AS newest,
               max({DELIVERED_WHEN}) AS delivered_at
        FROM bridge_delivery WHERE {COUNTED}
        GROUP BY content_type_id, object_id, account_id
    ) n
    JOIN bridge_delivery d ON d.id = n.newest
    LEFT JOIN bridge_lead l ON d.content_type_id = {LEAD_TYPE} AND l.id = d.object_id
    LEFT JOIN bridge_contact c ON d.content_type_id = {CONTACT_TYPE} AND c.id = d.object_id
    WHERE COALESCE(l.contact_id, c.id) IS NOT NULL"""


def install_triggers(schema_editor) -> None:
    """Create the triggers (and PostgreSQL's functions) on ``schema_editor``'s database."""
    vendor = schema_editor.connection.vendor
    for statement in POSTGRESQL if vendor == "postgresql" else SQLITE:
        schema_editor.execute(statement, params=None)


def drop_triggers(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for statement in POSTGRESQL_DROP if vendor == "postgresql" else SQLITE_DROP:
        schema_editor.execute(statement, params=None)


def rebuild(using=None) -> int:
    """Empty the table and fill it from the deliveries in one ``INSERT … SELECT``; rows written.

    Run in the caller's transaction: with the triggers on, writes to deliveries meanwhile wait
    for the table's lock (PostgreSQL), so none is lost between the two statements.
    """
    with _cursor(using) as cursor:
        if cursor.db.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(f"INSERT INTO {TABLE} ({COLUMNS}) {EXPECTED}")
        return cursor.rowcount


def differences(using=None) -> tuple[int, int]:
    """(rows missing or wrong, rows that should not be there): both 0 when the table is right."""
    mine = f"SELECT {COLUMNS} FROM {TABLE}"
    with _cursor(using) as cursor:
        cursor.execute(f"SELECT count(*) FROM ({EXPECTED} EXCEPT {mine}) AS missing")
        missing = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM ({mine} EXCEPT {EXPECTED}) AS extra")
        return missing, cursor.fetchone()[0]


def triggers_installed(using=None) -> int:
    """How many of the table's triggers the database holds (7 on SQLite, 6 on PostgreSQL)."""
    with _cursor(using) as cursor:
        if cursor.db.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'bridge_sent_state_%'"
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'bridge_sent_state_%'"
            )
        return cursor.fetchone()[0]


def expected_trigger_count(using=None) -> int:
    db = _connection(using)
    return 6 if db.vendor == "postgresql" else len(SQLITE)


def _connection(using):
    if using is None:
        return connection
    from django.db import connections

    return connections[using]


def _cursor(using):
    return _connection(using).cursor()

"""The admin at a million leads: ``python bench/admin_scale.py``.

Seeds 1,000,000 leads and 500,000 contacts (with tags) into their own PostgreSQL database,
``crm_bench_admin``, with ``generate_series`` in a few statements (not the ORM row by row;
kept between runs, ``--reseed`` to rebuild), then requests each changelist view through
Django's test Client as a logged-in superuser: the Lead list's first page, a search by phone,
by email and by name, the status filter, the Contact list filtered by tag, the last page, a
date-hierarchy year, and both lists' "Sent to" column and filters (delivered to, failed at, not
sent to an account) over ~1.9 million seeded deliveries. Median and p95 over repeated runs,
next to the same page's SQL (every query the view ran, captured once) replayed with plain
psycopg. ``--leads``/``--contacts`` seed a smaller table (a quick check that it runs) and
``--database`` puts it elsewhere, so the million-row database is left as it is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_admin"
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Chloé", "Zoë", "José", "Renée", "Łukasz", "Søren", "Ana", "Hiroshi",
    "Fatima", "Olga",
]  # fmt: skip
TAGS = 20
#: The two accounts the seeded deliveries go to (``seed_deliveries``).
ACCOUNTS = {"aello": "bench-aello", "aloware": "bench-aloware"}


def _insert_sql(model, count: int, values: dict[str, str]) -> str:
    """``INSERT … SELECT`` over ``generate_series(1, count) AS g``: the given SQL expressions,
    and every other column its Django default (blank, empty JSON, NULL)."""
    import json

    from django.db.models import JSONField

    columns, expressions = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(f'"{field.column}"')
        if field.column in values:
            expressions.append(values[field.column])
        elif isinstance(field, JSONField):
            expressions.append(f"'{json.dumps(field.get_default())}'::jsonb")
        elif field.get_default() is None:
            expressions.append("NULL")
        elif isinstance(field.get_default(), str):
            expressions.append("'" + field.get_default().replace("'", "''") + "'")
        elif isinstance(field.get_default(), bool):
            expressions.append("TRUE" if field.get_default() else "FALSE")
        else:
            raise ValueError(f"no value for {model.__name__}.{field.name}")
    return (
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) '
        f"SELECT {', '.join(expressions)} FROM generate_series(1, {count}) AS g"
    )


def seed(leads: int, contacts: int) -> None:
    """Replace the CRM tables' rows with ``contacts`` contacts and ``leads`` leads."""
    from django.db import connection

    from bridge.models import Contact, Delivery, Lead, SentState, Tag

    names = "ARRAY[" + ",".join(f"'{name}'" for name in FIRST_NAMES) + "]"
    when = "now() - (g::bigint * 7919 % 94608000) * interval '1 second'"  # spread over three years
    statements = [
        f'TRUNCATE "{SentState._meta.db_table}", "{Delivery._meta.db_table}", '
        f'"{Lead._meta.db_table}", '
        f'"{Contact.tags.through._meta.db_table}", "{Contact._meta.db_table}", '
        f'"{Tag._meta.db_table}" RESTART IDENTITY CASCADE',
        _insert_sql(
            Tag, TAGS, {"name": "'Tag ' || g", "created_at": "now()", "updated_at": "now()"}
        ),
        _insert_sql(
            Contact,
            contacts,
            {
                "first_name": f"({names})[1 + g % {len(FIRST_NAMES)}]",
                "last_name": "'Surname' || (g % 20000)",
                "email": "'person' || g || '@example.com'",
                "phone": "'+1212' || lpad((2000000 + g)::text, 7, '0')",
                "company": "'Company ' || (g % 3000)",
                "city": "'City ' || (g % 500)",
                "country": "'US'",
                "lead_source": "(ARRAY['web','phone','walk-in','partner','ads'])[1 + g % 5]",
                "created_at": when,
                "updated_at": when,
            },
        ),
        f'INSERT INTO "{Contact.tags.through._meta.db_table}" (contact_id, tag_id) '
        f"SELECT g, 1 + g % {TAGS} FROM generate_series(1, {contacts}) AS g",
        _insert_sql(
            Lead,
            leads,
            {
                "contact_id": f"1 + g % {contacts}",
                "external_id": "'crmb-' || md5(g::text)",
                "product_reference": "'REF' || (g % 50000)",
                "product_title": "'Renault Midlum ' || (g % 300)",
                "product_price": "(g % 90000) + 1000",
                "message": "'Is it still available?'",
                "source": "(ARRAY['website','aello','phone','walk-in','partner','ads'])[1 + g % 6]",
                "status": "(ARRAY['new','contacted','qualified','won','lost'])[1 + g % 5]",
                "received_at": when,
                "created_at": when,
                "updated_at": when,
            },
        ),
        # VACUUM too: a bulk-loaded table has no visibility map yet, so every index-only scan
        # (the changelists' counts) reads the heap until autovacuum gets round to it.
        f'VACUUM (ANALYZE) "{Tag._meta.db_table}"',
        f'VACUUM (ANALYZE) "{Contact._meta.db_table}"',
        f'VACUUM (ANALYZE) "{Contact.tags.through._meta.db_table}"',
        f'VACUUM (ANALYZE) "{Lead._meta.db_table}"',
        *delivery_statements(leads, contacts),
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            started = time.perf_counter()
            cursor.execute(statement)
            common.say(f"  {statement[:60]}… {time.perf_counter() - started:.1f} s")


def bench_accounts() -> dict[str, int]:
    """The seeded deliveries' accounts (created when missing): provider -> account id."""
    from bridge.models import ProviderAccount

    found = {}
    for provider, name in ACCOUNTS.items():
        account, _ = ProviderAccount.objects.get_or_create(
            name=name, defaults={"provider": provider, "credential": "bench-credential-0123"}
        )
        found[provider] = account.pk
    return found


def delivery_statements(leads: int, contacts: int) -> list[str]:
    """Deliveries as routing and staff leave them, for the "Sent to" column and filters.

    Every lead pushed to Aéllo but one in ten: one in 50 dead, one in 200 retrying after an
    error, the rest delivered. One lead in three pushed to Aloware (delivered), and one contact
    in seven pushed there itself (one in 100 of those dead).

    Written with the triggers off (``session_replication_role``), then SentState rebuilt in one
    statement, as migration 0029 fills it: row by row the triggers would take minutes here.
    """
    from django.contrib.contenttypes.models import ContentType

    from bridge.db import sent_state
    from bridge.models import Contact, Delivery, Lead

    accounts = bench_accounts()
    lead_type = ContentType.objects.get_for_model(Lead).pk
    contact_type = ContentType.objects.get_for_model(Contact).pk
    when = "now() - (g::bigint * 7919 % 94608000) * interval '1 second'"
    aello_state = (
        "CASE WHEN g % 50 = 1 THEN 'dead' WHEN g % 200 = 3 THEN 'failed' ELSE 'delivered' END"
    )
    stamps = {"created_at": when, "updated_at": when, "max_attempts": "8"}
    return [
        "SET session_replication_role = replica",
        _insert_sql(
            Delivery,
            leads,
            {
                **stamps,
                "account_id": str(accounts["aello"]),
                "content_type_id": str(lead_type),
                "object_id": "g",
                "state": aello_state,
                "attempts": "CASE WHEN g % 50 = 1 THEN 8 WHEN g % 200 = 3 THEN 2 ELSE 1 END",
                "error_message": "CASE WHEN g % 50 = 1 OR g % 200 = 3 THEN 'HTTP 503' ELSE '' END",
            },
        )
        + " WHERE g % 10 <> 0",
        _insert_sql(
            Delivery,
            leads,
            {
                **stamps,
                "account_id": str(accounts["aloware"]),
                "content_type_id": str(lead_type),
                "object_id": "g",
                "state": "'delivered'",
                "attempts": "1",
            },
        )
        + " WHERE g % 3 = 0",
        _insert_sql(
            Delivery,
            contacts,
            {
                **stamps,
                "account_id": str(accounts["aloware"]),
                "content_type_id": str(contact_type),
                "object_id": "g",
                "state": "CASE WHEN g % 100 = 7 THEN 'dead' ELSE 'delivered' END",
                "attempts": "1",
            },
        )
        + " WHERE g % 7 = 0",
        "RESET session_replication_role",
        f'INSERT INTO "{sent_state.TABLE}" ({sent_state.COLUMNS}) {sent_state.EXPECTED}',
        f'VACUUM (ANALYZE) "{Delivery._meta.db_table}"',
        f'VACUUM (ANALYZE) "{sent_state.TABLE}"',
    ]


def pushed_lead() -> tuple[int, int]:
    """A lead from the middle of the table that has deliveries, and its contact."""
    from django.contrib.contenttypes.models import ContentType

    from bridge.models import Delivery, Lead

    middle = Lead.objects.count() // 2
    lead_type = ContentType.objects.get_for_model(Lead)
    pushed = Delivery.objects.filter(content_type=lead_type, object_id__gte=middle)
    lead_id = pushed.order_by("object_id").values_list("object_id", flat=True).first()
    if lead_id is None:  # no deliveries seeded: any lead
        lead_id = Lead.objects.order_by("pk").values_list("pk", flat=True)[middle]
    return lead_id, Lead.objects.filter(pk=lead_id).values_list("contact_id", flat=True).get()


def scenarios() -> dict[str, str]:
    """Each measured page: a name and its URL."""
    from bridge.models import Lead

    total_pages = -(-Lead.objects.count() // 50)
    accounts = bench_accounts()
    aello, aloware = accounts["aello"], accounts["aloware"]
    lead_id, contact_id = pushed_lead()
    return {
        "lead_page_1": "/admin/bridge/lead/",
        "lead_search_phone": "/admin/bridge/lead/?q=(212)%20212-3456",
        "lead_search_email": "/admin/bridge/lead/?q=person123456@example.com",
        "lead_search_name": "/admin/bridge/lead/?q=Surname1234",
        "lead_filter_status": "/admin/bridge/lead/?status__exact=won",
        "contact_filter_tag": "/admin/bridge/contact/?tags__id__exact=7",
        "contact_search_name": "/admin/bridge/contact/?q=Surname1234",
        "lead_last_page": f"/admin/bridge/lead/?p={total_pages}",
        "lead_date_year": "/admin/bridge/lead/?received_at__year=2025",
        # The "Sent to" column is on every Lead and Contact page; its filters:
        "contact_page_1": "/admin/bridge/contact/",
        "lead_delivered_to": f"/admin/bridge/lead/?delivered_to={aello}",
        "lead_failed_at": f"/admin/bridge/lead/?failed_at={aello}",
        "lead_not_sent_to": f"/admin/bridge/lead/?not_sent_to={aello}",
        "contact_delivered_to": f"/admin/bridge/contact/?delivered_to={aloware}",
        "contact_failed_at": f"/admin/bridge/contact/?failed_at={aello}",
        "contact_not_sent_to": f"/admin/bridge/contact/?not_sent_to={aloware}",
        # A person's page with its timeline (a lead that was pushed, and its contact).
        "lead_timeline": f"/admin/bridge/lead/{lead_id}/change/",
        "contact_timeline": f"/admin/bridge/contact/{contact_id}/change/",
    }


def measure(client, url: str, repeats: int, raw) -> dict:
    """Median and p95 of the page, and of its SQL replayed over psycopg."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    page_sql = [q["sql"] for q in captured.captured_queries]
    client.get(url)  # warm
    page_ms, raw_ms = [], []
    per_query = [0.0] * len(page_sql)
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(url)
        page_ms.append((time.perf_counter() - started) * 1000)
        total = 0.0
        for index, sql in enumerate(page_sql):
            started = time.perf_counter()
            cursor = raw.execute(sql)
            if cursor.description:
                cursor.fetchall()
            spent = (time.perf_counter() - started) * 1000
            per_query[index] += spent / repeats
            total += spent
        raw_ms.append(total)
    slowest = max(range(len(page_sql)), key=lambda i: per_query[i]) if page_sql else None
    return {
        "url": url,
        "queries": len(page_sql),
        "median_ms": round(median(page_ms), 1),
        "p95_ms": round(common.percentile(page_ms, 0.95), 1),
        "raw_median_ms": round(median(raw_ms), 1),
        "raw_p95_ms": round(common.percentile(raw_ms, 0.95), 1),
        "slowest_sql_ms": round(per_query[slowest], 1) if page_sql else None,
        "slowest_sql": page_sql[slowest][:400] if page_sql else "",
    }


def main(argv=None) -> dict:
    """Seed when needed, then measure every scenario and record the worst p95."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--reseed", action="store_true", help="Rebuild the rows.")
    parser.add_argument(
        "--database", default=DATABASE_URL, help="Where to seed (a small check: not the 1M one)."
    )
    parser.add_argument("--only", nargs="*", help="Scenario names to run.")
    args = parser.parse_args(argv)
    common.setup_django(args.database)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bridge.models import Delivery, Lead

    seeded = Lead.objects.count() == args.leads and Delivery.objects.exists()
    if args.reseed or not seeded:
        common.say(f"admin: seeding {args.leads} leads and {args.contacts} contacts")
        seed(args.leads, args.contacts)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    results = {}
    with common.raw_connection() as raw:
        for name, url in scenarios().items():
            if args.only and name not in args.only:
                continue
            results[name] = measure(client, url, args.repeats, raw)
            common.say(f"  {name}: {results[name]}")
    worst = max(results.values(), key=lambda r: r["p95_ms"])
    figures = {}
    if not args.only and args.leads == 1_000_000 and args.database == DATABASE_URL:
        figures = {
            "admin_p95_ms_1m": worst["p95_ms"],
            "admin_raw_p95_ms_1m": max(r["raw_p95_ms"] for r in results.values()),
        }
    if args.database == DATABASE_URL:  # a check elsewhere leaves the recorded figures alone
        common.write_results(figures, {"admin": {"leads": args.leads, "scenarios": results}})
    print({name: (r["median_ms"], r["p95_ms"], r["raw_p95_ms"]) for name, r in results.items()})
    return figures


if __name__ == "__main__":
    main()

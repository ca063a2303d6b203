"""Indexes the admin's changelists need at a million rows (docs/benchmarks.md).

Case-insensitive prefix search (``UPPER(col) LIKE 'WORD%'``) on contact names and company and
on a lead's product reference. PostgreSQL only
(``text_pattern_ops`` expression indexes); SQLite tables are small and are left as they are.
Built CONCURRENTLY, so the migration does not lock a large table against writes.
"""

from django.db import migrations

INDEXES = {
    "contact_first_name_prefix_idx": "bridge_contact (UPPER(first_name::text) text_pattern_ops)",
    "contact_last_name_prefix_idx": "bridge_contact (UPPER(last_name::text) text_pattern_ops)",
    "contact_company_prefix_idx": "bridge_contact (UPPER(company::text) text_pattern_ops)",
    "lead_product_reference_prefix_idx": "bridge_lead (UPPER(product_reference::text) text_pattern_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("bridge", "0006_delivery_claim_order_index"),
    ]

    operations = [migrations.RunPython(create, drop)]

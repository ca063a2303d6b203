"""List filters that stay fast at a million rows."""

from django.contrib import admin
from django.db import connections

# A filter with more values than this is not a useful list of links anyway.
MAX_CHOICES = 200


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter, with the values read by skipping through the column's
    index (a loose index scan: one probe per distinct value) instead of ``SELECT DISTINCT``
    over every row, which is slow on a million leads (docs/benchmarks.md, "Admin at a million
    rows"). Needs an index that starts with the column; other databases and nullable columns
    get Django's own query.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        connection = connections[model_admin.get_queryset(request).db]
        if connection.vendor == "postgresql" and not field.null and "__" not in field_path:
            self.lookup_choices = _distinct_values(connection, model, field)


def _distinct_values(connection, model, field) -> list:
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
        cursor.execute(sql, [MAX_CHOICES])
        return [row[0] for row in cursor.fetchall()]


class GoneFilter(admin.SimpleListFilter):
    """Remote links by whether the provider still lists their record (``remote_gone_at``,
    set by a complete full sync; see ``bridge.reconcile``)."""

    title = "at the provider"
    parameter_name = "gone"

    def lookups(self, request, model_admin):
        return [("yes", "Gone from the provider"), ("no", "Still listed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(remote_gone_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(remote_gone_at__isnull=True)
        return queryset


class ContactGoneFilter(admin.SimpleListFilter):
    """Contacts whose person a provider no longer lists (a link marked gone), from the small
    partial index of marked links."""

    title = "at the provider"
    parameter_name = "gone"

    def lookups(self, request, model_admin):
        return [("yes", "Gone from a provider")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        from django.contrib.contenttypes.models import ContentType

        from bridge.models import RemoteLink

        gone = RemoteLink.objects.filter(
            content_type=ContentType.objects.get_for_model(queryset.model),
            remote_gone_at__isnull=False,
        )
        return queryset.filter(pk__in=gone.values("object_id"))

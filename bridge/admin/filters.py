"""List filters that stay fast at a million rows."""

from django.contrib import admin
from django.db import connections

from bridge.db.values import distinct_values

# A filter with more values than this is not a useful list of links anyway.
MAX_CHOICES = 200


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter, with the values read by skipping through the column's
    index (``bridge.db.values``: one probe per distinct value) instead of ``SELECT DISTINCT``
    over every row, which is slow on a million leads (docs/benchmarks.md, "Admin at a million
    rows"). Needs an index that starts with the column; other databases and nullable columns
    get Django's own query.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        queryset = model_admin.get_queryset(request)
        if "__" not in field_path:
            found = distinct_values(connections[queryset.db], queryset, field, MAX_CHOICES)
            if found is not None:
                self.lookup_choices = found


class GoneFilter(admin.SimpleListFilter):
    """Remote links by whether the provider still lists their record (``remote_gone_at``,
    set by a complete full sync; see ``bridge.sync.gone``)."""

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

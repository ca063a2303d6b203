"""Read-only admins for what only Leeloo has: its users, channels, connections and templates.

The syncs write these; staff look them up (a person's channels and UTM marks, which manager an
id is, which template to send) but never edit them here.
"""

from django.contrib import admin

from bridge.models import (
    Channel,
    Connection,
    LeelooUser,
    Template,
    TemplateCategory,
    TunnelStatsSummary,
)

from .outbox import ReadOnlyAdmin


class LeelooRecordAdmin(ReadOnlyAdmin):
    """A Leeloo-only mirror: filter by account, search by name or Leeloo id."""

    list_filter = ["account"]
    search_fields = ["=remote_id", "name"]
    list_select_related = ["account"]


@admin.register(LeelooUser)
class LeelooUserAdmin(LeelooRecordAdmin):
    list_display = ["name", "remote_id", "account", "remote_updated_at"]


@admin.register(Connection)
class ConnectionAdmin(LeelooRecordAdmin):
    list_display = ["name", "type", "remote_id", "account"]
    list_filter = ["account", "type"]


@admin.register(Channel)
class ChannelAdmin(LeelooRecordAdmin):
    list_display = ["name", "source", "contact", "utm_marks", "last_message_at", "account"]
    list_filter = ["account", "source", "bot_status"]
    search_fields = ["=remote_id", "=person_remote_id", "name"]
    list_select_related = ["account", "contact"]
    raw_id_fields = ["contact"]


@admin.register(TemplateCategory)
class TemplateCategoryAdmin(LeelooRecordAdmin):
    list_display = ["name", "remote_id", "account"]


@admin.register(Template)
class TemplateAdmin(LeelooRecordAdmin):
    list_display = ["name", "category", "remote_id", "account"]
    list_filter = ["account", "category"]
    list_select_related = ["account", "category"]


@admin.register(TunnelStatsSummary)
class TunnelStatsSummaryAdmin(LeelooRecordAdmin):
    list_display = ["account", "updated_at"]
    search_fields = []

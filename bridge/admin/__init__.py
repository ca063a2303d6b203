"""The admin is the bridge's user interface; one module per area."""

from django.contrib import admin

from . import (  # noqa: F401  (registers the ModelAdmins)
    accounts,
    alerts,
    audit,
    crm,
    djangoq,
    inbox,
    intake,
    leeloo,
    outbox,
    routing,
)

admin.site.site_header = "CRM Bridge"
admin.site.site_title = "CRM Bridge"
admin.site.index_title = "Contacts, leads and provider deliveries"

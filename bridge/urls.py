"""URL routes: the admin is the application."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from bridge import dashboard

urlpatterns = [
    # The admin index with the dashboard above the app list (same URL as admin:index, matched
    # first), and the endpoint its script re-fetches the figures from.
    path("admin/", admin.site.admin_view(dashboard.index_view), name="bridge_dashboard"),
    path(
        "admin/dashboard/refresh/",
        admin.site.admin_view(dashboard.refresh_view),
        name="bridge_dashboard_refresh",
    ),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

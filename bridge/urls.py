"""URL routes: the admin is the application; the intake API takes leads from outside;
providers post their webhooks to ``hooks/``."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from bridge import dashboard, inbox
from bridge.favicon import favicon
from bridge.intake.views import leads_view

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
    # Provider webhooks (bridge/inbox/): public, one receiver per account, the token inside.
    path("hooks/<str:account>/<str:token>/", inbox.receive_webhook, name="bridge_webhook"),
    # The lead intake API: web forms and lead vendors post leads (bridge/intake/).
    path("api/v1/leads", leads_view, name="intake_leads"),
    # The icon browsers ask for on every page (admin pages link the static file too).
    path("favicon.ico", favicon, name="favicon"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

"""The dashboard for one user, and the two views that serve it.

What a user sees follows their view permissions: delivery figures only for those who may view
deliveries, accounts, syncs and leads likewise. The admin index shows the dashboard above the
app list (``index_view``); a small script in the page refreshes it every ``REFRESH_SECONDS``
from ``refresh_view``, which answers with the figures and the re-rendered fragment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from bridge.admin.outbox import record_link, state_badge
from bridge.models import Delivery, Lead, ProviderAccount, SyncRun

from .health import (
    QUEUE_STATES,
    AccountHealth,
    Queue,
    account_health,
    format_age,
    queue_depth,
    recent_failures,
)
from .plots import Chart, delivery_charts, leads_chart

REFRESH_SECONDS = 30


# --- putting it together -----------------------------------------------------------------


@dataclass
class Dashboard:
    """Everything the dashboard shows to one user; parts they may not see are None."""

    now: datetime
    accounts: list[AccountHealth] | None = None
    queue: Queue | None = None
    failures: list[Delivery] | None = None
    charts: list[Chart] = field(default_factory=list)
    refresh_seconds: int = REFRESH_SECONDS

    @property
    def empty(self) -> bool:
        return self.accounts is None and self.queue is None and not self.charts


def _can_view(request, model) -> bool:
    """Whether the admin would let this user see ``model``'s list (view or change permission)."""
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return False
    return model_admin.has_view_permission(request)


def build_dashboard(request, now: datetime | None = None) -> Dashboard:
    """The dashboard for this request's user, with only what they may view."""
    now = now or timezone.now()
    see_deliveries = _can_view(request, Delivery)
    dashboard = Dashboard(now=now, refresh_seconds=REFRESH_SECONDS)
    if _can_view(request, ProviderAccount):
        dashboard.accounts = account_health(
            now, with_syncs=_can_view(request, SyncRun), with_deliveries=see_deliveries
        )
    if see_deliveries:
        dashboard.queue = queue_depth(now)
        dashboard.failures = recent_failures()
        dashboard.charts += delivery_charts(now)
    if _can_view(request, Lead):
        dashboard.charts.append(leads_chart(now))
    return dashboard


def figures(dashboard: Dashboard) -> dict:
    """The dashboard's numbers as plain JSON data (what the charts and tables show)."""
    data: dict = {"generated_at": dashboard.now.isoformat()}
    if dashboard.queue is not None:
        queue = dashboard.queue
        data["queue"] = {
            **queue.counts,
            "total": queue.total,
            "oldest_pending_at": queue.oldest_pending_at.isoformat()
            if queue.oldest_pending_at
            else None,
            "oldest_pending_seconds": queue.oldest_pending_seconds,
        }
    if dashboard.failures is not None:
        data["failures"] = [
            {
                "id": delivery.pk,
                "account": delivery.account.name,
                "state": delivery.state,
                "error_code": delivery.error_code,
                "error_message": delivery.error_message,
                "created_at": delivery.created_at.isoformat(),
            }
            for delivery in dashboard.failures
        ]
    if dashboard.accounts is not None:
        data["accounts"] = [_account_figures(row) for row in dashboard.accounts]
    data["charts"] = {chart.id: chart.figures() for chart in dashboard.charts}
    return data


def _account_figures(row: AccountHealth) -> dict:
    figures_ = {
        "name": row.account.name,
        "status": row.status,
        "label": row.label,
        "throttled_until": row.throttled_until.isoformat() if row.throttled_until else None,
        "throttled_since": row.throttled_since.isoformat() if row.throttled_since else None,
    }
    if row.syncs is not None:
        figures_["syncs"] = [
            {
                "resource": sync.run.resource,
                "status": sync.run.status,
                "age_seconds": sync.age_seconds,
                "stale": sync.stale,
                "error": sync.run.error,
            }
            for sync in row.syncs
        ]
    if row.show_deliveries:
        failure = row.last_failure
        figures_["last_error"] = (
            {
                "status": failure.last_http_status,
                "code": failure.error_code,
                "message": failure.error_message,
                "id": failure.pk,
            }
            if failure
            else None
        )
        if row.recovered_failure:
            figures_["last_recovered_error"] = {
                "at": row.account.last_failure_at.isoformat(),
                "text": row.account.last_failure,
                "id": row.account.last_failure_delivery_id,
            }
    return figures_


def changelist_url(model, **filters) -> str:
    """The admin list of ``model`` filtered by ``filters`` (e.g. account=3, state="failed")."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def template_context(dashboard: Dashboard) -> dict:
    """What the dashboard template needs besides the Dashboard: links, badges, record links."""
    failures = [
        {
            "delivery": delivery,
            "record": record_link(delivery),
            "badge": state_badge(delivery.state, delivery.get_state_display()),
            "url": reverse("admin:bridge_delivery_change", args=[delivery.pk]),
        }
        for delivery in dashboard.failures or []
    ]
    queue_links = {
        state.value: changelist_url(Delivery, state__exact=state.value) for state in QUEUE_STATES
    }
    return {
        "dashboard": dashboard,
        "failure_rows": failures,
        "queue_links": queue_links,
        "failures_url": changelist_url(Delivery, state__in="failed,dead"),
        "oldest_pending_age": format_age(dashboard.queue.oldest_pending_seconds)
        if dashboard.queue
        else "",
    }


# --- views -------------------------------------------------------------------------------


def index_view(request):
    """The admin index: the dashboard above the usual list of apps."""
    dashboard = build_dashboard(request)
    return admin.site.index(request, extra_context=template_context(dashboard))


def refresh_view(request):
    """The dashboard's figures and its re-rendered fragment, for the page's periodic refresh."""
    dashboard = build_dashboard(request)
    html = render_to_string(
        "admin/bridge/dashboard.html", template_context(dashboard), request=request
    )
    return JsonResponse({"figures": figures(dashboard), "html": html})

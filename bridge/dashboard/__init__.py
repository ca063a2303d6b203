"""The admin index dashboard: account health, the outbox queue, recent failures, and charts.

Every figure comes from a few aggregate queries: counts are grouped in the database (by hour or
day in the project's TIME_ZONE), never by loading rows, and each query is served by an index
(``delivery_state_created_idx`` for the charts, the queue and the failures; ``syncrun_latest_idx``
for the syncs; Lead's ``received_at``), so the page stays fast with millions of deliveries. The
number of queries does not grow with the number of accounts or deliveries.

One module per role:

- ``counts``: time buckets, and deliveries and leads counted per hour or day;
- ``health``: the queue, recent failures, each account's status and latest syncs;
- ``plots``: the charts drawn from the counts (SVG through ``bridge.charts``);
- ``view``: the dashboard one user may see, its JSON figures, template context, and the views
  (``index_view`` above the admin's app list, ``refresh_view`` for the page's periodic refresh).

``REFRESH_SECONDS`` lives in ``view`` and is read there: change it on ``bridge.dashboard.view``.
"""

from .counts import (
    CHART_STATES,
    Buckets,
    deliveries_by_day,
    deliveries_by_hour,
    leads_by_day,
    local_days,
    local_hours,
)
from .health import (
    FAILURE_STATES,
    QUEUE_STATES,
    AccountHealth,
    Queue,
    SyncHealth,
    account_health,
    format_age,
    latest_syncs,
    queue_depth,
    recent_failures,
    sync_interval,
)
from .plots import Chart, delivery_charts, lead_source_series, leads_chart
from .view import (
    Dashboard,
    build_dashboard,
    changelist_url,
    figures,
    index_view,
    refresh_view,
    template_context,
)

__all__ = [
    "CHART_STATES",
    "FAILURE_STATES",
    "QUEUE_STATES",
    "AccountHealth",
    "Buckets",
    "Chart",
    "Dashboard",
    "Queue",
    "SyncHealth",
    "account_health",
    "build_dashboard",
    "changelist_url",
    "deliveries_by_day",
    "deliveries_by_hour",
    "delivery_charts",
    "figures",
    "format_age",
    "latest_syncs",
    "lead_source_series",
    "leads_by_day",
    "leads_chart",
    "local_days",
    "local_hours",
    "queue_depth",
    "recent_failures",
    "index_view",
    "refresh_view",
    "sync_interval",
    "template_context",
]

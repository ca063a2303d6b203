"""The admin index dashboard (bridge/dashboard/), its SVG charts (bridge/charts.py), and the
admin pages' status labels and links between records, remote links and deliveries.

Times are pinned: ``django.utils.timezone.now`` returns ``NOW`` (auto_now fields included), and
rows are moved to known times with ``update()``. Charts are read back by parsing their SVG. The
last test drives Debian's chromium to see the dashboard refresh itself.
"""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from bridge import charts, dashboard
from bridge.admin.accounts import account_status
from bridge.models import Delivery, Lead, ProviderAccount, RemoteLink, SyncRun

NOW = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)  # 11:30 in Paris (UTC+1 in January)
SVG = "{http://www.w3.org/2000/svg}"


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def frozen_now():
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        yield NOW


@pytest.fixture
def lead(frozen_now, make_lead):
    """A lead received at NOW (its default, ``timezone.now``, is bound before the patch)."""
    lead = make_lead()
    Lead.objects.filter(pk=lead.pk).update(received_at=NOW)
    return lead


def add_delivery(account, record, state, at, **fields):
    """A delivery of ``record`` to ``account`` in ``state``, queued at ``at``."""
    delivery = Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        state=state,
        **fields,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=at, updated_at=at)
    return Delivery.objects.get(pk=delivery.pk)


def add_sync(account, resource, status, finished_ago, error=""):
    """A sync run of ``resource`` that finished ``finished_ago`` before NOW."""
    run = SyncRun.objects.create(account=account, resource=resource, status=status, error=error)
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=NOW - finished_ago - timedelta(seconds=30), finished_at=NOW - finished_ago
    )
    return run


def parse_svg(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def svg_in_page(html: str, chart_id: str) -> ET.Element:
    """The chart with ``chart_id`` out of a whole page, parsed as XML."""
    match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert match, f"no chart {chart_id} in the page"
    return parse_svg(match.group(0))


def bar_values(svg: ET.Element) -> dict[tuple[str, str], int]:
    """{(series, category): value} for every bar segment drawn."""
    return {
        (rect.get("data-series"), rect.get("data-category")): int(rect.get("data-value"))
        for rect in svg.iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    }


def drawn_values(svg: ET.Element) -> dict[tuple[str, str], int]:
    """{(series, category): value} for every bar segment or line point drawn."""
    return {
        (mark.get("data-series"), mark.get("data-category")): int(mark.get("data-value"))
        for mark in svg.iter()
        if mark.get("class") in ("bar", "point")
    }


def legend(svg: ET.Element) -> dict[str, str]:
    """{series key: legend text}."""
    return {
        entry.get("data-series"): entry.find(f"{SVG}text").text
        for entry in svg.iter(f"{SVG}g")
        if entry.get("class") == "legend-entry"
    }


def staff_client(client, django_user_model, *codenames):
    """A client logged in as staff holding only the bridge permissions named."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="bridge", codename__in=codenames)
    )
    client.force_login(user)
    return client


# --- charts ------------------------------------------------------------------------------


def categories(*keys):
    return [charts.Category(key=key, label=key) for key in keys]


def test_bars_scale_to_the_largest_total():
    svg = parse_svg(
        charts.stacked_bar_chart(
            "c",
            "Sent",
            categories("a", "b", "c"),
            [
                charts.Series("ok", "OK", "#15803d", [1, 2, 3]),
                charts.Series("bad", "Bad", "#b91c1c", [0, 2, 1]),
            ],
        )
    )
    axis_max, plot_height = int(svg.get("data-axis-max")), float(svg.get("data-plot-height"))
    assert axis_max == 4  # the tallest stack (2 + 2, 3 + 1) fills the axis
    heights = {
        (rect.get("data-series"), rect.get("data-category")): float(rect.get("height"))
        for rect in svg.iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    }
    assert ("bad", "a") not in heights  # a zero draws nothing
    assert heights[("ok", "c")] + heights[("bad", "c")] == pytest.approx(plot_height, abs=0.02)
    assert heights[("ok", "b")] == pytest.approx(plot_height / 2, abs=0.02)
    assert heights[("ok", "a")] == pytest.approx(plot_height / 4, abs=0.02)
    stacks = {g.get("data-category"): g.get("data-total") for g in svg.iter(f"{SVG}g")}
    assert stacks["a"] == "1" and stacks["b"] == "4" and stacks["c"] == "4"


@pytest.mark.parametrize(
    ("peak", "axis_max", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (45, 60, 20), (480, 600, 200)],
)
def test_nice_scale_rounds_the_axis_up_to_a_round_step(peak, axis_max, step):
    assert charts.nice_scale(peak) == (axis_max, step)


def test_compact_numbers():
    assert [charts.compact_number(n) for n in (0, 950, 1000, 1234, 12_345, 2_500_000)] == [
        "0",
        "950",
        "1k",
        "1.2k",
        "12k",
        "2.5M",
    ]


@pytest.mark.parametrize("draw", [charts.stacked_bar_chart, charts.line_chart])
def test_empty_data_draws_an_explicit_no_data_chart(draw):
    zeros = draw("e", "Nothing", categories("a", "b"), [charts.Series("x", "X", "#000", [0, 0])])
    no_categories = draw("e", "Nothing", [], [charts.Series("x", "X", "#000", [])])
    for markup in (zeros, no_categories):
        svg = parse_svg(markup)
        assert svg.get("data-empty") == "true"
        assert "No data" in "".join(svg.itertext())
        assert not [el for el in svg.iter() if el.get("data-value") is not None]


def test_labels_are_escaped():
    hostile = '<script>alert("x")</script> & co'
    markup = charts.stacked_bar_chart(
        "esc",
        hostile,
        [charts.Category(key='k"1', label=hostile)],
        [charts.Series("s", hostile, "#000", [2])],
    )
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    svg = parse_svg(markup)  # still well-formed XML
    assert svg.find(f"{SVG}title").text == hostile
    assert legend(svg)["s"] == f"{hostile} (2)"
    bars = [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    assert [bar.get("data-category") for bar in bars] == ['k"1']


def test_chart_is_labelled_for_assistive_technology():
    svg = parse_svg(
        charts.stacked_bar_chart(
            "a11y", "Deliveries", categories("a", "b"), [charts.Series("d", "Done", "#000", [1, 5])]
        )
    )
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "a11y-title a11y-desc"
    assert svg.find(f"{SVG}title").get("id") == "a11y-title"
    description = svg.find(f"{SVG}desc")
    assert description.get("id") == "a11y-desc"
    assert "Done 6" in description.text and "Highest: b with 5" in description.text
    tooltips = [t.text for t in svg.iter(f"{SVG}title")][1:]
    assert tooltips == ["a — Done: 1", "b — Done: 5"]


def test_series_differ_by_more_than_colour():
    series = [charts.Series(k, k.title(), "#000", [1, 1]) for k in ("one", "two", "three")]
    bars = parse_svg(charts.stacked_bar_chart("p", "P", categories("a", "b"), series))
    fills = {r.get("data-series"): r.get("fill") for r in bars.iter(f"{SVG}rect") if r.get("class")}
    assert fills == {"one": "#000", "two": "url(#p-pattern-1)", "three": "url(#p-pattern-2)"}
    assert {p.get("id") for p in bars.iter(f"{SVG}pattern")} == {"p-pattern-1", "p-pattern-2"}
    lines = parse_svg(charts.line_chart("l", "L", categories("a", "b"), series))
    shapes = {
        p.get("data-series"): re.sub(r"[-\d. ]+", "", p.get("d"))
        for p in lines.iter(f"{SVG}path")
        if p.get("class") == "point" and p.get("data-category") == "a"
    }
    assert shapes == {"one": "Maa", "two": "Mhvhz", "three": "MLLz"}  # circle, square, triangle
    dashes = {
        g.get("data-series"): g.find(f"{SVG}polyline").get("stroke-dasharray")
        for g in lines.iter(f"{SVG}g")
        if g.get("class") == "line"
    }
    assert len(set(dashes.values())) == 3


def test_line_chart_places_points_by_value():
    svg = parse_svg(
        charts.line_chart(
            "l",
            "Leads",
            categories("a", "b", "c"),
            [charts.Series("web", "Web", "#00f", [0, 2, 4])],
        )
    )
    points = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "point"]
    assert [(p.get("data-category"), p.get("data-value")) for p in points] == [
        ("a", "0"),
        ("b", "2"),
        ("c", "4"),
    ]
    ys = [float(pair.split(",")[1]) for pair in svg.find(f".//{SVG}polyline").get("points").split()]
    plot_height = float(svg.get("data-plot-height"))
    assert ys[0] - ys[2] == pytest.approx(plot_height, abs=0.02)  # 4 is the top of the axis
    assert ys[0] - ys[1] == pytest.approx(plot_height / 2, abs=0.02)
    assert legend(svg) == {"web": "Web (6)"}


# --- the figures -------------------------------------------------------------------------


@override_settings(TIME_ZONE="Europe/Paris")
def test_buckets_are_hours_and_days_in_the_project_time_zone(frozen_now, lead, make_account):
    account = make_account()
    # 23:30 UTC on the 13th is 00:30 on the 14th in Paris.
    add_delivery(account, lead, "delivered", datetime(2025, 1, 13, 23, 30, tzinfo=UTC))
    add_delivery(account, lead, "delivered", datetime(2025, 1, 13, 22, 30, tzinfo=UTC))
    add_delivery(account, lead, "dead", datetime(2025, 1, 15, 10, 5, tzinfo=UTC))

    by_day = dashboard.deliveries_by_day(NOW)
    assert by_day.starts[-1].isoformat() == "2025-01-15" and len(by_day.starts) == 30
    day = {start.isoformat(): i for i, start in enumerate(by_day.starts)}
    assert by_day.counts["delivered"][day["2025-01-14"]] == 1
    assert by_day.counts["delivered"][day["2025-01-13"]] == 1
    assert by_day.counts["dead"][day["2025-01-15"]] == 1

    by_hour = dashboard.deliveries_by_hour(NOW)
    assert len(by_hour.starts) == 24
    assert by_hour.starts[-1] == datetime(2025, 1, 15, 11, 0)  # Paris wall clock
    assert by_hour.counts["dead"][-1] == 1
    assert sum(by_hour.counts["delivered"]) == 0  # both are more than 24 hours old


def test_queue_depth_and_the_oldest_pending_delivery(frozen_now, lead, make_account):
    account = make_account()
    for minutes in (135, 20, 1):
        add_delivery(account, lead, "pending", NOW - timedelta(minutes=minutes))
    add_delivery(account, lead, "failed", NOW - timedelta(days=3))
    add_delivery(account, lead, "failed", NOW - timedelta(minutes=5))
    add_delivery(account, lead, "sending", NOW - timedelta(minutes=1))
    for state in ("delivered", "dead", "skipped", "cancelled"):
        add_delivery(account, lead, state, NOW - timedelta(days=40))

    queue = dashboard.queue_depth(NOW)

    assert queue.counts == {"pending": 3, "failed": 2, "sending": 1}
    assert queue.total == 6
    assert queue.oldest_pending_at == NOW - timedelta(minutes=135)
    assert queue.oldest_pending_seconds == 135 * 60
    assert dashboard.format_age(queue.oldest_pending_seconds) == "2 h 15 min"


def test_leads_by_source_keeps_the_busiest_and_adds_up_the_rest(frozen_now, make_lead):
    per_source = {"web": 6, "ads": 5, "fb": 4, "walk-in": 3, "": 3, "fair": 2, "mail": 1}
    for source, count in per_source.items():
        for n in range(count):
            lead = make_lead(source=source)
            Lead.objects.filter(pk=lead.pk).update(received_at=NOW - timedelta(days=n))
    old = make_lead(source="web")
    Lead.objects.filter(pk=old.pk).update(received_at=NOW - timedelta(days=45))

    series = dashboard.lead_source_series(dashboard.leads_by_day(NOW))

    totals = {item.key: item.total for item in series}
    assert totals == {"web": 6, "ads": 5, "fb": 4, "(none)": 3, "walk-in": 3, "(other)": 3}
    labels = {item.key: item.label for item in series}
    assert labels["(none)"] == "No source given" and labels["(other)"] == "2 other sources"
    assert series[0].values[-1] == 1 and series[0].values[-6] == 1


# --- the index page ----------------------------------------------------------------------


@pytest.fixture
def busy(frozen_now, lead, make_account):
    """Two accounts with deliveries, failures, syncs and leads at known times."""
    aello = make_account("aello")
    leeloo = make_account("leeloo", paused=True, paused_reason="401: credential refused")
    at = NOW.replace(minute=0) + timedelta(minutes=10)  # 10:10, in the current hour
    for _ in range(3):
        add_delivery(aello, lead, "delivered", at)
    add_delivery(aello, lead, "pending", at - timedelta(hours=2))
    add_delivery(leeloo, lead, "dead", at - timedelta(hours=2), error_code="old", error_message="x")
    add_delivery(aello, lead, "delivered", NOW - timedelta(days=1))
    add_delivery(aello, lead, "delivered", NOW - timedelta(days=40))  # outside both charts
    add_delivery(aello, lead, "skipped", at)  # not charted
    add_delivery(
        aello,
        lead,
        "failed",
        at + timedelta(minutes=5),
        error_code="validation_error",
        error_message="phone: The phone number is not valid for country US",
        last_http_status=422,
    )
    add_sync(aello, "people", "succeeded", timedelta(minutes=3))
    add_sync(aello, "orders", "succeeded", timedelta(minutes=40))
    add_sync(aello, "tunnels", "failed", timedelta(minutes=1), error="HTTP 500: upstream down")
    return {"aello": aello, "leeloo": leeloo, "lead": lead}


def test_index_shows_the_delivery_charts(admin_client, busy):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="content-main"' in html and "app-bridge" in html  # the app list is still there

    hourly = svg_in_page(html, "chart-deliveries-24h")
    assert bar_values(hourly) == {
        ("delivered", "2025-01-15T10:00"): 3,
        ("failed", "2025-01-15T10:00"): 1,
        ("pending", "2025-01-15T08:00"): 1,
        ("dead", "2025-01-15T08:00"): 1,
    }
    assert legend(hourly) == {
        "delivered": "Delivered (3)",
        "failed": "Failed, will retry (1)",
        "dead": "Dead (1)",
        "pending": "Pending (1)",
    }
    daily = svg_in_page(html, "chart-deliveries-30d")
    assert bar_values(daily) == {
        ("delivered", "2025-01-15"): 3,
        ("failed", "2025-01-15"): 1,
        ("pending", "2025-01-15"): 1,
        ("dead", "2025-01-15"): 1,
        ("delivered", "2025-01-14"): 1,
    }
    leads = svg_in_page(html, "chart-leads-30d")
    assert legend(leads) == {"website": "website (1)"}


def test_index_lists_recent_failures_with_the_providers_reason(admin_client, busy):
    html = admin_client.get(reverse("admin:index")).content.decode()

    failures = html[html.index('id="dashboard-failures"') :]
    rows = re.findall(r'<tr class="failure" data-delivery="(\d+)">(.*?)</tr>', failures, re.S)
    newest, oldest = rows
    failed = Delivery.objects.get(state="failed")
    assert int(newest[0]) == failed.pk and int(oldest[0]) == Delivery.objects.get(state="dead").pk
    assert "phone: The phone number is not valid for country US" in newest[1]
    assert "<code>validation_error</code>" in newest[1] and "HTTP 422" in newest[1]
    assert reverse("admin:bridge_delivery_change", args=[failed.pk]) in newest[1]
    assert reverse("admin:bridge_lead_change", args=[busy["lead"].pk]) in newest[1]
    assert ">aello<" in newest[1] and "Failed, will retry" in newest[1]
    all_failures = re.search(r'<a href="([^"]+)">All failed and dead', failures).group(1)
    listed = admin_client.get(all_failures.replace("&amp;", "&")).context["cl"].result_list
    assert sorted(d.state for d in listed) == ["dead", "failed"]


def test_index_shows_queue_depth_and_oldest_pending_age(admin_client, busy):
    html = admin_client.get(reverse("admin:index")).content.decode()

    queue = html[html.index('id="dashboard-queue"') : html.index('id="dashboard-accounts"')]
    figures = dict(re.findall(r'data-figure="([a-z-]+)"[^>]*>([^<]*)<', queue))
    assert figures == {
        "pending": "1",
        "failed": "1",
        "sending": "0",
        "total": "2",
        "oldest-pending": "2 h 20 min",
    }
    assert 'data-seconds="8400"' in queue


def test_index_shows_account_health_and_flags_stale_syncs(admin_client, busy):
    html = admin_client.get(reverse("admin:index")).content.decode()

    accounts = dict(re.findall(r'data-account="(\w+)" data-status="(\w+)"', html))
    assert accounts == {"aello": "active", "leeloo": "paused"}
    assert "Paused — 401: credential refused" in html
    syncs = {
        resource: (stale, text)
        for resource, stale, text in re.findall(
            r'data-resource="(\w+)" data-stale="(\w+)">(.*?)</li>', html, re.S
        )
    }
    assert syncs["people"][0] == "false" and "3 min ago" in syncs["people"][1]
    assert syncs["orders"][0] == "true" and "late, expected every 15 min" in syncs["orders"][1]
    assert syncs["tunnels"][0] == "true" and "HTTP 500: upstream down" in syncs["tunnels"][1]
    assert "Failed" in syncs["tunnels"][1]


def test_account_rows_say_what_each_service_does_and_where_it_points(
    admin_client, frozen_now, lead, make_account
):
    """Push-only services "do not sync"; an account on the local fakes says so, not
    "production"; the last error shows the failed attempt's HTTP status and message."""
    fake = make_account("aloware", base_url="http://127.0.0.1:8765/aloware")
    make_account("aello", name="aello-live")  # the provider's documented URL
    make_account("leeloo")  # syncs, but has not in the last 7 days
    add_delivery(
        fake,
        lead,
        "failed",
        NOW - timedelta(minutes=4),
        error_code="http_500",
        error_message="Internal Server Error",
        last_http_status=500,
    )
    html = admin_client.get(reverse("admin:index")).content.decode()
    rows = dict(
        re.findall(r'<tr class="account" data-account="([\w-]+)".*?>(.*?)</tr>', html, re.S)
    )

    def text(name):
        return " ".join(re.sub(r"<[^>]+>", " ", rows[name]).split())

    assert "Aloware, local fake" in text("aloware") and "production" not in text("aloware")
    assert "Aloware does not sync (pushes only)." in text("aloware")
    assert "No sync in the last 7 days" not in text("aloware")
    assert "HTTP 500 http_500 Internal Server Error" in text("aloware")
    assert "local fake" not in text("aello-live") and "does not sync" in text("aello-live")
    assert "No delivery failing" in text("aello-live") and "None" not in text("aello-live")
    assert "No sync in the last 7 days." in text("leeloo")
    assert re.search(r"Leeloo\S*, (production|sandbox)", text("leeloo")), text("leeloo")
    refreshed = admin_client.get(reverse("bridge_dashboard_refresh")).json()["figures"]
    errors = {a["name"]: a["last_error"] for a in refreshed["accounts"]}
    assert errors["aloware"]["status"] == 500 and errors["aello-live"] is None


@override_settings(BRIDGE_SYNC_INTERVALS={"orders": 60})
def test_staleness_follows_each_resources_interval(frozen_now, busy):
    syncs = {s.run.resource: s.stale for s in dashboard.latest_syncs(NOW)[busy["aello"].pk]}
    assert syncs == {"people": False, "orders": False, "tunnels": True}


def test_of_two_runs_started_together_the_later_one_counts(frozen_now, make_account):
    account = make_account()
    add_sync(account, "people", "succeeded", timedelta(minutes=2))
    later = add_sync(account, "people", "failed", timedelta(minutes=2), error="boom")

    (sync,) = dashboard.latest_syncs(NOW)[account.pk]

    assert sync.run == later and sync.stale


def test_refresh_endpoint_returns_the_figures_the_page_shows(admin_client, busy):
    page = admin_client.get(reverse("admin:index")).content.decode()
    response = admin_client.get(reverse("bridge_dashboard_refresh"))
    assert response.status_code == 200
    data = response.json()
    figures = data["figures"]

    assert set(figures["charts"]) == {
        "chart-deliveries-24h",
        "chart-deliveries-30d",
        "chart-leads-30d",
    }
    for chart_id, chart in figures["charts"].items():
        drawn = drawn_values(svg_in_page(page, chart_id))
        assert drawn == {
            (series, category): value
            for series, values in chart["series"].items()
            for category, value in zip(chart["categories"], values, strict=True)
            if value or chart_id == "chart-leads-30d"  # lines have a point at every day
        }
    hourly = figures["charts"]["chart-deliveries-24h"]
    assert hourly["series"]["delivered"][-1] == 3 and len(hourly["categories"]) == 24
    assert figures["queue"] == {
        "pending": 1,
        "failed": 1,
        "sending": 0,
        "total": 2,
        "oldest_pending_at": (NOW.replace(minute=10) - timedelta(hours=2)).isoformat(),
        "oldest_pending_seconds": 8400,
    }
    assert [f["error_code"] for f in figures["failures"]] == ["validation_error", "old"]
    aello = next(a for a in figures["accounts"] if a["name"] == "aello")
    assert {s["resource"]: s["stale"] for s in aello["syncs"]} == {
        "orders": True,
        "people": False,
        "tunnels": True,
    }
    assert aello["last_error"]["code"] == "validation_error"
    fragment = data["html"].strip()
    assert fragment.startswith('<div id="bridge-dashboard"') and fragment in page


def test_refresh_endpoint_needs_a_staff_login(client, busy):
    response = client.get(reverse("bridge_dashboard_refresh"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_staff_without_permissions_see_no_figures(client, django_user_model, busy):
    staff = staff_client(client, django_user_model)

    page = staff.get(reverse("admin:index")).content.decode()
    figures = staff.get(reverse("bridge_dashboard_refresh")).json()["figures"]

    assert 'id="bridge-dashboard"' not in page
    assert "validation_error" not in page and 'class="chart' not in page
    assert set(figures) == {"generated_at", "charts"} and figures["charts"] == {}


def test_delivery_figures_only_for_those_who_may_view_deliveries(client, django_user_model, busy):
    staff = staff_client(client, django_user_model, "view_lead", "view_provideraccount")

    page = staff.get(reverse("admin:index")).content.decode()
    figures = staff.get(reverse("bridge_dashboard_refresh")).json()["figures"]

    assert set(figures["charts"]) == {"chart-leads-30d"}
    assert "queue" not in figures and "failures" not in figures
    assert [set(account) for account in figures["accounts"]] == [
        {"name", "status", "label", "throttled_until", "throttled_since"}
    ] * 2
    assert 'id="dashboard-accounts"' in page and 'id="chart-leads-30d"' in page
    assert 'id="dashboard-queue"' not in page and 'id="chart-deliveries-24h"' not in page
    assert "validation_error" not in page and "upstream down" not in page


def test_delivery_viewers_see_the_queue_without_accounts(client, django_user_model, busy):
    staff = staff_client(client, django_user_model, "view_delivery")

    figures = staff.get(reverse("bridge_dashboard_refresh")).json()["figures"]

    assert figures["queue"]["total"] == 2 and len(figures["failures"]) == 2
    assert "accounts" not in figures
    assert set(figures["charts"]) == {"chart-deliveries-24h", "chart-deliveries-30d"}


def index_queries(admin_client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(reverse("admin:index")).status_code == 200
    return len(queries)


def test_index_queries_do_not_grow_with_accounts_or_deliveries(
    admin_client, busy, make_account, django_assert_max_num_queries
):
    few = index_queries(admin_client)
    lead = busy["lead"]
    for n in range(8):
        account = make_account("aloware", name=f"more-{n}")
        for state in ("delivered", "failed", "dead", "pending", "sending"):
            add_delivery(account, lead, state, NOW - timedelta(hours=n), error_code=f"e{n}")
        add_sync(account, "people", "succeeded", timedelta(minutes=n))
        add_sync(account, f"res{n}", "failed", timedelta(minutes=n))

    with django_assert_max_num_queries(few):
        page = admin_client.get(reverse("admin:index"))
    assert page.content.decode().count('class="account"') == 10
    assert few <= 16


# --- admin pages -------------------------------------------------------------------------


def test_account_list_says_each_accounts_health_in_words(admin_client, frozen_now, make_account):
    make_account("aello")
    make_account("leeloo", paused=True, paused_reason="429 storm")
    make_account("aloware", enabled=False)

    html = admin_client.get(reverse("admin:bridge_provideraccount_changelist")).content.decode()

    health = dict(re.findall(r'class="account-health health-(\w+)"[^>]*>([^<]*)<', html))
    assert health == {"active": "Active", "paused": "Paused — 429 storm", "disabled": "Disabled"}


def test_account_links_to_its_filtered_deliveries(admin_client, lead, make_account):
    aello, other = make_account("aello"), make_account("leeloo")
    mine = add_delivery(aello, lead, "failed", NOW)
    add_delivery(aello, lead, "delivered", NOW)
    add_delivery(other, lead, "failed", NOW)

    html = admin_client.get(
        reverse("admin:bridge_provideraccount_change", args=[aello.pk])
    ).content.decode()
    failed_link = re.search(r'<a href="([^"]+)">Failed</a>', html).group(1).replace("&amp;", "&")
    listed = admin_client.get(failed_link).context["cl"].result_list

    assert list(listed) == [mine]


def test_remote_link_and_delivery_link_to_each_other_and_the_record(
    admin_client, lead, make_account
):
    aello, other = make_account("aello"), make_account("leeloo")
    link = RemoteLink.objects.create(
        account=aello,
        content_type=ContentType.objects.get_for_model(lead),
        object_id=lead.pk,
        remote_id="AE-42",
    )
    delivery = add_delivery(aello, lead, "delivered", NOW, remote_id="AE-42")
    add_delivery(other, lead, "delivered", NOW)

    link_page = admin_client.get(
        reverse("admin:bridge_remotelink_change", args=[link.pk])
    ).content.decode()
    lead_url = reverse("admin:bridge_lead_change", args=[lead.pk])
    assert f'<a href="{lead_url}">Lead #{lead.pk}</a>' in link_page
    deliveries_url = re.search(r'<a href="([^"]+)">This record', link_page).group(1)
    listed = admin_client.get(deliveries_url.replace("&amp;", "&")).context["cl"].result_list
    assert list(listed) == [delivery]

    delivery_page = admin_client.get(
        reverse("admin:bridge_delivery_change", args=[delivery.pk])
    ).content.decode()
    assert lead_url in delivery_page
    assert reverse("admin:bridge_remotelink_change", args=[link.pk]) in delivery_page
    assert reverse("admin:bridge_provideraccount_change", args=[aello.pk]) in delivery_page


def test_sync_run_status_is_coloured_words(admin_client, frozen_now, make_account):
    account = make_account()
    add_sync(account, "people", "failed", timedelta(minutes=2), error="HTTP 500")
    add_sync(account, "orders", "succeeded", timedelta(minutes=2))

    html = admin_client.get(reverse("admin:bridge_syncrun_changelist")).content.decode()

    statuses = dict(re.findall(r'class="sync-status sync-(\w+)"[^>]*>([^<]*)<', html))
    assert statuses == {"failed": "Failed", "succeeded": "Succeeded"}
    assert "HTTP 500" in html


def test_every_account_status_has_a_label(frozen_now):
    cases = [
        (ProviderAccount(enabled=True), ("active", "Active")),
        (ProviderAccount(enabled=True, paused=True), ("paused", "Paused")),
        (ProviderAccount(enabled=False, paused=True), ("disabled", "Disabled")),
    ]
    for account, expected in cases:
        assert account_status(account) == expected


# --- in a browser ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_refreshes_itself_without_a_reload(page, live_server, admin_user, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setattr(dashboard.view, "REFRESH_SECONDS", 1)
    account = ProviderAccount.objects.create(provider="aello", name="aello", credential="k")
    lead_type = ContentType.objects.get_for_model(Lead)
    page.goto(f"{live_server.url}{reverse('admin:login')}?next=/admin/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    pending = page.locator('[data-figure="pending"]')
    expect(pending).to_have_text("0")
    page.evaluate("window.notReloaded = true")

    Delivery.objects.create(account=account, content_type=lead_type, object_id=1)

    expect(pending).to_have_text("1", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#chart-deliveries-24h rect.bar").count() == 1


@pytest.mark.django_db(transaction=True)  # the outbox's sending threads read committed rows
def test_a_failure_the_retry_overcame_still_shows_as_the_last_error(
    admin_client, make_lead, fake_account, fakes
):
    """Two 500s, then the push went through: its delivery's error is cleared, yet the
    dashboard still says what failed and when (the account keeps its latest failed attempt)."""
    from bridge import outbox
    from bridge.models import Delivery, Lead

    account = fake_account("aello", name="aello-dealer")
    fakes.add_fault("aello", "error", path="/leads", status=500, times=2)
    lead = make_lead()
    outbox.enqueue(Lead, {account: [lead.pk]})
    outbox.run_until_settled([account.pk], timeout=60)
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.DELIVERED and delivery.error_message == ""
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "No delivery failing now. Last failed attempt" in page
    assert "HTTP 500" in page and f"delivery #{delivery.pk}" in page
    figures = admin_client.get(reverse("bridge_dashboard_refresh")).json()["figures"]
    row = next(a for a in figures["accounts"] if a["name"] == "aello-dealer")
    assert row["last_error"] is None and row["last_recovered_error"]["text"].startswith("HTTP 500")

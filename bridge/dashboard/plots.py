"""The dashboard's charts: deliveries by state (24 hours, 30 days) and leads by source (30 days).

Each chart is drawn as SVG by ``bridge.charts`` from the counts in ``counts``, and carries its
figures for the JSON refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bridge import charts
from bridge.admin.outbox import STATE_COLOURS
from bridge.models import Delivery

from .counts import CHART_STATES, Buckets, deliveries_by_day, deliveries_by_hour, leads_by_day

State = Delivery.State

#: Lead sources charted one by one; the rest are added up as "N other sources".
TOP_LEAD_SOURCES = 5


def _hour_categories(starts: list[datetime]) -> list[charts.Category]:
    return [
        charts.Category(
            key=start.isoformat(timespec="minutes"),
            label=f"{start:%H}:00",
            long_label=f"{start:%a} {start.day} {start:%b}, {start:%H}:00–{start:%H}:59",
        )
        for start in starts
    ]


def _day_categories(starts: list[date]) -> list[charts.Category]:
    return [
        charts.Category(
            key=day.isoformat(),
            label=f"{day.day} {day:%b}",
            long_label=f"{day:%a} {day.day} {day:%b} {day.year}",
        )
        for day in starts
    ]


def _state_series(buckets: Buckets) -> list[charts.Series]:
    labels = dict(State.choices)
    return [
        charts.Series(
            key=state.value,
            label=labels[state.value],
            colour=STATE_COLOURS[state.value],
            values=buckets.counts[state.value],
        )
        for state in CHART_STATES
    ]


def lead_source_series(buckets: Buckets, top: int = TOP_LEAD_SOURCES) -> list[charts.Series]:
    """The ``top`` busiest lead sources as series, the others summed as one more series."""
    ranked = sorted(buckets.counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    series = [
        charts.Series(
            key=source or "(none)",
            label=source or "No source given",
            colour=charts.CATEGORICAL_COLOURS[index % len(charts.CATEGORICAL_COLOURS)],
            values=values,
        )
        for index, (source, values) in enumerate(ranked[:top])
    ]
    rest = ranked[top:]
    if rest:
        others = [sum(day) for day in zip(*(values for _, values in rest), strict=True)]
        series.append(
            charts.Series(
                key="(other)",
                label=f"{len(rest)} other sources" if len(rest) > 1 else "1 other source",
                colour=charts.OTHER_COLOUR,
                values=others,
            )
        )
    return series


@dataclass
class Chart:
    """A chart on the dashboard: its heading, its SVG, and its figures for the JSON."""

    id: str
    heading: str
    note: str
    svg: str
    categories: list[charts.Category]
    series: list[charts.Series]
    wide: bool = False

    def figures(self) -> dict:
        return {
            "categories": [category.key for category in self.categories],
            "series": {item.key: list(item.values) for item in self.series},
        }


def delivery_charts(now: datetime) -> list[Chart]:
    """Deliveries by state over the last 24 hours (hourly) and 30 days (daily)."""
    by_hour, by_day = deliveries_by_hour(now), deliveries_by_day(now)
    return [
        _delivery_chart(
            "chart-deliveries-24h",
            "Deliveries, last 24 hours",
            _hour_categories(by_hour.starts),
            _state_series(by_hour),
            "Hour queued",
        ),
        _delivery_chart(
            "chart-deliveries-30d",
            "Deliveries, last 30 days",
            _day_categories(by_day.starts),
            _state_series(by_day),
            "Day queued",
        ),
    ]


def _delivery_chart(chart_id, heading, categories, series, x_label) -> Chart:
    svg = charts.stacked_bar_chart(
        chart_id, heading, categories, series, x_label=x_label, y_label="Deliveries"
    )
    note = "Counted by the hour or day they were queued, in the state they are in now."
    return Chart(chart_id, heading, note, svg, categories, series)


def leads_chart(now: datetime) -> Chart:
    """Leads received per day over the last 30 days, one line per source."""
    buckets = leads_by_day(now)
    categories = _day_categories(buckets.starts)
    series = lead_source_series(buckets)
    heading = "Leads received per day, last 30 days"
    svg = charts.line_chart(
        "chart-leads-30d",
        heading,
        categories,
        series,
        x_label="Day received",
        y_label="Leads",
        width=1120,
    )
    note = f"One line per source: the {TOP_LEAD_SOURCES} busiest, the others added up."
    return Chart("chart-leads-30d", heading, note, svg, categories, series, wide=True)

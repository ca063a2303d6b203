"""Charts drawn on the server as inline SVG: stacked bars and lines, with axes and a legend.

No JavaScript chart library and nothing fetched from the internet: a chart is a string of SVG
that a template puts in the page. Colour is never the only cue: each series also has a fill
pattern (bars) or a marker shape and dash (lines), its name and total in the legend, and every
bar segment or point carries a tooltip (``<title>``) and ``data-series``/``data-category``/
``data-value`` attributes with its figures. Text and grid lines use ``currentColor``, so a chart
follows the admin's light and dark themes. Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

#: Colour-blind-safe colours (Okabe & Ito) for series that have no colour of their own.
CATEGORICAL_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")
OTHER_COLOUR = "#6b7280"

# Second cues beside colour, given to series by position: bar fills and line styles.
PATTERNS = ("solid", "hatch", "crosshatch", "dots", "stripes")
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "circle")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")

FONT_SIZE = 12
SMALL_FONT_SIZE = 10
AXIS_LEFT = 50  # room for the y tick labels and the y axis title
AXIS_BOTTOM = 38  # room for the x tick labels and the x axis title
LEGEND_ROW = 20


@dataclass(frozen=True)
class Category:
    """One position on the x axis: a machine key (``data-category``), the axis label, and a
    longer label for tooltips (defaults to the axis label)."""

    key: str
    label: str
    long_label: str = ""

    @property
    def tooltip_label(self) -> str:
        return self.long_label or self.label


@dataclass(frozen=True)
class Series:
    """One named series: its key (``data-series``), legend label, colour and one value per
    category."""

    key: str
    label: str
    colour: str
    values: Sequence[int]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class _Frame:
    """Where the plot area sits inside the SVG, and the y scale."""

    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    axis_max: int
    step: int

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    @property
    def plot_height(self) -> float:
        return self.bottom - self.top

    def y(self, value: float) -> float:
        """The y coordinate of ``value`` on the scale."""
        return self.bottom - value / self.axis_max * self.plot_height

    def band(self, count: int) -> float:
        return self.plot_width / count

    def band_centre(self, index: int, count: int) -> float:
        return self.left + (index + 0.5) * self.band(count)


def nice_scale(max_value: float, ticks: int = 4) -> tuple[int, int]:
    """The top of the y axis and the tick step for data up to ``max_value`` (1, 2 or 5 × 10ⁿ).

    Counts are whole numbers, so the step is at least 1.
    """
    if max_value <= 0:
        return 1, 1
    raw = max_value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, round(step))
    return step * math.ceil(max_value / step), step


def compact_number(value: int) -> str:
    """A short label for a count: 950, 1.2k, 12k, 3.4M."""
    if value < 1000:
        return str(value)
    if value < 10_000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    if value < 1_000_000:
        return f"{value // 1000}k"
    return f"{value / 1_000_000:.1f}M".replace(".0M", "M")


def stacked_bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[Category],
    series: Sequence[Series],
    *,
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 260,
) -> SafeString:
    """Bars stacked by series (the first series at the bottom), one bar per category.

    Each bar shows its total above it when there is room; empty data draws a "No data" chart.
    """
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    if not categories or not any(totals):
        return no_data_chart(chart_id, title, width=width, height=height)
    frame = _frame(series, max(totals), width, height)
    count = len(categories)
    band = frame.band(count)
    bar_width = max(1.0, band * 0.72)
    stacks = []
    for index, category in enumerate(categories):
        x = frame.left + index * band + (band - bar_width) / 2
        segments, base = [], 0
        for number, item in enumerate(series):
            value = item.values[index]
            if not value:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            segments.append(
                format_html(
                    '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}" '
                    'stroke="{}" stroke-width="0.5" data-series="{}" data-category="{}" '
                    'data-value="{}"><title>{} — {}: {}</title></rect>',
                    _n(x),
                    _n(top),
                    _n(bar_width),
                    _n(bottom - top),
                    _fill(chart_id, number, item),
                    item.colour,
                    item.key,
                    category.key,
                    value,
                    category.tooltip_label,
                    item.label,
                    f"{value:,}",
                )
            )
            base += value
        label = ""
        if totals[index] and band >= 18:
            label = format_html(
                '<text class="bar-total" x="{}" y="{}" text-anchor="middle" font-size="{}" '
                'fill="currentColor">'
                "{}</text>",
                _n(x + bar_width / 2),
                _n(frame.y(totals[index]) - 3),
                SMALL_FONT_SIZE,
                compact_number(totals[index]),
            )
        stacks.append(
            format_html(
                '<g class="bar-stack" data-category="{}" data-total="{}">{}{}</g>',
                category.key,
                totals[index],
                mark_safe("".join(segments)),
                label,
            )
        )
    body = _join([_axes(frame, categories, x_label, y_label), *stacks])
    return _svg(chart_id, "bars", title, _summary(categories, series, totals), frame, series, body)


def line_chart(
    chart_id: str,
    title: str,
    categories: Sequence[Category],
    series: Sequence[Series],
    *,
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 260,
) -> SafeString:
    """One line per series, with a marker of its own shape at every category.

    Empty data draws a "No data" chart.
    """
    peak = max((max(s.values, default=0) for s in series), default=0)
    if not categories or peak <= 0:
        return no_data_chart(chart_id, title, width=width, height=height)
    frame = _frame(series, peak, width, height)
    count = len(categories)
    lines = []
    for number, item in enumerate(series):
        points = [
            (frame.band_centre(i, count), frame.y(value)) for i, value in enumerate(item.values)
        ]
        markers = format_html_join(
            "",
            '<path class="point" d="{}" fill="{}" data-series="{}" data-category="{}" '
            'data-value="{}"><title>{} — {}: {}</title></path>',
            (
                (
                    _marker_path(MARKERS[number % len(MARKERS)], x, y),
                    item.colour,
                    item.key,
                    category.key,
                    value,
                    category.tooltip_label,
                    item.label,
                    f"{value:,}",
                )
                for (x, y), category, value in zip(points, categories, item.values, strict=True)
            ),
        )
        lines.append(
            format_html(
                '<g class="line" data-series="{}" data-total="{}"><polyline points="{}" '
                'fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}" '
                'stroke-linejoin="round"/>{}</g>',
                item.key,
                item.total,
                " ".join(f"{_n(x)},{_n(y)}" for x, y in points),
                item.colour,
                DASHES[number % len(DASHES)],
                markers,
            )
        )
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    body = _join([_axes(frame, categories, x_label, y_label), *lines])
    return _svg(chart_id, "lines", title, _summary(categories, series, totals), frame, series, body)


def no_data_chart(chart_id: str, title: str, *, width: int = 560, height: int = 260) -> SafeString:
    """The frame of a chart with "No data" in it, so an empty period is said, not guessed."""
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-empty" id="{id}" '
        'viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" '
        'data-empty="true" font-size="{fs}"><title id="{id}-title">{title}</title>'
        '<desc id="{id}-desc">No data for this period.</desc>'
        '<rect x="{x}" y="12" width="{rw}" height="{rh}" fill="none" stroke="currentColor" '
        'stroke-opacity="0.25" stroke-dasharray="4 4"/>'
        '<text x="{cx}" y="{cy}" text-anchor="middle" font-size="14" fill="currentColor" '
        'fill-opacity="0.7">No data</text>'
        '<text x="{cx}" y="{cy2}" text-anchor="middle" fill="currentColor" fill-opacity="0.6">'
        "Nothing was recorded in this period.</text></svg>",
        id=chart_id,
        w=width,
        h=height,
        fs=FONT_SIZE,
        title=title,
        x=AXIS_LEFT,
        rw=width - AXIS_LEFT - 10,
        rh=height - 12 - AXIS_BOTTOM,
        cx=_n((width + AXIS_LEFT) / 2),
        cy=_n(height / 2 - 4),
        cy2=_n(height / 2 + 14),
    )


# --- drawing helpers -------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate with at most two decimals, without trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _join(parts) -> SafeString:
    return mark_safe("".join(parts))


def _legend_layout(series: Sequence[Series], width: int) -> list[tuple[float, float]]:
    """The top-left corner of each legend entry, wrapping onto more rows when needed."""
    positions, x, y = [], float(AXIS_LEFT), 4.0
    for item in series:
        entry_width = 22 + len(_legend_text(item)) * 6.0 + 12
        if x + entry_width > width and x > AXIS_LEFT:
            x, y = float(AXIS_LEFT), y + LEGEND_ROW
        positions.append((x, y))
        x += entry_width
    return positions


def _legend_text(item: Series) -> str:
    return f"{item.label} ({item.total:,})"


def _frame(series: Sequence[Series], max_value: int, width: int, height: int) -> _Frame:
    rows = len({y for _, y in _legend_layout(series, width)}) or 1
    axis_max, step = nice_scale(max_value)
    return _Frame(
        width=width,
        height=height,
        left=AXIS_LEFT,
        top=4 + rows * LEGEND_ROW + 10,
        right=width - 10,
        bottom=height - AXIS_BOTTOM,
        axis_max=axis_max,
        step=step,
    )


def _axes(frame: _Frame, categories: Sequence[Category], x_label: str, y_label: str):
    """Grid lines with the y ticks, the x labels (thinned to fit), and the axis titles."""
    parts = []
    for value in range(0, frame.axis_max + 1, frame.step):
        y = _n(frame.y(value))
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" '
                'stroke-opacity="{}"/><text x="{}" y="{}" text-anchor="end" '
                'dominant-baseline="middle" fill="currentColor">{}</text>',
                _n(frame.left),
                _n(frame.right),
                y,
                y,
                "0.5" if value == 0 else "0.12",
                _n(frame.left - 6),
                y,
                compact_number(value),
            )
        )
    count = len(categories)
    every = max(1, math.ceil(count / max(1, int(frame.plot_width // 60))))
    for index in range(0, count, every):
        parts.append(
            format_html(
                '<text class="x-label" x="{}" y="{}" text-anchor="middle" fill="currentColor">'
                "{}</text>",
                _n(frame.band_centre(index, count)),
                _n(frame.bottom + 16),
                categories[index].label,
            )
        )
    if x_label:
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" fill="currentColor" '
                'fill-opacity="0.75">{}</text>',
                _n(frame.left + frame.plot_width / 2),
                frame.height - 4,
                x_label,
            )
        )
    if y_label:
        parts.append(
            format_html(
                '<text transform="translate(11 {}) rotate(-90)" text-anchor="middle" '
                'fill="currentColor" fill-opacity="0.75">{}</text>',
                _n(frame.top + frame.plot_height / 2),
                y_label,
            )
        )
    return format_html('<g class="axes">{}</g>', _join(parts))


def _fill(chart_id: str, number: int, item: Series) -> str:
    """A series' bar fill: its colour for the first series, a pattern over it for the others."""
    if PATTERNS[number % len(PATTERNS)] == "solid":
        return item.colour
    return f"url(#{chart_id}-pattern-{number})"


def _patterns(chart_id: str, series: Sequence[Series]) -> SafeString:
    """<pattern> definitions giving every series after the first a texture besides its colour."""
    marks = {
        "hatch": '<path d="M0 0V6" stroke="#fff" stroke-width="2" stroke-opacity="0.6"/>',
        "crosshatch": '<path d="M0 0V6M0 3H6" stroke="#fff" stroke-width="1.4" '
        'stroke-opacity="0.6"/>',
        "dots": '<circle cx="3" cy="3" r="1.3" fill="#fff" fill-opacity="0.7"/>',
        "stripes": '<path d="M0 3H6" stroke="#fff" stroke-width="2" stroke-opacity="0.6"/>',
    }
    rotate = {"hatch": 45, "crosshatch": 45, "dots": 0, "stripes": 0}
    defs = []
    for number, item in enumerate(series):
        pattern = PATTERNS[number % len(PATTERNS)]
        if pattern == "solid":
            continue
        defs.append(
            format_html(
                '<pattern id="{}-pattern-{}" width="6" height="6" patternUnits="userSpaceOnUse" '
                'patternTransform="rotate({})"><rect width="6" height="6" fill="{}"/>{}</pattern>',
                chart_id,
                number,
                rotate[pattern],
                item.colour,
                mark_safe(marks[pattern]),
            )
        )
    return format_html("<defs>{}</defs>", _join(defs)) if defs else mark_safe("")


def _marker_path(shape: str, x: float, y: float, r: float = 3.5) -> str:
    """SVG path data for a point marker of ``shape`` centred on (x, y)."""
    if shape == "square":
        return f"M{_n(x - r)} {_n(y - r)}h{_n(2 * r)}v{_n(2 * r)}h{_n(-2 * r)}z"
    if shape == "triangle":
        return f"M{_n(x)} {_n(y - r - 0.5)}L{_n(x + r)} {_n(y + r)}L{_n(x - r)} {_n(y + r)}z"
    if shape == "triangle-down":
        return f"M{_n(x)} {_n(y + r + 0.5)}L{_n(x + r)} {_n(y - r)}L{_n(x - r)} {_n(y - r)}z"
    if shape == "diamond":
        d = r + 0.8
        return f"M{_n(x)} {_n(y - d)}L{_n(x + d)} {_n(y)}L{_n(x)} {_n(y + d)}L{_n(x - d)} {_n(y)}z"
    arc = f"a{_n(r)} {_n(r)} 0 1 0"
    return f"M{_n(x - r)} {_n(y)}{arc} {_n(2 * r)} 0{arc} {_n(-2 * r)} 0"


def _legend(chart_id: str, kind: str, series: Sequence[Series], width: int) -> SafeString:
    """Each series' swatch (with its pattern or marker), its name and its total."""
    entries = []
    for number, ((x, y), item) in enumerate(
        zip(_legend_layout(series, width), series, strict=True)
    ):
        if kind == "bars":
            swatch = format_html(
                '<rect x="{}" y="{}" width="14" height="12" fill="{}" stroke="{}"/>',
                _n(x),
                _n(y),
                _fill(chart_id, number, item),
                item.colour,
            )
        else:
            swatch = format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="2" '
                'stroke-dasharray="{}"/><path d="{}" fill="{}"/>',
                _n(x),
                _n(x + 18),
                _n(y + 6),
                _n(y + 6),
                item.colour,
                DASHES[number % len(DASHES)],
                _marker_path(MARKERS[number % len(MARKERS)], x + 9, y + 6),
                item.colour,
            )
        entries.append(
            format_html(
                '<g class="legend-entry" data-series="{}" data-total="{}">{}'
                '<text x="{}" y="{}" dominant-baseline="middle" fill="currentColor">{}</text></g>',
                item.key,
                item.total,
                swatch,
                _n(x + 22),
                _n(y + 6.5),
                _legend_text(item),
            )
        )
    return format_html('<g class="legend">{}</g>', _join(entries))


def _summary(categories: Sequence[Category], series: Sequence[Series], totals) -> str:
    """A sentence with the figures, for screen readers (the chart's <desc>)."""
    parts = ", ".join(f"{item.label} {item.total:,}" for item in series)
    peak = max(range(len(totals)), key=lambda i: totals[i])
    return (
        f"Totals: {parts}. Highest: {categories[peak].tooltip_label} with {totals[peak]:,}. "
        f"From {categories[0].tooltip_label} to {categories[-1].tooltip_label}."
    )


def _svg(chart_id, kind, title, summary, frame: _Frame, series, body) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" id="{id}" '
        'viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" '
        'data-axis-max="{axis_max}" data-plot-height="{plot_h}" font-size="{fs}">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>'
        "{patterns}{legend}{body}</svg>",
        kind=kind,
        id=chart_id,
        w=frame.width,
        h=frame.height,
        axis_max=frame.axis_max,
        plot_h=_n(frame.plot_height),
        fs=FONT_SIZE,
        title=title,
        summary=summary,
        patterns=_patterns(chart_id, series) if kind == "bars" else "",
        legend=_legend(chart_id, kind, series, frame.width),
        body=body,
    )

"""Charts as inline SVG, drawn on the server: no script, nothing for the CSP to allow.

Colours and fonts come from classes styled in static/style.css. Every mark has a
<title>, which browsers show as a tooltip, and every chart a text alternative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from tracker.web.queries import DailyPoint

if TYPE_CHECKING:
    from tracker.results import MeasurementResult

Fmt = Callable[[float], str]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value - 1e-12:
            return float(step * magnitude)
    return 10.0 * magnitude


def ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values from at most `low` to at least `high`, about `count` steps apart."""
    if high <= low:
        high = low + 1.0
    step = nice_ceiling((high - low) / count)
    first = math.floor(low / step + 1e-9) * step
    values = [first]
    while values[-1] < high - 1e-9:
        values.append(values[-1] + step)
    return [round(v, 10) for v in values]


def value_format(metric: str) -> Fmt:
    if metric == "sentiment":
        return lambda v: f"{v:+.2f}"
    if metric in ("positive_share", "share_of_voice"):
        return lambda v: f"{v * 100:.0f} %"
    if metric == "mentions":
        return lambda v: f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"
    return lambda v: f"{v:.1f}"


class _Svg:
    def __init__(self, width: int, height: int, label: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = [
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
            f"<title>{escape(label)}</title>",
        ]

    def add(
        self, tag: str, cls: str, title: str | None = None, text: str | None = None, **attrs: Any
    ) -> None:
        attributes = "".join(
            f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items()
        )
        inner = (f"<title>{escape(title)}</title>" if title else "") + (escape(text) if text else "")
        self.parts.append(f'<{tag} class="{cls}"{attributes}>{inner}</{tag}>')

    def markup(self) -> Markup:
        return Markup("".join([*self.parts, "</svg>"]))


def _r(value: float) -> str:
    return f"{value:.1f}"


def daily_chart(
    points: Sequence[DailyPoint],
    spike_days: set[date] | Mapping[date, Sequence[str]] | None = None,
    windows: Sequence[tuple[str, date, date]] = (),
) -> Markup:
    """Bars of daily mentions, a line of mean sentiment on its own axis, Mondays labelled.

    `spike_days` maps each spike day to what spiked (a stream, with its count), which
    the bar's tooltip names; `windows` are experiment windows (label, start, end), drawn
    as bands above the bars.
    """
    spiked: Mapping[date, Sequence[str]] = (
        {d: () for d in spike_days} if isinstance(spike_days, set) else (spike_days or {})
    )
    spike_days = set(spiked)
    width, height, left, right, top, bottom = 960, 280, 44, 52, 34, 28
    svg = _Svg(width, height, "Daily mentions (bars) and mean sentiment (line)")
    if not points:
        return svg.markup()
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(points)
    count_ticks = ticks(0.0, float(max(p.mentions for p in points)))
    y_max = count_ticks[-1]
    scores = [p.sentiment for p in points if p.sentiment is not None]
    s_low = math.floor(min([*scores, 0.0]) * 4) / 4
    s_high = max(math.ceil(max([*scores, 0.0]) * 4) / 4, s_low + 0.5)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    def ys(v: float) -> float:
        return top + plot_h * (1 - (v - s_low) / (s_high - s_low))

    for value in count_ticks:
        svg.add("line", "grid", x1=left, x2=width - right, y1=_r(y(value)), y2=_r(y(value)))
        svg.add("text", "axis", text=f"{value:g}", x=left - 6, y=_r(y(value) + 4), text_anchor="end")
    for value in sorted({s_low, 0.0, s_high}):
        label = f"{value:+.2f}" if value else "0"
        svg.add("text", "axis axis-sentiment", text=label, x=width - right + 6, y=_r(ys(value) + 4))
    if s_low < 0 < s_high:
        svg.add("line", "zero", x1=left, x2=width - right, y1=_r(ys(0)), y2=_r(ys(0)))
    for i, p in enumerate(points):
        x = left + i * slot
        sentiment = f", mean sentiment {p.sentiment:+.2f}" if p.sentiment is not None else ""
        title = f"{p.day:%a %d %b}: {p.mentions} mentions{sentiment}"
        if spiked.get(p.day):
            title += "; spike in " + ", ".join(spiked[p.day])
        bar_h = max(plot_h * p.mentions / y_max, 0.0)
        cls = "bar spike" if p.day in spike_days else "bar"
        svg.add("rect", cls, title, x=_r(x + slot * 0.14), y=_r(top + plot_h - bar_h),
                width=_r(max(slot * 0.72, 1.0)), height=_r(bar_h))  # fmt: skip
        if p.day.weekday() == 0 or len(points) <= 14:
            svg.add(
                "text", "axis", text=f"{p.day:%d %b}", x=_r(x + slot / 2), y=height - 8, text_anchor="middle"
            )
    for run in _runs([(left + (i + 0.5) * slot, p.sentiment) for i, p in enumerate(points)]):
        svg.add("polyline", "line-sentiment", points=" ".join(f"{_r(x)},{_r(ys(v))}" for x, v in run))
    first_day = points[0].day
    for n, (label, start, end) in enumerate(windows):
        lo, hi = max(start, first_day), min(end, points[-1].day)
        if hi < lo:
            continue
        x0 = left + (lo - first_day).days * slot
        x1 = left + ((hi - first_day).days + 1) * slot
        band_y = top - 8 + (n % 2) * 4
        svg.add("rect", "window", f"{label}: {start:%d %b} to {end:%d %b}",
                x=_r(x0), y=_r(band_y), width=_r(max(x1 - x0, 1.0)), height=4)  # fmt: skip
    if windows:
        svg.add("rect", "legend-window", x=left + 450, y=12, width=18, height=4)
        svg.add("text", "legend", text="Experiment window", x=left + 474, y=18)
    svg.add("rect", "legend-bar", x=left, y=8, width=12, height=12)
    svg.add("text", "legend", text="Mentions per day", x=left + 18, y=18)
    svg.add("line", "legend-sentiment", x1=left + 150, x2=left + 172, y1=14, y2=14)
    svg.add("text", "legend", text="Mean sentiment (right axis)", x=left + 178, y=18)
    if spike_days:
        svg.add("rect", "legend-spike", x=left + 380, y=8, width=12, height=12)
        svg.add("text", "legend", text="Spike", x=left + 398, y=18)
    return svg.markup()


def _runs(values: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value; a day without one breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, v in values:
        if v is None:
            runs.append([])
        else:
            runs[-1].append((x, v))
    return [r for r in runs if r]


def experiment_chart(result: MeasurementResult) -> Markup:
    """The daily values of the baseline and experiment windows, with each window's mean."""
    metric = result["metric"]
    fmt = value_format(metric)
    width, height, left, right, top, bottom = 960, 300, 56, 124, 28, 28
    svg = _Svg(width, height, f"Daily {metric} in the baseline and experiment windows")
    first = date.fromisoformat(result["baseline"]["start"])
    last = max(date.fromisoformat(result["treatment"]["end"]), date.fromisoformat(result["baseline"]["end"]))
    days = (last - first).days + 1
    drawn = result["series"]
    series = {
        k: [(date.fromisoformat(d), float(v)) for d, v in days]
        for k, days in (("baseline", drawn["baseline"]), ("treatment", drawn["treatment"]))
    }
    control = [
        (date.fromisoformat(d), float(v))
        for days in (drawn.get("control_baseline", []), drawn.get("control_treatment", []))
        for d, v in days
    ]
    windows = {"baseline": result["baseline"], "treatment": result["treatment"]}
    means: dict[str, float | None] = {k: w["value"] for k, w in windows.items()}
    values = [v for pts in series.values() for _, v in pts] + [v for v in means.values() if v is not None]
    values += [v for _, v in control]
    if not values:
        return svg.markup()
    low = 0.0 if metric in ("mentions", "engagement") or min(values) >= 0 else min(values)
    grid = ticks(low, max(values))
    low, high = grid[0], grid[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / days

    def x(day: date) -> float:
        return left + ((day - first).days + 0.5) * slot

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    for value in grid:
        svg.add("line", "grid", x1=left, x2=width - right, y1=_r(y(value)), y2=_r(y(value)))
        svg.add("text", "axis", text=fmt(value), x=left - 6, y=_r(y(value) + 4), text_anchor="end")
    for key, label in (("baseline", "Baseline"), ("treatment", "Experiment")):
        start, end = (date.fromisoformat(windows[key][k]) for k in ("start", "end"))
        x0, x1 = x(start) - slot / 2, x(end) + slot / 2
        svg.add("rect", f"band band-{key}", x=_r(x0), y=top, width=_r(x1 - x0), height=plot_h)
        span = f"{label} {start:%d %b} to {end:%d %b}"
        svg.add("text", f"band-label band-label-{key}", text=span, x=_r(x0 + 2), y=top - 10)
        points = series[key]
        if len(points) > 1:
            svg.add("polyline", f"line-{key}", points=" ".join(f"{_r(x(d))},{_r(y(v))}" for d, v in points))
        for d, v in points:
            svg.add("circle", f"dot dot-{key}", f"{d:%a %d %b}: {fmt(v)}", cx=_r(x(d)), cy=_r(y(v)), r=3)
        mean = means[key]
        if mean is not None:
            svg.add("line", f"mean mean-{key}", f"{label} mean: {fmt(mean)}",
                    x1=_r(x0), x2=_r(x1), y1=_r(y(mean)), y2=_r(y(mean)))  # fmt: skip
    if control:
        drawn_control = result.get("control")
        name = (drawn_control["stream"] if drawn_control else None) or "control stream"
        for run in _runs_by_day(control):
            svg.add("polyline", "line-control", points=" ".join(f"{_r(x(d))},{_r(y(v))}" for d, v in run))
        for d, v in control:
            svg.add(
                "circle",
                "dot dot-control",
                f"{name}, {d:%a %d %b}: {fmt(v)}",
                cx=_r(x(d)),
                cy=_r(y(v)),
                r=2.5,
            )
        svg.add("line", "legend-control", x1=width - right + 6, x2=width - right + 24, y1=top + 4, y2=top + 4)
        svg.add("text", "legend", text="control", x=width - right + 28, y=top + 8)
    _mean_labels(svg, {k: (y(v), f"{'mean' if k == 'treatment' else 'baseline'} {fmt(v)}")
                       for k, v in means.items() if v is not None}, width - right + 6)  # fmt: skip
    step = 7 if days > 21 else 1 if days <= 10 else 2
    for i in range(0, days, step):
        day = first + timedelta(days=i)
        svg.add("text", "axis", text=f"{day:%d %b}", x=_r(x(day)), y=height - 8, text_anchor="middle")
    return svg.markup()


def _runs_by_day(points: Sequence[tuple[date, float]]) -> list[list[tuple[date, float]]]:
    """Consecutive days with a value; a missing day (or the gap between windows) breaks the line."""
    runs: list[list[tuple[date, float]]] = []
    for d, v in sorted(points):
        if runs and (d - runs[-1][-1][0]).days == 1:
            runs[-1].append((d, v))
        else:
            runs.append([(d, v)])
    return [r for r in runs if len(r) > 1]


def _mean_labels(svg: _Svg, labels: dict[str, tuple[float, str]], x: float) -> None:
    """Each window's mean named at the right edge, level with its line, never on top of each other."""
    ys = {key: at for key, (at, _) in labels.items()}
    if len(ys) == 2 and abs(ys["baseline"] - ys["treatment"]) < 15:
        middle = (ys["baseline"] + ys["treatment"]) / 2
        upper = "baseline" if ys["baseline"] <= ys["treatment"] else "treatment"
        for key in ys:
            ys[key] = middle + (-7.5 if key == upper else 7.5)
    for key, (_, text) in labels.items():
        svg.add("text", f"mean-label mean-label-{key}", text=text, x=_r(x), y=_r(ys[key] + 4))


def score_bar(score: float) -> Markup:
    """A 0-100 score as a horizontal bar, as wide as its container."""
    filled = max(0.0, min(score, 100.0))
    return Markup(
        '<svg class="meter" viewBox="0 0 100 4" preserveAspectRatio="none" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{filled:.0f} of 100</title>'
        '<rect class="meter-track" x="0" y="0" width="100" height="4" rx="2"></rect>'
        f'<rect class="meter-fill" x="0" y="0" width="{filled:.1f}" height="4" rx="2"></rect></svg>'
    )

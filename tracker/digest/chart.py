"""The digest's chart: daily mentions (bars) and mean sentiment (line) over the last 8 weeks.

matplotlib is imported only here, inside the function, and used through its
object API on the Agg canvas: no pyplot, no global figure state, no display, so it
is safe in the scheduler's worker threads and keeps `tracker --help` fast.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from tracker.store.enums import Role

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from tracker.digest.data import ChartDay, DigestRecord

WIDTH_IN, HEIGHT_IN, DPI = 6.0, 3.0, 200  # shown 600 px wide: sharp on high-density screens
BAR_WIDTH = 0.78  # of a day
PAST, WEEK, SPIKE, LINE = "#c7d2fe", "#4f46e5", "#dc2626", "#d97706"
INK, MUTED, GRID, SHADE = "#111827", "#6b7280", "#e5e7eb", "#eef2ff"


Draw = Callable[["DigestRecord"], bytes]


@contextlib.contextmanager
def drawn_aside() -> Iterator[Draw]:
    """A chart_png whose matplotlib is imported (and its font loaded) now, in a forked worker
    process, while this one queries the database and renders the text: matplotlib's import and
    first drawing are about half of a digest's time, and a second core does them meanwhile.

    For the CLI only (a short process with no threads of its own yet: forking a worker's
    scheduler threads would not be safe). With one CPU, no `fork`, or a worker that cannot start
    or dies, the chart is drawn here, as chart_png does; the image is the same either way."""
    pool = _pool()
    if pool is None:
        yield chart_png
        return
    from concurrent.futures.process import BrokenProcessPool

    def draw(data: DigestRecord) -> bytes:
        try:
            return pool.submit(chart_png, data).result()
        except (BrokenProcessPool, OSError):
            return chart_png(data)

    try:
        try:
            pool.submit(_warm)
        except (BrokenProcessPool, OSError, RuntimeError):
            pool.shutdown(wait=True, cancel_futures=True)
            yield chart_png
            return
        yield draw
    finally:
        # Waiting joins the worker (idle once the chart is drawn). Without the wait, an exit right
        # after raced the pool's own atexit hook on a closed pipe ("Bad file descriptor" on stderr, about
        # 1 run in 10).
        pool.shutdown(wait=True, cancel_futures=True)


def _pool() -> ProcessPoolExecutor | None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    from tracker.processes import cpu_count, die_with_parent

    if cpu_count() < 2:
        return None
    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    return ProcessPoolExecutor(1, mp_context=context, initializer=die_with_parent, initargs=(parent,))


def _warm() -> None:
    """matplotlib imported and its font loaded by a first small drawing, ahead of the chart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=50)
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "0", fontsize=7.5)
    fig.canvas.draw()


def chart_png(data: DigestRecord) -> bytes:
    """A PNG of the data's `chart` series: mentions on top, sentiment below, the digest week shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = [date.fromisoformat(d["day"]) for d in data["chart"]["days"]]
    counts = [d["mentions"] for d in data["chart"]["days"]]
    week_start = date.fromisoformat(data["week"]["start"])
    spikes = {date.fromisoformat(s["day"]) for s in data["spikes"] if s["role"] != Role.COMPETITOR}
    colours = [WEEK if d >= week_start else PAST for d in days]

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.3, 1], "hspace": 0.12})
    fig.subplots_adjust(left=0.085, right=0.985, top=0.88, bottom=0.09)
    x = list(range(len(days)))
    top.add_collection(_bars(x, counts, colours), autolim=False)  # the limits are set below
    height = max(5, max(counts, default=0) * 1.14)
    top.set_ylim(0, height)
    # Spikes are per stream: mark the day above its bar rather than paint a total that may look normal.
    marked = [i for i, d in enumerate(days) if d in spikes]
    top.scatter(marked, [counts[i] + height * 0.045 for i in marked], marker="v", s=16, color=SPIKE, zorder=3)
    _frame(top, days, "mentions per day")
    _sentiment(bottom, x, data["chart"]["days"])
    _frame(bottom, days, "sentiment")
    _ticks(bottom, days)
    _legend(fig, bool(spikes))
    if not any(counts):
        top.text(0.5, 0.5, "No mentions in these 8 weeks", transform=top.transAxes, ha="center",
                 va="center", color=MUTED, fontsize=8)  # fmt: skip
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _frame(ax: Any, days: list[date], label: str) -> None:
    """Quiet axes: horizontal grid, week separators, the digest week shaded."""
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.tick_params(axis="both", labelsize=7.5, colors=MUTED, length=0, pad=3)
    ax.grid(axis="y", color=GRID, linewidth=0.6, zorder=0)
    weeks = [i - 0.5 for i, d in enumerate(days) if d.weekday() == 0 and i]
    if weeks:  # one collection, not an axvline each: the same pixels, fewer artists to lay out
        ax.vlines(weeks, 0, 1, transform=ax.get_xaxis_transform(), colors=GRID, linewidth=0.6, zorder=1)
    if days:
        ax.axvspan(len(days) - 7.5, len(days) - 0.5, color=SHADE, zorder=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(GRID)
    ax.set_ylabel(label, fontsize=7.5, color=MUTED)


def _bars(x: list[int], counts: list[int], colours: list[str]) -> Any:
    """The daily bars, 0.78 wide, as one collection: the pixels of `ax.bar`, without its 56
    Rectangle artists (each laid out, limited and drawn on its own)."""
    from matplotlib.collections import PolyCollection

    h = BAR_WIDTH / 2
    boxes = [[(i - h, 0), (i - h, n), (i + h, n), (i + h, 0)] for i, n in zip(x, counts, strict=True)]
    return PolyCollection(boxes, facecolors=colours, edgecolors="none", zorder=2)


def _ticks(ax: Any, days: list[date]) -> None:
    mondays = [i for i, d in enumerate(days) if d.weekday() == 0]
    ax.set_xticks(mondays, [f"{days[i].day} {days[i]:%b}" for i in mondays])


def _sentiment(ax: Any, x: list[int], days: list[ChartDay]) -> None:
    """Daily mean sentiment (gaps where nothing was scored), filled towards zero."""
    values = [d["sentiment"] if d["sentiment"] is not None else float("nan") for d in days]
    known = [v for v in values if v == v]
    reach = max([0.25, *(abs(v) * 1.15 for v in known)])
    ax.set_ylim(max(-1.0, -reach), min(1.0, reach))
    ax.axhline(0, color=MUTED, linewidth=0.6, zorder=2)
    ax.fill_between(x, values, 0, where=[v == v and v >= 0 for v in values], color="#a7f3d0",
                    interpolate=True, linewidth=0, zorder=1)  # fmt: skip
    ax.fill_between(x, values, 0, where=[v == v and v < 0 for v in values], color="#fecaca",
                    interpolate=True, linewidth=0, zorder=1)  # fmt: skip
    ax.plot(x, values, color=LINE, linewidth=1.1, zorder=3)
    ax.yaxis.set_major_locator(_locator())


def _locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=3, symmetric=True)


def _legend(fig: Any, spikes: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=PAST, label="earlier weeks"), Patch(color=WEEK, label="this week")]
    if spikes:
        handles.append(
            Line2D([], [], color=SPIKE, marker="v", linestyle="", markersize=4.5, label="a stream spiked")
        )
    handles.append(Line2D([], [], color=LINE, linewidth=1.4, label="mean sentiment (-1 to +1)"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.075, 0.995), ncols=len(handles),
               frameon=False, fontsize=7.5, handlelength=1.2, columnspacing=1.4, labelcolor=INK)  # fmt: skip

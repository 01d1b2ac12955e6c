"""Results put in words: what a difference-in-differences estimate means, in one sentence.

"Acme rose 67 %, the control (globex-reddit) rose 33 %: the practice's share is +26 %."
"""

from __future__ import annotations

from typing import Any

RELATIVE = ("mentions", "engagement")
SHARES = ("positive_share", "share_of_voice")


def _moved(before: float | None, after: float | None, metric: str) -> str | None:
    if before is None or after is None:
        return None
    if metric in RELATIVE:
        if before == 0:
            return None
        change = after / before - 1
        verb = "rose" if change > 0 else "fell" if change < 0 else "stayed level at"
        return f"{verb} {abs(change) * 100:.0f} %" if change else "stayed level"
    scale, unit = (100.0, " percentage points") if metric in SHARES else (1.0, "")
    change = (after - before) * scale
    digits = 1 if scale == 100 else 3
    if round(change, digits) == 0:
        return "stayed level"
    verb = "rose" if change > 0 else "fell"
    return f"{verb} {abs(change):.{digits}f}{unit}"


def _share(result: dict[str, Any]) -> str | None:
    metric = result["metric"]
    if metric in RELATIVE:
        lift = result.get("lift_rel")
        return None if lift is None else f"{lift * 100:+.0f} %"
    lift = result.get("lift_abs")
    if lift is None:
        return None
    if metric in SHARES:
        return f"{lift * 100:+.1f} percentage points"
    return f"{lift:+.3f}"


def diff_in_diff_text(result: dict[str, Any] | None, subject: str = "The experiment's streams") -> str | None:
    """One sentence for a difference-in-differences result; None for other methods or no data."""
    if not result or result.get("method") != "diff_in_diff":
        return None
    control = result.get("control") or {}
    metric = result["metric"]
    own = _moved(result["baseline"]["value"], result["treatment"]["value"], metric)
    other = _moved(control.get("baseline"), control.get("treatment"), metric)
    share = _share(result)
    if own is None or share is None:
        return None
    name = f"the control ({control['stream']})" if control.get("stream") else "the control stream"
    if other is None:
        return f"{subject} {own}; against {name}, the practice's share is {share}."
    return f"{subject} {own}, {name} {other}: the practice's share is {share}."

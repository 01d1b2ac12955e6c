"""Human-readable text for results and experiments (CLI output; the digest reuses the phrasing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.results import InterimRecord, Lift, MeasurementResult

RELATIVE = ("mentions", "engagement")


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} %"


def number(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    if metric in ("sentiment",):
        return f"{value:+.3f}"
    if metric in ("positive_share", "share_of_voice"):
        return f"{value * 100:.1f} %"
    return f"{value:.2f}"


def lift_text(result: MeasurementResult) -> str:
    """The lift with its 95 % interval, on the scale the verdict is judged on; while the
    experiment runs, the interim lift with its always-valid interval; why an interval is
    missing; and whether the result is post hoc (measured under an amended plan)."""
    interim = result.get("interim")
    text = _interim_text(result, interim) if interim else _lift_text(result, result)
    relative = result["metric"] in RELATIVE
    shown: Lift = _lift_of(interim) if interim else result
    low, high = (
        (shown["ci_low"], shown["ci_high"]) if relative else (shown["ci_abs_low"], shown["ci_abs_high"])
    )
    if result.get("note") and (low is None or high is None):
        text += f" (no interval: {result['note']})"
    # Beside an interval only: where there is none the note already says why (a young stream's
    # before/after comparison), and saying it twice reads as two problems.
    interval_shown = low is not None and high is not None
    judged = result.get("verdict") in ("success", "failure", "running")
    if result.get("trend_warning") and interval_shown and judged:
        text += f"; trend not checked: {result['trend_warning']}"
    if result.get("verdict_note"):
        text += f"; {result['verdict_note']}"
    if result.get("post_hoc"):
        text += "; post hoc: measured under an amended plan, not evidence for adoption"
    return text


def _lift_of(interim: InterimRecord) -> Lift:
    """The interim estimate's lift (None where a stored interim lacks a figure)."""
    return {"lift_rel": interim.get("lift_rel"), "lift_abs": interim.get("lift_abs"),
            "ci_low": interim.get("ci_low"), "ci_high": interim.get("ci_high"),
            "ci_abs_low": interim.get("ci_abs_low"), "ci_abs_high": interim.get("ci_abs_high")}  # fmt: skip


def _interim_text(result: MeasurementResult, interim: InterimRecord) -> str:
    """The running estimate with its confidence sequence (safe to look at every day)."""
    base = _lift_text(result, _lift_of(interim))
    # The confidence sequence spends 0.5 % of the 5 % (tracker/sequential.py): a 99.5 % interval;
    # results stored before it did (no `alpha`) spent 5 %.
    level = f"{(1 - float(interim.get('alpha') or 0.05)) * 100:g}"
    return "interim " + base.replace("95 % CI", f"always-valid {level} % CI")


def _lift_text(about: MeasurementResult, result: Lift) -> str:
    """The lift `result` gives (the result's own, or its interim's) in the unit of `about`'s metric."""
    metric = about["metric"]
    if metric in RELATIVE or metric == "engagement":
        if result["lift_rel"] is None:
            return "lift n/a"
        interval = (
            f" (95 % CI {percent(result['ci_low'])} to {percent(result['ci_high'])})"
            if result["ci_low"] is not None
            else ""
        )
        # engagement: the lift and the verdict are those of the typical post (robust), not the mean
        of = " of the typical post" if about.get("lift_of") == "typical" else ""
        return f"lift{of} {percent(result['lift_rel'])}{interval}"
    if result["lift_abs"] is None:
        return "lift n/a"
    scale = 100 if metric in ("positive_share", "share_of_voice") else 1
    unit = " pts" if scale == 100 else ""

    def fmt(v: float) -> str:
        return f"{v * scale:+.3f}{unit}" if scale == 1 else f"{v * scale:+.1f}{unit}"

    interval = (
        f" (95 % CI {fmt(result['ci_abs_low'])} to {fmt(result['ci_abs_high'])})"
        if result["ci_abs_low"] is not None and result["ci_abs_high"] is not None
        else ""
    )
    return f"change {fmt(result['lift_abs'])}{interval}"


def result_line(result: MeasurementResult) -> str:
    excluded = len(result["excluded_days"])
    note = f", {excluded} day(s) excluded (not covered)" if excluded else ""
    outages = result.get("possible_outages") or []
    if outages:
        note += (
            f"; possible outage: {', '.join(outages)} (no mentions, implausible for the stream; "
            f"confirm with `tracker experiment measure {result['id']} --exclude-days ...`)"
        )
    weights = result.get("weights")
    if weights and len(weights) > 1:
        note += "; synthetic control " + ", ".join(f"{k} {v:.2f}" for k, v in weights.items())
    share = post_share_text(result)
    if share:
        note += f"; {share}"
    if result.get("stopped_early"):
        note += "; stopped early: the always-valid interval excludes 0"
    compared_with = result.get("compared_with")
    if compared_with:
        same = "" if result.get("like_for_like", True) else " (no competitor on the same platforms: all)"
        note += f"; share of voice against {', '.join(compared_with)}{same}"
    return (
        f"#{result['id']} {result['metric']} ({result['method']}): {result['verdict']}; "
        f"{number(result['baseline']['value'], result['metric'])} -> "
        f"{number(result['treatment']['value'], result['metric'])}{_typical_text(result)}, "
        f"{lift_text(result)}{note}"
    )


def post_share_text(result: MeasurementResult) -> str | None:
    """Engagement: how much of the plain lift in mean engagement one post makes, when it is most of
    it (a share above 1: without that post the plain lift would turn the other way)."""
    share = result.get("largest_post_share")
    if share is None or share < 0.5:
        return None
    if share > 1:
        return "the plain lift in mean engagement is owed to one post (without it, it turns the other way)"
    return f"{share * 100:.0f} % of the plain lift in mean engagement is owed to one post"


def _typical_text(result: MeasurementResult) -> str:
    """Engagement: the plain means are per post; the typical post's levels (what the lift is of)."""
    if result.get("lift_of") != "typical":
        return ""
    base, treat = result["baseline"].get("typical"), result["treatment"].get("typical")
    return f" per post (typical post {number(base, result['metric'])} -> {number(treat, result['metric'])})"


def experiment_text(record: dict[str, Any]) -> str:
    lines = [
        f"#{record['id']} {record['title']} [{record['status']}]",
        f"  hypothesis: {record['hypothesis']}",
        f"  practice: {record['practice']}; metric: {record['metric']} ({record['expect']}, "
        f"min effect {record['min_effect']})",
        f"  streams: {', '.join(record['streams'])}"
        + (f"; control: {record['control_stream']}" if record["control_stream"] else ""),
        f"  window: {record['start']}..{record['end']}; baseline {record['baseline']['start']}.."
        f"{record['baseline']['end']}",
    ]
    relative = record["metric"] in RELATIVE
    if record.get("mde") is not None:
        shown = percent(record["mde"]) if relative else f"{record['mde']:.3f}"
        lines.append(f"  detectable effect (80 % power, planned window): {shown}")
    for amendment in record.get("amendments") or []:
        lines.append(f"  plan amended {amendment['at']}: {amendment['reason']} (later results are post hoc)")
    if record["owner"] or record["team"]:
        lines.append(f"  owner: {record['owner'] or '-'}; team: {record['team'] or '-'}")
    result = record.get("result")
    lines.append(f"  result: {result_line(result)}" if result else "  result: not measured yet")
    for older in record.get("results", [])[1:]:
        lines.append(f"    earlier ({older['measured_at']}): {older['verdict']}, {lift_text(older)}")
    for note in record["notes"]:
        lines.append(f"  note {note['at']}: {note['text']}")
    if record["learning"]:
        decision = {"adopt": " (adopted)", "reject": " (rejected)"}.get(record["decision"] or "", "")
        by = record.get("adopted_by")
        if by:
            decision = " (adopted on the evidence)"
            if by == "judgement":
                decision = " (adopted on the team's judgement)"
        lines.append(f"  learning: {record['learning']}{decision}")
        if record.get("judgement"):
            lines.append(f"  judgement: {record['judgement']}")
    lines.append(f"  history: registered {record['created_at']}")
    for event in record.get("events", []):
        lines.append(f"    {event['at']}: {event_text(event)}")
    return "\n".join(lines)


def event_text(event: dict[str, Any]) -> str:
    """One change of status in words: `concluded early (was running): reason`."""
    words = str(event["status"]) + (" early" if event.get("early") else "")
    if event["status"] == "concluded" and event.get("adopted_by"):
        how = "the evidence" if event["adopted_by"] == "evidence" else "the team's judgement"
        words += f", adopted on {how}"
    words += f" (was {event['previous']})"
    if event.get("reason"):
        words += f": {event['reason']}"
    if event.get("judgement"):
        words += f"; judgement: {event['judgement']}"
    return words + (f" · {event['author']}" if event.get("author") else "")

"""An experiment's lifecycle with evidence: conclude, cancel and reopen, each kept as an event.

The rules (SPEC §5), the same for the CLI, the web pages and the API:

* `conclude` before the window has ended is refused unless it is stopped early on
  purpose (`early` with a `reason`, which is recorded);
* adopting on evidence (`decision="adopt"`) needs a stored result that is *usable*:
  a verdict other than running / insufficient_data, computed from data in both
  windows (an "inconclusive 0 -> 0" is not evidence of anything); without one the
  team may adopt on its `judgement` (a sentence saying why), which is recorded and
  shown as `adopted_by: "judgement"` everywhere;
* `reopen` undoes a conclusion or a cancellation, with a reason;
* every change of status is an `ExperimentEvent` with its time, reason and what it
  said, so nothing a conclusion recorded is lost when it is reopened, and the
  reflection can replay the history as it stood on any day.

A learning (and a judgement) counts when it is a sentence: at least
`SENTENCE_CHARS` characters and `SENTENCE_WORDS` words.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import UserError
from tracker.metrics import COUNT_METRICS
from tracker.results import MeasurementResult, stored
from tracker.store.models import Experiment, ExperimentEvent
from tracker.store.queries import valid_results
from tracker.timeutil import iso_z

UNUSABLE = ("running", "insufficient_data")
SENTENCE_CHARS = 20
SENTENCE_WORDS = 3
ADOPTED_BY = ("evidence", "judgement")


def _invalid(problems: list[tuple[str, str]]) -> UserError:
    """The experiments' ValidationError (field, message pairs), imported late: it imports this module."""
    from tracker.experiments import ValidationError

    return ValidationError(problems)


def is_sentence(text: str | None) -> bool:
    """A learning or judgement that says something: 20+ characters and 3+ words."""
    words = (text or "").split()
    return len(" ".join(words)) >= SENTENCE_CHARS and len(words) >= SENTENCE_WORDS


def has_data(result: MeasurementResult | None) -> bool:
    """True when the result was computed from data in both windows (for counts: at least one item each)."""
    if not result:
        return False
    base, treat = result.get("baseline"), result.get("treatment")
    if (
        not base
        or not treat
        or not base.get("days")
        or not treat.get("days")
        or base.get("value") is None
        or treat.get("value") is None
    ):
        return False
    if result.get("metric") in COUNT_METRICS:
        series = result.get("series")
        windows = (series.get("baseline", []), series.get("treatment", [])) if series else ([], [])
        return all(sum(v for _, v in days) > 0 for days in windows)
    return True


def usable(result: MeasurementResult | None) -> bool:
    """A result that is evidence: a settled verdict computed from data in both windows."""
    return result is not None and result.get("verdict") not in UNUSABLE and has_data(result)


def status_at(exp: Experiment, today: date) -> str:
    if exp.cancelled_at is not None:
        return "cancelled"
    if exp.concluded_at is not None:
        return "concluded"
    if today < exp.start:
        return "planned"
    return "running" if today <= exp.end else "ended"


def latest_result(session: Session, exp: Experiment) -> MeasurementResult | None:
    rows = valid_results(session, exp.id, limit=1)
    return stored(dict(rows[0].payload)) if rows else None


class ConclusionPlan(TypedDict):
    """What concluding will record (`plan_conclusion`); the web's confirmation page shows it."""

    learning: str
    decision: str | None  # adopt, reject, or None (a usable success adopts)
    adopted_by: str | None  # one of ADOPTED_BY, or None: not adopted
    judgement: str | None
    early: bool
    reason: str | None
    verdict: str | None  # the latest valid result's, None when never measured
    previous: str  # the status it is concluded from


def plan_conclusion(
    session: Session,
    exp: Experiment,
    *,
    learning: str,
    decision: str | None,
    judgement: str | None,
    early: bool,
    reason: str | None,
    today: date,
) -> ConclusionPlan:
    """Check a conclusion against every rule; return what it will record (nothing is written)."""
    problems: list[tuple[str, str]] = []
    if judgement is not None and not judgement.strip():
        problems.append(("judgement", "must not be empty: say why the team adopts the practice"))
    learning, judgement, reason = learning.strip(), (judgement or "").strip() or None, (reason or "").strip()
    if not learning:
        problems.append(("learning", "must not be empty: write down what was learned"))
    if decision not in (None, "adopt", "reject"):
        problems.append(("decision", "expected adopt or reject"))
    if judgement is not None and decision is not None:
        problems.append(
            ("judgement", "adopts on the team's judgement: use it instead of --adopt or --reject")
        )
    if judgement is not None and not is_sentence(judgement):
        problems.append(("judgement", f"say why in a sentence (at least {SENTENCE_CHARS} characters and "
                                      f"{SENTENCE_WORDS} words)"))  # fmt: skip
    if problems:
        raise _invalid(problems)
    status = status_at(exp, today)
    if status == "cancelled":
        raise UserError(f"experiment {exp.id} is cancelled: reopen it first "
                        f"(`tracker experiment reopen {exp.id} --reason TEXT`)")  # fmt: skip
    if status == "concluded":
        raise UserError(
            f"experiment {exp.id} is already concluded: reopen it first "
            f"(`tracker experiment reopen {exp.id} --reason TEXT`) to conclude it again"
        )
    if today <= exp.end and not early:
        raise UserError(f"experiment {exp.id}: the window runs until {exp.end.isoformat()}; use --early "
                        "with a reason to stop it now")  # fmt: skip
    if early and today <= exp.end and not reason:
        raise _invalid([("reason", f"needed with --early: say why it stops before {exp.end.isoformat()}")])
    result = latest_result(session, exp)
    verdict = result["verdict"] if result else None
    post_hoc = bool(result and result.get("post_hoc"))
    if decision == "adopt" and (not usable(result) or post_hoc):
        why = (
            "it has not been measured"
            if result is None
            else "its latest result was measured under an amended plan (post hoc), which is no evidence"
            if post_hoc
            else f"its latest result is {verdict}"
            + ("" if verdict in UNUSABLE else ", from no data in one of its windows")
        )
        message = (
            f"needs a usable measured verdict and {why}: to adopt on the team's judgement, "
            "use --judgement TEXT instead of --adopt"
        )
        raise _invalid([("adopt", message)])
    adopted_by = None
    if judgement is not None:
        adopted_by = "judgement"
    elif decision == "adopt" or (
        decision is None and verdict == "success" and usable(result) and not post_hoc
    ):
        adopted_by = "evidence"
    return {
        "learning": learning,
        "decision": "adopt" if judgement is not None else decision,
        "adopted_by": adopted_by,
        "judgement": judgement,
        "early": bool(early and today <= exp.end),
        "reason": reason or None,
        "verdict": verdict,
        "previous": status,
    }


def conclude(session: Session, exp: Experiment, plan: ConclusionPlan, *, now: datetime,
             author: str | None = None) -> None:  # fmt: skip
    """Record a checked conclusion (`plan_conclusion`) and its event."""
    exp.concluded_at, exp.learning, exp.decision = now, plan["learning"], plan["decision"]
    exp.updated_at = now
    detail = {"learning": plan["learning"], "decision": plan["decision"], "adopted_by": plan["adopted_by"],
              "judgement": plan["judgement"], "early": plan["early"], "verdict": plan["verdict"]}  # fmt: skip
    _event(session, exp, "concluded", plan["previous"], plan["reason"], detail, now, author)


def cancel(session: Session, exp: Experiment, *, reason: str | None, now: datetime, today: date,
           author: str | None = None) -> None:  # fmt: skip
    status = status_at(exp, today)
    if status == "concluded":
        raise UserError(f"experiment {exp.id} is concluded: it cannot be cancelled (reopen it first with "
                        f"`tracker experiment reopen {exp.id} --reason TEXT`)")  # fmt: skip
    if status == "cancelled":
        return
    exp.cancelled_at = exp.updated_at = now
    _event(session, exp, "cancelled", status, (reason or "").strip() or None, {}, now, author)


def reopen(session: Session, exp: Experiment, *, reason: str, now: datetime, today: date,
           author: str | None = None) -> None:  # fmt: skip
    if not reason.strip():
        raise _invalid([("reason", "say why it is reopened")])
    status = status_at(exp, today)
    if status not in ("concluded", "cancelled"):
        raise UserError(f"experiment {exp.id} is {status}: only a concluded or cancelled experiment can be "
                        "reopened")  # fmt: skip
    undone = {"learning": exp.learning, "decision": exp.decision} if status == "concluded" else {}
    exp.concluded_at = exp.cancelled_at = None
    exp.learning = exp.decision = None
    exp.updated_at = now
    _event(session, exp, "reopened", status, reason.strip(), undone, now, author)


def _event(session: Session, exp: Experiment, status: str, previous: str, reason: str | None,
           detail: dict[str, Any], now: datetime, author: str | None) -> None:  # fmt: skip
    session.add(ExperimentEvent(experiment_id=exp.id, at=now, status=status, previous=previous,
                                reason=reason, author=author, detail=detail))  # fmt: skip
    session.flush()


def events(session: Session, exp: Experiment) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ExperimentEvent)
        .where(ExperimentEvent.experiment_id == exp.id)
        .order_by(ExperimentEvent.at, ExperimentEvent.id)
    ).all()
    return [
        {
            "at": iso_z(r.at),
            "status": r.status,
            "previous": r.previous,
            "reason": r.reason,
            "author": r.author,
            **{k: v for k, v in r.detail.items() if k != "verdict"},
        }
        for r in rows
    ]


def adopted_by(
    exp: Experiment, events_: list[dict[str, Any]], result: MeasurementResult | None
) -> str | None:
    """How the current conclusion adopted the practice: evidence, judgement, or None (not adopted)."""
    if exp.concluded_at is None or exp.decision == "reject":
        return None
    last = next((e for e in reversed(events_) if e["status"] == "concluded"), None)
    if last is not None and last.get("adopted_by") == "judgement":
        return "judgement"
    if exp.decision == "adopt" or (result is not None and result.get("verdict") == "success"):
        return "evidence" if usable(result) else None
    return None

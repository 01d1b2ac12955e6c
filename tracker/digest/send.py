"""Sending the digest: at most once per (week, recipient), recorded in the database.

Each recipient gets their own message in their own SMTP transaction. The row of
(week, recipient) is written `in_progress` before the transaction and `sent` after
the server accepted the message, so a crash in between leaves `in_progress` behind,
which means "in doubt": the person may or may not have it, so it is never resent
automatically (`--force` does). The same holds when the connection breaks while the
message is being transferred (after DATA): the server may have taken it. A failure
before that (server down, TLS or authentication refused, sender or recipient
refused, message refused) is certain not to have delivered anything: it is recorded
as `failed` and the hourly digest job tries again.

Only one process sends a week's digest at a time: the lease `digest:{week}` is held
around the whole send (and renewed per recipient), so two workers on one database
never both send. The SMTP password is read from `password_env` when needed and is
scrubbed from every error message before it is printed, logged or stored.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from tracker.config import Settings, SmtpConfig, resolve_secret
from tracker.digest.message import Rendered, build_message
from tracker.leases import acquire, holder_of, release
from tracker.store.db import Store
from tracker.store.enums import SendStatus
from tracker.store.models import DigestSend
from tracker.timeutil import iso_z, utcnow

STALE = timedelta(minutes=10)  # an in_progress row older than this is in doubt, lease or not
ERROR_LIMIT = 500


class InDoubt(Exception):
    """The connection broke while the message was being transferred: it may have been delivered."""


class Delivery(StrEnum):
    """What happened for one recipient in one `send_week` (an Outcome's status: reported, not
    stored; the stored digest_sends.status is a SendStatus)."""

    SENT = "sent"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"  # interrupted while the message was transferred: delivery unknown
    ALREADY_SENT = "already_sent"
    SKIPPED_IN_DOUBT = "skipped_in_doubt"  # an earlier send is in doubt: not resent without --force


@dataclass
class Outcome:
    """What happened for one recipient in one `send_week`."""

    recipient: str
    status: Delivery
    error: str | None = None
    attempts: int = 0
    sent_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "sent_at": iso_z(self.sent_at) if self.sent_at else None,
        }


@dataclass
class SendReport:
    week: str
    outcomes: list[Outcome] = field(default_factory=list)
    busy: str | None = None  # holder of the lease when another worker was sending

    @property
    def ok(self) -> bool:
        """True when every recipient has the digest (sent now or before)."""
        has_it = (Delivery.SENT, Delivery.ALREADY_SENT)
        return self.busy is None and all(o.status in has_it for o in self.outcomes)


def lease_name(week: str) -> str:
    return f"digest:{week}"


def send_week(
    settings: Settings,
    store: Store,
    week: str,
    build: Callable[[], Rendered],
    *,
    force: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    now: Callable[[], datetime] = utcnow,
) -> SendReport:
    """Send `week`'s digest to every [digest] recipient who has not got it (all of them with `force`).

    `build` is called only when someone is to receive it. Raises UserError when the
    password's environment variable is not set (nothing was attempted).
    """
    assert settings.digest is not None and settings.smtp is not None
    smtp = settings.smtp
    password = resolve_secret(smtp.password_env, "smtp.password_env") if smtp.username else None
    lease, ttl = lease_name(week), smtp.timeout * 4 + timedelta(seconds=60)
    if not acquire(store, lease, ttl):
        return SendReport(week, busy=holder_of(store, lease) or "another worker")
    try:
        report = SendReport(week)
        plan = _plan(store, week, settings.digest.to, force, report)
        if plan:
            job = _Delivery(settings, store, week, build(), password, ssl_context, now)
            report.outcomes += job.run(plan, lambda: acquire(store, lease, ttl))
    finally:
        release(store, lease)
    order = {r: i for i, r in enumerate(settings.digest.to)}
    report.outcomes.sort(key=lambda o: order.get(o.recipient, len(order)))
    return report


def _rows(store: Store, week: str) -> dict[str, DigestSend]:
    with store.read() as session:
        return {r.recipient: r for r in session.scalars(select(DigestSend).where(DigestSend.week == week))}


def _plan(store: Store, week: str, recipients: Sequence[str], force: bool, report: SendReport) -> list[str]:
    """Who is to get it now; the others are reported as they stand. Called under the lease, so an
    in_progress row found here belongs to a send that was interrupted: it is in doubt."""
    rows = _rows(store, week)
    plan = []
    for recipient in dict.fromkeys(recipients):
        row = rows.get(recipient)
        if force or row is None or row.status == SendStatus.FAILED:
            plan.append(recipient)
        elif row.status == SendStatus.SENT:
            report.outcomes.append(Outcome(recipient, Delivery.ALREADY_SENT, None, row.attempts, row.sent_at))
        else:
            report.outcomes.append(Outcome(recipient, Delivery.SKIPPED_IN_DOUBT, row.error, row.attempts))
    return plan


class _Delivery:
    """One SMTP session delivering one rendered digest to several recipients, one transaction each."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        week: str,
        rendered: Rendered,
        password: str | None,
        ssl_context: ssl.SSLContext | None,
        now: Callable[[], datetime],
    ) -> None:
        assert settings.digest is not None and settings.smtp is not None
        self.smtp, self.sender = settings.smtp, settings.digest.sender
        self.store, self.week, self.rendered = store, week, rendered
        self.password, self.ssl_context, self.now = password, ssl_context, now

    def run(self, plan: list[str], renew: Callable[[], bool]) -> list[Outcome]:
        try:
            client = connect(self.smtp, self.password, self.ssl_context)
        except (smtplib.SMTPException, OSError) as exc:
            error = describe(exc, self.smtp, self.password)
            return [self._failed(r, error, attempted=True) for r in plan]
        outcomes: list[Outcome] = []
        try:
            for index, recipient in enumerate(plan):
                if not renew():
                    error = "not attempted: another worker took over this week's digest"
                    outcomes += [self._failed(r, error, attempted=False) for r in plan[index:]]
                    break
                outcome, broken = self._deliver_to(client, recipient)
                outcomes.append(outcome)
                if broken:  # the session is gone: the others are retried later
                    error = "not attempted: the connection to the server was lost"
                    outcomes += [self._failed(r, error, attempted=False) for r in plan[index + 1 :]]
                    break
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()
        return outcomes

    def _deliver_to(self, client: smtplib.SMTP, recipient: str) -> tuple[Outcome, bool]:
        """Deliver to one recipient: (what happened, whether the connection is broken)."""
        message = build_message(self.rendered, sender=self.sender, to=[recipient], now=self.now())
        attempts = self._record(recipient, status=SendStatus.IN_PROGRESS, started_at=self.now(), sent_at=None,
                                error=None, message_id=message["Message-ID"], attempt=True)  # fmt: skip
        try:
            transact(client, self.sender, recipient, message)
        except InDoubt as exc:
            error = f"interrupted while the message was being transferred ({exc}): delivery unknown"
            self._record(recipient, error=error)  # stays in_progress: in doubt, never resent by itself
            return Outcome(recipient, Delivery.IN_DOUBT, error, attempts), True
        except smtplib.SMTPServerDisconnected as exc:  # before DATA: certainly not delivered
            return self._refused(recipient, exc, attempts, broken=True)
        except smtplib.SMTPException as exc:  # the server said no; the session goes on
            return self._refused(recipient, exc, attempts, broken=False)
        except OSError as exc:  # SMTPException is an OSError too, so this comes last
            return self._refused(recipient, exc, attempts, broken=True)
        sent = self.now()
        self._record(recipient, status=SendStatus.SENT, sent_at=sent, error=None)
        return Outcome(recipient, Delivery.SENT, None, attempts, sent), False

    def _refused(self, recipient: str, exc: OSError, attempts: int, *, broken: bool) -> tuple[Outcome, bool]:
        error = describe(exc, self.smtp, self.password)
        self._record(recipient, status=SendStatus.FAILED, error=error)
        return Outcome(recipient, Delivery.FAILED, error, attempts), broken

    def _failed(self, recipient: str, error: str, *, attempted: bool) -> Outcome:
        attempts = self._record(
            recipient, status=SendStatus.FAILED, started_at=self.now(), error=error, attempt=attempted
        )
        return Outcome(recipient, Delivery.FAILED, error, attempts)

    def _record(self, recipient: str, *, attempt: bool = False, **fields: Any) -> int:
        """Update (or create) the row of (week, recipient); return its attempts."""
        with self.store.write() as session:
            row = session.scalars(
                select(DigestSend).where(DigestSend.week == self.week, DigestSend.recipient == recipient)
            ).first()
            if row is None:
                row = DigestSend(week=self.week, recipient=recipient, status=SendStatus.FAILED, attempts=0,
                                 started_at=self.now())  # fmt: skip
                session.add(row)
            for key, value in fields.items():
                setattr(row, key, value[:ERROR_LIMIT] if key == "error" and value else value)
            if attempt:
                row.attempts = (row.attempts or 0) + 1
            return row.attempts


# -- SMTP -------------------------------------------------------------------------------------


def connect(smtp: SmtpConfig, password: str | None, context: ssl.SSLContext | None = None) -> smtplib.SMTP:
    """An open, secured and authenticated SMTP session as [smtp] says; never falls back to plain text."""
    timeout = smtp.timeout.total_seconds()
    context = context or ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    try:
        client.ehlo()
        if smtp.security == "starttls":
            if not client.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer STARTTLS (security = starttls)"
                )
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, password or "")
    except BaseException:
        client.close()
        raise
    return client


def transact(client: smtplib.SMTP, sender: str, recipient: str, message: EmailMessage) -> None:
    """One SMTP transaction for one recipient. MAIL and RCPT failures are certain failures;
    a broken connection during DATA raises InDoubt (the server may have accepted it)."""
    payload = message.as_bytes(policy=SMTP_POLICY)
    code, reply = client.mail(sender)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.rcpt(recipient)
    if code not in (250, 251):
        _reset(client)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    try:
        client.data(payload)
    except smtplib.SMTPDataError:
        raise
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise InDoubt(type(exc).__name__) from exc


def _reset(client: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.rset()


def describe(exc: BaseException, smtp: SmtpConfig, password: str | None) -> str:
    """One line for people, naming the server; the password (in any encoding) never appears."""
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"authentication refused by {where}: {_reply(exc.smtp_code, exc.smtp_error, password)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{r}: {_reply(c, m, password)}" for r, (c, m) in exc.recipients.items())
        text = f"recipient refused by {where}: {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        text = f"sender {exc.sender} refused by {where}: {_reply(exc.smtp_code, exc.smtp_error, password)}"
    elif isinstance(exc, smtplib.SMTPDataError):
        text = f"message refused by {where}: {_reply(exc.smtp_code, exc.smtp_error, password)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{where} answered {_reply(exc.smtp_code, exc.smtp_error, password)}"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS with {where} failed: {exc.reason or exc}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        text = f"{where}: {exc}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = f"{where} closed the connection: {exc}"
    elif isinstance(exc, smtplib.SMTPException):
        text = f"{where}: {exc}"
    elif isinstance(exc, OSError):
        text = f"cannot reach {where}: {exc.strerror or exc}"
    else:
        text = f"{where}: {type(exc).__name__}: {exc}"
    return scrub(text, password)


def _reply(code: int, message: bytes | str, password: str | None = None) -> str:
    """The server's reply on one line; the password is scrubbed before whitespace is joined
    (a base64 form split over reply lines would otherwise be glued into a new one)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(scrub(text, password).split())}"


def scrub(text: str, password: str | None) -> str:
    """Remove the password, and its base64 forms as AUTH PLAIN and LOGIN send them (at any
    alignment, whole or cut short), from a message (tracker/digest/scrub.py)."""
    from tracker.digest.scrub import scrub as scrub_all

    return scrub_all(text, password)


# -- status -----------------------------------------------------------------------------------


def delivery_status(store: Store, *, now: datetime | None = None, weeks: int = 8) -> list[dict[str, Any]]:
    """Per (week, recipient) of the last `weeks` weeks with sends: sent, failed, sending or in_doubt.

    `in_doubt` is an in_progress row that no live lease is sending (a crashed or killed
    send), or one older than a few minutes: the person may or may not have it.
    """
    now = now or utcnow()
    with store.read() as session:
        labels = list(
            session.scalars(select(DigestSend.week).distinct().order_by(DigestSend.week.desc()).limit(weeks))
        )
        rows = session.scalars(
            select(DigestSend)
            .where(DigestSend.week.in_(labels))
            .order_by(DigestSend.week.desc(), DigestSend.recipient)
        ).all()
    live = {label: holder_of(store, lease_name(label), now=now) is not None for label in labels}
    found = []
    for row in rows:
        status = row.status
        if status == SendStatus.IN_PROGRESS:
            fresh = row.started_at >= now - STALE
            status = "sending" if live[row.week] and fresh else "in_doubt"
        found.append(
            {
                "week": row.week,
                "recipient": row.recipient,
                "status": status,
                "attempts": row.attempts,
                "started_at": iso_z(row.started_at),
                "sent_at": iso_z(row.sent_at) if row.sent_at else None,
                "error": row.error,
                "message_id": row.message_id,
            }
        )
    return found


def pending(store: Store, week: str, recipients: Sequence[str]) -> list[str]:
    """Recipients with no digest of `week` yet and none in doubt: the job's work."""
    rows = _rows(store, week)
    return [r for r in dict.fromkeys(recipients) if r not in rows or rows[r].status == SendStatus.FAILED]


def in_doubt(store: Store, week: str) -> list[str]:
    return [r.recipient for r in _rows(store, week).values() if r.status == SendStatus.IN_PROGRESS]

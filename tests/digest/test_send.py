"""Sending over real SMTP on loopback (aiosmtpd): once per (week, recipient), --force, failures
recorded and retried by the job, in-doubt sends never resent by themselves, STARTTLS + AUTH."""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.digest.conftest import PASSWORD, PASSWORD_ENV, Env, Inbox, Server, free_port, mail_config
from tests.digest.world import VIENNA, WEEK
from tracker.digest.job import digest_job, first_hourly_run, next_digest_time
from tracker.digest.send import delivery_status, lease_name, send_week
from tracker.leases import acquire
from tracker.store.db import open_store
from tracker.store.models import DigestSend

MONDAY_MORNING = datetime(2026, 10, 5, 8, 30, tzinfo=VIENNA)  # [digest] is due (mon 08:00)


def rows(env: Env) -> dict[str, DigestSend]:
    store = open_store(env.db_url)
    try:
        with store.read() as session:
            return {
                r.recipient: r for r in session.scalars(select(DigestSend).where(DigestSend.week == WEEK))
            }
    finally:
        store.close()


def send(cli: Any, config: Path, *extra: str) -> Any:
    return cli("--config", config, "digest", "--week", WEEK, "--send", *extra)


def job(env: Env, extra: str, now: datetime = MONDAY_MORNING) -> None:
    settings = env.settings(extra)
    store = open_store(settings.database_url)
    try:
        digest_job(settings, store, now)
    finally:
        store.close()


def test_sent_once_per_week_and_recipient_and_force_sends_again(env: Env, cli: Any, start_smtp: Any) -> None:
    server: Server = start_smtp()
    config = env.configure(mail_config(server.port, to=("ana@acme.example", "ben@acme.example")))
    first = send(cli, config)
    assert first.code == 0, first.err
    assert "sent the 2026-W40 digest to ana@acme.example" in first.out
    assert [len(server.inbox.to(r)) for r in ("ana@acme.example", "ben@acme.example")] == [1, 1]
    message = server.inbox.to("ana@acme.example")[0]
    assert message["To"] == "ana@acme.example", "each recipient gets their own message"
    assert message["From"] == "Test Org tracker <tracker@acme.example>"
    assert message["Subject"].startswith("Test Org weekly digest, 2026-W40 (28 Sep")
    recorded = rows(env)
    assert {r: (x.status, x.attempts) for r, x in recorded.items()} == {
        "ana@acme.example": ("sent", 1),
        "ben@acme.example": ("sent", 1),
    }
    assert recorded["ana@acme.example"].message_id == message["Message-ID"]

    again = send(cli, config)
    assert again.code == 0, again.err
    assert "ana@acme.example already has the 2026-W40 digest" in again.out
    assert len(server.inbox.messages) == 2, "a second --send does nothing"

    forced = send(cli, config, "--force")
    assert forced.code == 0, forced.err
    assert len(server.inbox.messages) == 4 and len(server.inbox.to("ben@acme.example")) == 2
    assert {x.attempts for x in rows(env).values()} == {2}
    assert cli("--config", config, "digest", "--week", WEEK, "--force").code == 2, "--force needs --send"


def test_server_down_is_reported_recorded_and_retried_by_the_job(
    env: Env, cli: Any, start_smtp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens here yet
    extra = mail_config(port, to=("ana@acme.example", "ben@acme.example"))
    config = env.configure(extra)
    down = send(cli, config)
    assert down.code == 1
    assert (
        f"could not send the 2026-W40 digest to ana@acme.example: cannot reach 127.0.0.1:{port}" in down.err
    )
    assert "retries hourly" in down.err
    assert {r: (x.status, x.attempts) for r, x in rows(env).items()} == {
        "ana@acme.example": ("failed", 1),
        "ben@acme.example": ("failed", 1),
    }
    assert all(s["status"] == "failed" for s in json_status(env))

    job(
        env, extra, now=datetime(2026, 10, 5, 7, 30, tzinfo=VIENNA)
    )  # before Monday 08:00: W39 is due, not W40
    assert rows(env)["ana@acme.example"].attempts == 1

    server: Server = start_smtp(port=port)
    with caplog.at_level(logging.INFO, logger="tracker.digest"):
        job(env, extra)
    assert [len(server.inbox.to(r)) for r in ("ana@acme.example", "ben@acme.example")] == [1, 1]
    assert {x.status for x in rows(env).values()} == {"sent"}
    assert "digest 2026-W40 sent to ana@acme.example" in caplog.text
    job(env, extra, now=MONDAY_MORNING + timedelta(hours=1))
    job(env, extra, now=MONDAY_MORNING + timedelta(days=6))
    assert len(server.inbox.messages) == 2, "the job never sends to someone who has the week's digest"


def json_status(env: Env) -> list[dict[str, Any]]:
    store = open_store(env.db_url)
    try:
        return [s for s in delivery_status(store) if s["week"] == WEEK]
    finally:
        store.close()


def test_a_refused_recipient_fails_alone_and_is_retried_without_resending_the_others(
    env: Env, cli: Any, start_smtp: Any
) -> None:
    server: Server = start_smtp(inbox=Inbox(refuse={"gone@acme.example"}))
    extra = mail_config(server.port, to=("ana@acme.example", "gone@acme.example", "ben@acme.example"))
    result = send(cli, env.configure(extra))
    assert result.code == 1
    assert "gone@acme.example: recipient refused by 127.0.0.1" in result.err and "550 5.1.1" in result.err
    assert "sent the 2026-W40 digest to ben@acme.example" in result.out, "the session goes on after a refusal"
    assert {r: x.status for r, x in rows(env).items()} == {
        "ana@acme.example": "sent",
        "gone@acme.example": "failed",
        "ben@acme.example": "sent",
    }
    job(env, extra)
    assert rows(env)["gone@acme.example"].attempts == 2
    server.inbox.refuse.clear()
    job(env, extra, now=MONDAY_MORNING + timedelta(hours=1))
    assert [
        len(server.inbox.to(r)) for r in ("ana@acme.example", "gone@acme.example", "ben@acme.example")
    ] == [1, 1, 1]


def test_an_interrupted_send_is_in_doubt_and_only_force_resends_it(
    env: Env, cli: Any, start_smtp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server: Server = start_smtp(inbox=Inbox(drop_after_data=True))
    extra = mail_config(server.port, to=("ana@acme.example", "ben@acme.example"))
    config = env.configure(extra)
    result = send(cli, config)
    assert result.code == 1
    assert "ana@acme.example: interrupted while the message was being transferred" in result.err
    recorded = rows(env)
    assert recorded["ana@acme.example"].status == "in_progress", "the server may have it: in doubt"
    assert recorded["ben@acme.example"].status == "failed", "not tried on the broken session: retried later"
    assert {s["recipient"]: s["status"] for s in json_status(env)} == {
        "ana@acme.example": "in_doubt",
        "ben@acme.example": "failed",
    }
    server.inbox.drop_after_data = False
    with caplog.at_level(logging.WARNING, logger="tracker.digest"):
        job(env, extra)
    assert "digest 2026-W40 to ana@acme.example is in doubt" in caplog.text
    assert len(server.inbox.to("ana@acme.example")) == 1 and len(server.inbox.to("ben@acme.example")) == 1
    again = send(cli, config)
    assert again.code == 1 and "ana@acme.example: the 2026-W40 digest is in doubt" in again.err
    assert len(server.inbox.to("ana@acme.example")) == 1
    forced = send(cli, config, "--force")
    assert forced.code == 0, forced.err
    assert len(server.inbox.to("ana@acme.example")) == 2
    assert rows(env)["ana@acme.example"].status == "sent"


def test_a_crashed_send_shows_in_doubt_and_a_live_one_sending(env: Env) -> None:
    store = open_store(env.db_url)
    now = datetime.now(UTC)
    try:
        with store.write() as session:
            session.add(DigestSend(week=WEEK, recipient="crashed@acme.example", status="in_progress",
                                   attempts=1, started_at=now - timedelta(minutes=1)))  # fmt: skip
            session.add(DigestSend(week="2026-W39", recipient="ana@acme.example", status="sent", attempts=1,
                                   started_at=now - timedelta(days=7), sent_at=now - timedelta(days=7)))  # fmt: skip
        assert [(s["week"], s["status"]) for s in delivery_status(store)] == [
            (WEEK, "in_doubt"),
            ("2026-W39", "sent"),
        ], "no live lease holds the in_progress send: the process died"
        assert acquire(store, lease_name(WEEK), timedelta(minutes=5), holder="other-host:1")
        assert delivery_status(store)[0]["status"] == "sending"
        later = delivery_status(store, now=now + timedelta(minutes=20))
        assert later[0]["status"] == "in_doubt", "held too long: in doubt even under a lease"
    finally:
        store.close()


def test_another_worker_sending_means_nothing_is_sent(env: Env, cli: Any, start_smtp: Any) -> None:
    server: Server = start_smtp()
    config = env.configure(mail_config(server.port))
    store = open_store(env.db_url)
    try:
        assert acquire(store, lease_name(WEEK), timedelta(minutes=5), holder="other-host:42")
    finally:
        store.close()
    result = send(cli, config)
    assert result.code == 1 and "another worker (other-host:42) is sending the 2026-W40 digest" in result.err
    assert server.inbox.messages == [] and rows(env) == {}


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_starttls_with_login(
    env: Env, cli: Any, start_smtp: Any, server_tls: ssl.SSLContext, certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server: Server = start_smtp(
        tls_context=server_tls, require_starttls=True, auth=True, auth_require_tls=True
    )
    config = env.configure(mail_config(server.port, security="starttls", username="tracker"))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)

    untrusted = send(cli, config)
    assert (
        untrusted.code == 1
        and "TLS with 127.0.0.1" in untrusted.err
        and "CERTIFICATE_VERIFY_FAILED" in untrusted.err
    )
    assert server.logins == [], "no password is sent to a server that is not trusted"

    monkeypatch.setenv(
        "SSL_CERT_FILE", str(certificate[0])
    )  # trust the test's certificate, as an operator would
    sent = send(cli, config)
    assert sent.code == 0, sent.err
    assert server.logins == [(b"tracker", PASSWORD.encode())]
    assert len(server.inbox.to("team@acme.example")) == 1

    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    refused = send(cli, config, "--force")
    assert refused.code == 1 and "authentication refused by 127.0.0.1" in refused.err and "535" in refused.err
    for text in (untrusted.out, untrusted.err, sent.out, sent.err, refused.out, refused.err):
        assert PASSWORD not in text
    assert all(PASSWORD not in (r.error or "") for r in rows(env).values())
    assert "authentication refused" in (rows(env)["team@acme.example"].error or "")


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_starttls_refused_by_the_server_never_falls_back_to_plain_text(
    env: Env, cli: Any, start_smtp: Any
) -> None:
    server: Server = start_smtp()  # offers no STARTTLS
    result = send(cli, env.configure(mail_config(server.port, security="starttls")))
    assert result.code == 1 and "does not offer STARTTLS" in result.err
    assert server.inbox.messages == []


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_implicit_tls(
    env: Env, start_smtp: Any, server_tls: ssl.SSLContext, certificate: tuple[Path, Path]
) -> None:
    server: Server = start_smtp(ssl_context=server_tls)
    settings = env.settings(mail_config(server.port, security="ssl"))
    client = ssl.create_default_context(cafile=str(certificate[0]))
    store = open_store(settings.database_url)
    try:
        from tracker.digest.service import builder
        from tracker.digest.weeks import parse_week

        report = send_week(settings, store, WEEK, builder(settings, store, parse_week(WEEK), MONDAY_MORNING),
                           ssl_context=client)  # fmt: skip
    finally:
        store.close()
    assert report.ok and len(server.inbox.messages) == 1


def test_send_needs_digest_and_smtp_and_the_password(
    env: Env, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = send(cli, env.configure())
    assert plain.code == 2 and "--send needs [digest] and [smtp]" in plain.err
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = env.configure(mail_config(free_port(), security="starttls", username="tracker"))
    out = env.dir / "d.eml"
    missing = cli("--config", config, "digest", "--week", WEEK, "--send", "--out", out)
    assert missing.code == 2 and f"environment variable {PASSWORD_ENV} is not set" in missing.err
    assert not out.exists(), "nothing is written when the command cannot work"


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_the_job_waits_for_its_time_and_says_when_it_is_next(env: Env, start_smtp: Any) -> None:
    server: Server = start_smtp()
    extra = mail_config(server.port)
    settings = env.settings(extra)
    assert next_digest_time(settings, MONDAY_MORNING) == datetime(2026, 10, 12, 8, 0, tzinfo=VIENNA)
    assert next_digest_time(env.settings(), MONDAY_MORNING) is None, "no [digest]/[smtp]: no job"
    ten_17 = datetime(2026, 10, 5, 10, 17, tzinfo=VIENNA)
    assert first_hourly_run(settings, ten_17) == datetime(2026, 10, 5, 11, 0, tzinfo=VIENNA)
    half_past = env.settings(mail_config(server.port, at="08:30"))
    assert first_hourly_run(half_past, ten_17) == datetime(2026, 10, 5, 10, 30, tzinfo=VIENNA)
    assert first_hourly_run(half_past, datetime(2026, 10, 5, 10, 30, tzinfo=VIENNA)).minute == 30
    job(env, extra, now=datetime(2026, 10, 4, 23, 0, tzinfo=VIENNA))  # Sunday night: W39 is the due week
    assert server.inbox.messages and "2026-W39" in server.inbox.to("team@acme.example")[0]["Subject"]
    job(env, extra)
    subjects = [m["Subject"] for m in server.inbox.to("team@acme.example")]
    assert len(subjects) == 2 and "2026-W40" in subjects[1]


@pytest.mark.slow  # a long test (TLS handshakes, a simulation, a model fit): the slow tier
def test_once_per_week_and_recipient_on_each_database(
    tmp_path: Path, db_url: str, cli: Any, start_smtp: Any
) -> None:
    from tests.conftest import write_config

    server: Server = start_smtp()
    config = write_config(tmp_path, db_url=db_url, extra=mail_config(server.port, to=("ana@acme.example",)))
    for args in ((), (), ("--force",)):
        result = cli("--config", config, "digest", "--week", WEEK, "--send", *args)
        assert result.code == 0, result.err
    assert len(server.inbox.to("ana@acme.example")) == 2, "sent, not sent again, sent again by --force"
    store = open_store(db_url)
    try:
        (status,) = delivery_status(store)
        assert (status["week"], status["status"], status["attempts"]) == (WEEK, "sent", 2)
    finally:
        store.close()

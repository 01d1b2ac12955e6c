"""The digest as an email, and as a browser preview.

    multipart/alternative
      text/plain                   reads well on its own
      multipart/related
        text/html                  <img src="cid:...">
        image/png                  the chart, inline, with that Content-ID

Both text parts are quoted-printable, so the message is 7-bit clean and needs no
8BITMIME from the server. The preview is the same HTML with the chart as a data: URI.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, make_msgid
from functools import cached_property
from typing import TYPE_CHECKING

from tracker.digest.chart import Draw, chart_png
from tracker.digest.render import render_html, render_text, subject
from tracker.timeutil import utcnow

if TYPE_CHECKING:
    from tracker.digest.data import DigestRecord

FALLBACK_SENDER = "tracker@localhost"


@dataclass(frozen=True)
class Rendered:
    """A built digest, ready to be wrapped into messages (one per recipient) or a preview.

    The text, the HTML and the chart are made on first use, each once: `--json` and
    `.csv` need none of them, the browser preview not the `cid:` HTML, and only the
    email and the preview the chart (matplotlib's import and drawing are most of a
    digest's time)."""

    data: DigestRecord
    subject: str
    cid: str  # the Content-ID without angle brackets
    domain: str
    draw: Draw = field(default=chart_png, compare=False, repr=False)  # chart.drawn_aside's, in the CLI

    @cached_property
    def text(self) -> str:
        return render_text(self.data)

    @cached_property
    def html(self) -> str:
        """The HTML of the email: it refers to the chart as cid:<cid>."""
        return render_html(self.data, chart_src=f"cid:{self.cid}")

    @cached_property
    def chart(self) -> bytes:
        return self.draw(self.data)


def render(data: DigestRecord, *, sender: str | None = None, draw: Draw = chart_png) -> Rendered:
    """The digest ready to render: its text, HTML and chart are made when first read."""
    domain = (sender or FALLBACK_SENDER).rsplit("@", 1)[-1]
    # Short, so the Content-ID header is never folded (some clients match cid: to it literally).
    cid = f"chart.{data['week']['label']}.{secrets.token_hex(6)}@{domain}"
    return Rendered(data=data, subject=subject(data), cid=cid, domain=domain, draw=draw)


def build_message(
    rendered: Rendered, *, sender: str | None, to: Sequence[str], now: datetime | None = None
) -> EmailMessage:
    """The whole message; each call gets its own Message-ID."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    name = " ".join(f"{rendered.data['organisation']} tracker".split())
    msg["From"] = formataddr((name, sender or FALLBACK_SENDER))
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(now or utcnow())
    msg["Message-ID"] = make_msgid("digest", domain=rendered.domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a report
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    parts = msg.get_payload()
    assert isinstance(parts, list)
    html_part = parts[1]
    assert isinstance(html_part, MIMEPart)
    html_part.add_related(
        rendered.chart,
        maintype="image",
        subtype="png",
        cid=f"<{rendered.cid}>",
        disposition="inline",
        filename="chart.png",
    )
    return msg


def preview_html(rendered: Rendered) -> str:
    """The HTML with the chart embedded as a data: URI, for a browser."""
    uri = "data:image/png;base64," + base64.b64encode(rendered.chart).decode("ascii")
    return render_html(rendered.data, chart_src=uri)

"""The digest as files people forward: a PDF rendered from the same HTML, and the week's per-stream CSV.

The PDF is the browser preview's HTML printed by a headless Chromium (Playwright
driving the system's chromium, or Playwright's own). Both are optional: without
them `--out digest.pdf` says what to install; the CSV needs nothing.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import Any

from tracker.digest.data import METRICS, DigestRecord
from tracker.errors import UserError

CHROMIUM_ENV = "TRACKER_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CSV_COLUMNS = ("metric", "value", "previous", "change", "change_rel", "n", "previous_n")


def chromium_path() -> str | None:
    """$TRACKER_CHROMIUM, else the system's chromium, else None (Playwright's own browser, if installed)."""
    given = os.environ.get(CHROMIUM_ENV, "").strip()
    if given:
        if not Path(given).is_file():
            raise UserError(f"${CHROMIUM_ENV}: {given} is not a file: point it at a chromium executable")
        return given
    for candidate in (*CANDIDATES, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def pdf_bytes(html: str) -> bytes:
    """Print `html` (self-contained: images as data: URIs) to an A4 PDF with a headless Chromium."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise UserError(
            "a PDF needs Playwright and a chromium: pip install 'social-tracker[pdf]' "
            "(and apt-get install chromium), or write .html and print it from a browser"
        ) from None
    executable = chromium_path()
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=args)
            try:
                page = browser.new_page()
                # Nothing outside the document may load: the digest embeds its chart.
                page.route("**/*", lambda route: route.abort() if not route.request.url.startswith(
                    ("data:", "about:")) else route.continue_())  # fmt: skip
                page.set_content(html, wait_until="load")
                page.emulate_media(media="print")
                return bytes(
                    page.pdf(format="A4", print_background=True,
                             margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
                )  # fmt: skip
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "it did not start"
        raise UserError(
            f"cannot print the PDF with chromium ({executable or 'Playwright'}): {first}; "
            f"set ${CHROMIUM_ENV} to a working chromium, or write .html instead"
        ) from None


def csv_text(data: DigestRecord) -> str:
    """The week's per-stream table: one row per stream and metric, this week beside the last."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["week", "stream", "role", *CSV_COLUMNS, "uncovered_days"])
    week = data["week"]["label"]
    for stream in data["streams"]:
        for metric in METRICS:
            entry = stream[metric]
            writer.writerow([
                week, stream["name"], stream["role"], metric,
                *(_cell(entry.get(k)) for k in CSV_COLUMNS[1:]),
                ";".join(stream["uncovered_days"]),
            ])  # fmt: skip
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)

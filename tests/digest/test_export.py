"""`tracker digest --out digest.pdf` (the preview's HTML printed by chromium) and `--out week.csv`."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.digest.conftest import Env
from tests.digest.world import WEEK

CHROMIUM = Path("/usr/bin/chromium")


def ink_share(png: Path) -> tuple[float, int]:
    """(share of pixels that are not near-white, distinct grey levels) of an image."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        pixels = list(grey.tobytes())
    inked = sum(1 for p in pixels if p < 200)
    return inked / len(pixels), len(set(pixels))


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (apt package poppler-utils)")
def test_the_pdf_first_page_is_not_blank(env: Env, cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    out = tmp_path / "digest.pdf"
    result = cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK, "--out", out)
    assert result.code == 0, result.err
    content = out.read_bytes()
    assert content.startswith(b"%PDF-") and b"%%EOF" in content[-1024:]
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    (page,) = tmp_path.glob("page*.png")
    share, levels = ink_share(page)
    assert share > 0.02 and levels > 16, (share, levels)
    text = subprocess.run(["pdftotext", "-l", "1", str(out), "-"], capture_output=True, text=True, timeout=60)
    if text.returncode == 0:
        assert WEEK in text.stdout, "the week's label is printed, as in the HTML"


def test_the_week_csv_is_the_per_stream_table(env: Env, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "week.csv"
    config = env.dir / "tracker.toml"
    assert cli("--config", config, "digest", "--week", WEEK, "--out", out).code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    data = json.loads(cli("--config", config, "digest", "--week", WEEK, "--json").out)
    assert {r["stream"] for r in rows} == {s["name"] for s in data["streams"]}
    assert len(rows) == 4 * len(data["streams"])
    for stream in data["streams"]:
        mentions = next(r for r in rows if r["stream"] == stream["name"] and r["metric"] == "mentions")
        assert float(mentions["value"] or 0) == (stream["mentions"]["value"] or 0)
        assert mentions["week"] == WEEK and mentions["role"] == stream["role"]


def test_a_pdf_without_a_browser_says_what_to_install(env: Env, cli: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("TRACKER_CHROMIUM", str(tmp_path / "no-chromium"))
    result = cli("--config", env.dir / "tracker.toml", "digest", "--week", WEEK, "--out", tmp_path / "d.pdf")
    assert result.code == 2 and "TRACKER_CHROMIUM" in result.err and "chromium" in result.err
    assert not (tmp_path / "d.pdf").exists()

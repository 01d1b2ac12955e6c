"""Start-up: `tracker --help` against a bare Python start, and which heavy modules it loads.

    python bench/startup_bench.py [--runs 15]

Target: `tracker --help` <= 0.5 s; matplotlib, the web stack, numpy/scipy and the
sentiment scorer are imported only by the commands that use them.

Config load: the CPU time a fresh process spends importing tracker.config and loading a
config with one stream of each built-in connector, against the same process reading the
same file with tomllib alone; and whether loading it imported httpx (each connector's keys
are read from its light settings module, not from the connector).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("matplotlib", "fastapi", "uvicorn", "starlette", "numpy", "scipy", "vaderSentiment", "py3langid",
         "jinja2", "alembic", "feedparser", "apscheduler", "sqlalchemy")  # fmt: skip


def timed(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


CONFIG = """
[organisation]
name = "Acme"
[[streams]]
name = "m"
connector = "mastodon"
hashtag = "acme"
every = "15m"
[[streams]]
name = "b"
connector = "bluesky"
query = "acme"
every = "15m"
[[streams]]
name = "h"
connector = "hackernews"
query = "acme"
every = "15m"
[[streams]]
name = "r"
connector = "reddit"
query = "acme"
user_agent = "bench/1.0"
every = "15m"
[[streams]]
name = "f"
connector = "rss"
url = "https://feeds.example/acme.xml"
every = "15m"
"""
CPU_PROBE = """
import sys, time
started = time.process_time()
{body}
print(time.process_time() - started, "httpx" in sys.modules)
"""


def cpu(body: str, runs: int) -> tuple[float, bool]:
    """Median CPU seconds of `body` in a fresh process, and whether it imported httpx."""
    times, loaded = [], False
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CPU_PROBE.format(body=body)],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        times.append(float(out[0]))
        loaded = loaded or out[1] == "True"
    return statistics.median(times), loaded


def config_load(runs: int) -> tuple[float, float, bool]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tracker.toml"
        path.write_text(CONFIG, encoding="utf-8")
        read, _ = cpu(f"import tomllib\ntomllib.loads(open({str(path)!r}).read())", runs)
        loaded, httpx = cpu(f"from tracker.config import load_settings\nload_settings({str(path)!r})", runs)
    return loaded, read, httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bare = timed([sys.executable, "-c", "pass"], args.runs)
    helped = timed([sys.executable, "-m", "tracker", "--help"], args.runs)
    probe = (
        "import sys\nsys.argv = ['tracker', '--help']\nfrom tracker.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"sys.stderr.write('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    err = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stderr
    heavy = err.rsplit("LOADED=", 1)[-1].strip() if "LOADED=" in err else "?"
    ratio = helped / bare
    print(f"{'benchmark':<34} {'figure':>10} {'reference':>12} {'ratio':>8}")
    print(
        f"{'tracker --help (median)':<34} {helped:>8.3f} s {bare:>10.3f} s {ratio:>7.1f}x   target <= 0.5 s"
    )
    print(f"{'heavy modules loaded by --help':<34} {heavy or 'none':>10}")
    loaded, read, httpx = config_load(args.runs)
    print(f"{'config load, 5 streams (CPU)':<34} {loaded:>8.3f} s {read:>10.3f} s {loaded / read:>7.1f}x"
          f"   reference: tomllib alone; httpx imported: {'yes' if httpx else 'no'}")  # fmt: skip


if __name__ == "__main__":
    main()

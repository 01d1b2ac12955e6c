"""Start-up: `tracker --help` against a bare Python start, and which heavy modules it loads.

    python bench/startup_bench.py [--runs 15]

Target: `tracker --help` <= 0.5 s; matplotlib, the web stack, numpy/scipy and the
sentiment scorer are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("matplotlib", "fastapi", "uvicorn", "starlette", "numpy", "scipy", "vaderSentiment", "py3langid",
         "jinja2", "alembic", "feedparser", "apscheduler", "sqlalchemy")  # fmt: skip


def timed(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


if __name__ == "__main__":
    main()

"""`python -m tracker.sandbox --seed N --weeks W --port P`: serve the sandbox in the foreground."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from tracker.config import SANDBOX_DEFAULTS as DEFAULTS
from tracker.sandbox.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracker.sandbox", description=__doc__)
    parser.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help="the world's seed (default %(default)s)"
    )
    parser.add_argument(
        "--weeks", type=int, default=DEFAULTS.weeks, help="weeks of history (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULTS.port,
        help="port on 127.0.0.1 (default %(default)s; 0: any free one)",
    )
    parser.add_argument("--end", help="the world's end, ISO 8601 (default: today's local midnight)")
    parser.add_argument("--brand", default=DEFAULTS.brand)
    parser.add_argument("--competitor", default=DEFAULTS.competitor)
    parser.add_argument("--timezone", default="Europe/Vienna")
    parser.add_argument(
        "--anonymous-bluesky-search",
        action="store_true",
        help="let anonymous callers use searchPosts (the real AppView answers 403)",
    )
    parser.add_argument(
        "--block-anonymous-reddit",
        action="store_true",
        help="answer anonymous Reddit listings with 403, as Reddit does to many servers",
    )
    parser.add_argument(
        "--deleted-share", type=float, default=0.0, help="share of posts their authors delete (0..1)"
    )
    args = parser.parse_args(argv)
    end = datetime.fromisoformat(args.end) if args.end else None
    serve(
        args.seed,
        args.weeks,
        args.port,
        end=end,
        require_bluesky_login=not args.anonymous_bluesky_search,
        block_anonymous_reddit=args.block_anonymous_reddit,
        brand=args.brand,
        competitor=args.competitor,
        timezone=args.timezone,
        deleted_share=args.deleted_share,
        out=lambda line: print(line, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

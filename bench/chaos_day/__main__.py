"""``python -m bench.chaos_day [--short] [--seed N] [--tickets N] [--keep] [--no-boundary]``: run a chaos
day."""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from bench.chaos_day.day import full_plan, run_day, short_plan


def main(argv: list[str] | None = None) -> int:
    """Run the day; exit 1 when a check found a violation."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos_day", description=__doc__)
    p.add_argument("--short", action="store_true", help="the short day of `make test` (600 tickets)")
    p.add_argument("--seed", type=int, default=None, help="seed of the fault schedule and the traffic")
    p.add_argument("--tickets", type=int, default=None, help="override the number of tickets")
    p.add_argument("--keep", action="store_true", help="keep the site folder (logs, databases)")
    p.add_argument(
        "--no-boundary", action="store_true", help="stay in one business day (no daily reset in the day)"
    )
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    plan = short_plan(seed) if args.short else full_plan(seed)
    if args.tickets:
        plan.tickets = args.tickets
    if args.no_boundary:
        plan.boundary = False
    summary = run_day(plan, keep=args.keep)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["violations_total"] else 0


if __name__ == "__main__":
    sys.exit(main())

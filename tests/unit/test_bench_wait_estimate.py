"""The wait_estimate bench runs the real engine and scores what citizens were told (a short run)."""

from __future__ import annotations

from bench import BENCHMARKS, wait_estimate
from bench.__main__ import build_parser, run_one


def test_two_simulated_days_score_both_estimators() -> None:
    assert "wait_estimate" in BENCHMARKS
    r = wait_estimate.run(days=2, seed=7)
    assert r["name"] == "wait_estimate" and r["days"] == 2 and r["tickets_issued"] > 300
    plain, ranges = r["plain"], r["ranges"]
    assert plain["tickets_called"] == ranges["tickets_called"] > 300  # the same days for both
    # A learned range covers far more real waits than one number did.
    assert ranges["within_told_share"] > plain["within_told_share"] + 0.2
    assert set(r["target"]) == {"median_abs_error_min", "within_told_share"}


def test_the_cli_passes_its_options() -> None:
    args = build_parser().parse_args(["wait_estimate", "--wait-days", "1", "--wait-seed", "3"])
    r = run_one("wait_estimate", args)
    assert (r["days"], r["seed"], r["load"]) == (1, 3, 1.0)

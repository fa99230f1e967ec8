"""The bookings bench runs the real engine through simulated days with and without booked citizens."""

from __future__ import annotations

from bench import BENCHMARKS, bookings
from bench.__main__ import build_parser, run_one


def test_two_days_with_and_without_bookings() -> None:
    assert "bookings" in BENCHMARKS
    r = bookings.run(days=2, seed=7)
    assert r["name"] == "bookings" and r["citizens"] > 300
    booked, walk_ins = r["with_bookings"]["booked"], r["with_bookings"]["walk_ins"]
    # The same citizens both times: in the run with bookings about 30 % of them booked.
    assert r["without_bookings"]["walk_ins"]["citizens"] >= booked["citizens"] + walk_ins["citizens"] - 5
    assert 0.2 < booked["citizens"] / r["citizens"] < 0.4
    assert set(booked["arrivals"]) <= {"on_time", "early", "late"} and booked["arrivals"]["on_time"] > 0
    # Booked citizens are called at their slot far more often than not.
    assert booked["called_within_10_min_share"] > 0.8
    assert r["same_walk_ins_without_bookings"]["citizens"] == walk_ins["citizens"]
    assert set(r["max_in_row"]) == {"1", "4"}


def test_the_cli_passes_its_options() -> None:
    args = build_parser().parse_args(["bookings", "--bookings-days", "1", "--booked-share", "0.5"])
    r = run_one("bookings", args)
    assert (r["days"], r["booked_share"]) == (1, 0.5)

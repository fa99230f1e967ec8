"""The scale and history benchmarks run end to end with tiny sizes and print well-formed JSON (shape
only, no timing asserted)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bench import BENCHMARKS, history, scale
from bench import __main__ as bench_main

pytestmark = pytest.mark.integration

PROCESSES = ("broker", "controller", "hub", "counter_agent", "load_generator_1", "probe")


def test_both_are_registered() -> None:
    assert {"scale", "history"} <= set(BENCHMARKS)
    args = bench_main.build_parser().parse_args(["scale", "history", "--scale-counters", "8"])
    assert args.scale_counters == 8 and args.history_tickets == 1_000_000


def test_scale_smoke() -> None:
    r = scale.run(counters=8, kiosks=2, services=2, duration=1.5, warmup=0.3, processes=1, probes=2)
    json.dumps(r)
    assert r["name"] == "scale" and r["unit"] == "commands/s"
    assert r["n"] > 0 and r["durable_per_s"] > 0
    assert set(r["by_op"]) <= {"issue", "call_next", "finish"}
    assert r["totals"]["unanswered_at_end"] == 0
    calls = r["call_latency"]
    assert calls["probe_counters"] == 2 and calls["calls"] > 0
    for key in ("reply", "counter_state"):
        assert calls[key]["count"] > 0 and calls[key]["p99_ms"] >= calls[key]["p50_ms"] > 0
    assert calls["board_missed"] >= 0 and calls["null_calls"] == 0
    assert set(PROCESSES) <= set(r["memory"])
    for name in PROCESSES:
        m = r["memory"][name]
        assert m["samples"] > 0 and m["rss_max_mb"] >= m["rss_end_mb"] > 0, name
    assert set(r["budgets"]) == {"controller", "counter_agent", "hub"}
    for b in r["budgets"].values():
        assert b["limit_mb"] > 0 and b["peak_mb"] > 0 and isinstance(b["pass"], bool)
    assert r["pass"] == all(b["pass"] for b in r["budgets"].values())
    assert r["counter_agent"]["key_presses"] > 0 and r["counter_agent"]["tickets_called"] >= 1
    assert r["hub"]["caught_up_s"] is not None and r["hub"]["final_seq"] > 0
    assert r["site"]["counters"] == 8 and r["site"]["probe_counters"] == 2
    assert r["machine"]["nproc"]
    paced = r["paced"]
    assert paced["offered_per_s"] == pytest.approx(r["durable_per_s"] * 0.5, abs=1.0)
    assert paced["n"] > 0 and paced["call_latency"]["calls"] > 0 and paced["latency_under_load"]["count"] > 0
    assert set(paced["budgets"]) == set(r["budgets"]) and set(PROCESSES) <= set(paced["memory"])


def test_history_smoke(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    r = history.run(tickets=600, days=3, repeats=1, db=str(db))
    json.dumps(r)
    assert r["name"] == "history"
    assert r["build"]["tickets"] == 600 and r["rows"]["tickets"] == 600
    assert 0 < r["rows"]["ratings"] < 600 and r["rows"]["events"] > 3 * 600 * 0.9
    assert r["size"]["db_mb"] > 0
    first, last = date.fromisoformat(r["build"]["first_day"]), date.fromisoformat(r["build"]["last_day"])
    assert (last - first).days == 2
    assert [name for name, _path in history.queries(first, last)] == list(r["queries"])
    for q in r["queries"].values():
        assert q["ms"] > 0 and q["runs"] == 1 and q["bytes"] > 0
    assert set(r["explain"]) >= {"tickets list (no filter)", "report ratings (30 days)"}
    # the reports read only their covering indexes
    assert any("COVERING INDEX tickets_report" in step for step in r["explain"]["report tickets (30 days)"])
    assert any("COVERING INDEX ratings_report" in step for step in r["explain"]["report ratings (30 days)"])
    assert r["report_vs_scan"]["ratio"] > 0
    assert r["indexes"] is not None and set(r["indexes"]["queries"]) <= set(r["queries"])
    assert isinstance(r["pass"], bool) and isinstance(r["slow_over_1s"], list)
    assert r["report_memory"]["peak_mb"] > 0
    again = history.run(tickets=600, days=3, repeats=1, db=str(db), indexes=False)  # reuses the file
    assert again["build"]["method"] == "reused" and again["rows"] == r["rows"] and again["indexes"] is None

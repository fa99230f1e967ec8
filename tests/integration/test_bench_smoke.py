"""The benchmarks run end to end with tiny sizes and print well-formed results (no timing asserted)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import __main__ as bench_main
from bench import call_latency, throughput
from bench.common import percentile, summary_ms

pytestmark = pytest.mark.integration

FIGURES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")
MACHINE = ("nproc", "python", "mosquitto")


def _assert_figures(block: dict[str, Any], count: int) -> None:
    assert block["count"] == count
    for key in FIGURES:
        assert block[key] > 0, key
    assert block["p50_ms"] <= block["p90_ms"] <= block["p99_ms"] <= block["max_ms"]


def test_summary_figures() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0], 50) == 1.5
    s = summary_ms([3.0, 1.0, 2.0])
    assert (s["count"], s["p50_ms"], s["max_ms"], s["mean_ms"]) == (3, 2.0, 3.0, 2.0)


def test_call_latency_smoke() -> None:
    r = call_latency.run(n=50, warmup=5)
    json.dumps(r)  # JSON all the way down
    assert r["name"] == "call_latency" and r["n"] == 50
    _assert_figures({"count": 50, **{k: r[k] for k in FIGURES}}, 50)
    _assert_figures(r["reply"], 50)
    _assert_figures(r["floor"], 50)
    assert r["ratio_p50"] > 0 and r["ratio_p99"] > 0
    assert r["target"] == {"ratio_p50_max": 3.0}
    assert isinstance(r["pass"], bool)
    assert r["setup"]["floor_echo"].startswith("separate process")
    assert all(r["machine"][k] for k in MACHINE)


def test_throughput_smoke() -> None:
    r = throughput.run(counters=6, kiosks=2, services=2, duration=1.0, warmup=0.3, processes=1)
    json.dumps(r)
    assert r["name"] == "throughput"
    assert r["n"] > 0 and r["durable_per_s"] == pytest.approx(r["n"] / r["window_s"], rel=0.01)
    assert sum(r["by_code"].values()) == r["n"]
    assert sum(sum(codes.values()) for codes in r["by_op"].values()) == r["n"]
    assert set(r["by_op"]) <= {"issue", "call_next", "finish"}
    assert r["errors"] == {k: v for k, v in r["by_code"].items() if k != "ok"}
    assert r["totals"]["sent"] == r["totals"]["answered"] and r["totals"]["unanswered_at_end"] == 0
    _assert_figures(r["latency_under_load"], r["n"])
    assert r["load_generator"]["processes"] == 1 and r["load_generator"]["clients"] == 8
    assert r["target"] == {"durable_per_s_min": 1000.0}
    assert isinstance(r["pass"], bool)
    assert all(r["machine"][k] for k in MACHINE)


def test_cli_rejects_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.main(["no_such_bench"])
    assert exc.value.code == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_display_latency_smoke() -> None:
    from bench import display_latency

    r = display_latency.run(5)
    assert r["name"] == "display_latency" and r["n"] == 5
    for key in ("led_from_press", "wav_ready_from_press", "led_from_event", "wav_ready_from_event"):
        assert r[key]["count"] == 5, key
    assert r["led_from_press"]["min_ms"] > 0 and r["wav_ready_from_press"]["min_ms"] > 0


def test_kiosk_issue_smoke() -> None:
    from bench import kiosk_issue

    r = kiosk_issue.run(n=5, warmup=1)
    json.dumps(r)
    assert r["name"] == "kiosk_issue" and r["n"] == 5
    _assert_figures({"count": 5, **{k: r[k] for k in FIGURES}}, 5)
    for part in ("issue", "render", "print"):
        _assert_figures(r["breakdown"][part], 5)
    _assert_figures(r["render_only"], 5)
    _assert_figures(r["encode_only"], 5)
    _assert_figures(r["floor"], 5)
    assert all(r["machine"][k] for k in MACHINE)

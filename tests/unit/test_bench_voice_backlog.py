"""The voice_backlog bench drives the announcer's real call queue with the real clips (a short run)."""

from __future__ import annotations

import shutil

import pytest

from bench import BENCHMARKS, voice_backlog
from bench.__main__ import build_parser, run_one

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")


def test_joined_calls_keep_up_where_full_calls_fell_behind() -> None:
    assert "voice_backlog" in BENCHMARKS
    r = voice_backlog.run(seed=5, burst_runs=2)
    before, after = r["peak"]["before"], r["peak"]["after"]
    assert before["calls"] == after["calls"] > 300  # the same calls for both
    assert before["dropped_unheard"] > 0 and after["dropped_unheard"] == 0
    assert after["heard"] == after["calls"] and r["burst"]["after"]["heard"] == r["burst"]["after"]["calls"]
    assert after["delay_p95_s"] < before["delay_p95_s"] / 3
    assert r["peak"]["after_two_zones"]["delay_p95_s"] <= after["delay_p95_s"]
    # Nobody hears a call before its chime and sentence could start (the floor of the same run).
    assert after["delay_p50_s"] >= 0 and r["floor"]["speech_starts_after_s"] > 1


def test_the_cli_passes_its_options() -> None:
    args = build_parser().parse_args(["voice_backlog", "--voice-seed", "3", "--voice-bursts", "1"])
    r = run_one("voice_backlog", args)
    assert (r["seed"], r["burst"]["runs"]) == (3, 1)

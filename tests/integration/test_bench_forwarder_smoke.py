"""The forwarder benchmark runs end to end with a tiny backlog and prints a well-formed result."""

from __future__ import annotations

import json

import pytest

from bench import BENCHMARKS, forwarder

pytestmark = pytest.mark.integration

RATES = ("records", "batches", "total_s", "records_per_s", "batches_per_s")


def test_forwarder_bench_smoke() -> None:
    r = forwarder.run(n=450, batch_size=100)
    json.dumps(r)  # JSON all the way down
    assert "forwarder" in BENCHMARKS
    assert (r["name"], r["n"], r["batch_size"], r["unit"]) == ("forwarder", 450, 100, "records/s")
    for block in (r["forwarder"], r["floor"]):
        assert all(block[k] > 0 for k in RATES)
        assert (block["records"], block["batches"]) == (450, 5)
    assert r["floor"]["post"]["count"] == 5
    assert (r["forwarder"]["failed_attempts"], r["forwarder"]["duplicates"]) == (0, 0)
    assert r["delivered"] == {"records": 450, "by_status": {"200": 5}, "conflicts": 0}
    assert r["records_per_s"] == r["forwarder"]["records_per_s"] and r["ratio_time"] > 0
    assert set(r["target"]) == {"records_per_s_min"} and isinstance(r["pass"], bool)
    assert r["machine"]["python"]

"""The province's short chaos day in ``make test``: three bridged sites forwarding to two province
nodes while PostgreSQL crashes, a node is SIGKILLed, every site's link goes down and the onward
system is down for most of the day; then every record is checked at the province and onward, and
the live view must have recovered by itself.

Set ``ONESTOP_CHAOS_SEED`` to replay a seed (printed, and named in a failure). The longer day is
``python -m bench.chaos_day.province``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from bench.chaos_day.province import ProvincePlan, run_province_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_the_province_loses_nothing_and_recovers_by_itself(tmp_path: Path) -> None:
    seed = int(os.environ.get("ONESTOP_CHAOS_SEED") or secrets.randbelow(2**31))
    print(f"province chaos seed {seed}")
    result = run_province_day(ProvincePlan.short(seed), tmp_path, say=print)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    kinds = " ".join(result["faults"])
    for fault in ("onward down", "PostgreSQL crashed", "SIGKILLed", "link down"):
        assert fault in kinds, f"seed {seed}: the day never had '{fault}'"
    assert result["records"] > 0
    assert result["violations_total"] == 0, f"seed {seed}: {result['violations']}"

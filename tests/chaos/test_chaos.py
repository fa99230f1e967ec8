"""The short chaos day of ``make test``: 600 tickets while every kind of fault strikes at least once,
across a business-day boundary (the daily reset) with the controller SIGKILLed just before and after it;
then, just after the boundary, the controller's clock stepped back 2 minutes (held until it takes it)
and forward a day (undone before), the controller frozen by SIGSTOP longer than the devices wait
(they give up: none of those commands may take effect), and a kiosk account flooding it.

The boundary is a real one (``day_starts`` is set to a whole minute a few seconds to a minute ahead),
so the day lasts from about 15 s to about 80 s depending on where in the minute it starts.

Set ``ONESTOP_CHAOS_SEED`` to replay a seed (the seed is printed, and named in a failure). The full
day (20,000 tickets) is ``python -m bench chaos`` or ``python -m bench.chaos_day``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from bench.chaos_day.day import processes_mentioning, run_day, short_plan
from onestop.broker import find_mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The day waits up to a minute for its boundary, and stops itself after ``time_limit_s`` more.
DAY_TIMEOUT_S = 300

FAULT_KINDS = (
    "controller_sigkill",
    "broker_clean_restart",
    "broker_sigkill_restart",
    "hub_sigkill",
    "backend_down",
    "backend_timeout",
    "backend_sigkill",
    "device_drop",
    "clock_back_step",
    "clock_forward_step",
    "controller_sigstop",
    "flood",
)


@pytest.mark.timeout(DAY_TIMEOUT_S)
def test_a_short_chaos_day_loses_nothing(tmp_path: Path) -> None:
    find_mosquitto()
    seed = int(os.environ.get("ONESTOP_CHAOS_SEED") or secrets.randbelow(2**31))
    print(f"chaos seed {seed} (replay with ONESTOP_CHAOS_SEED={seed})")
    root = tmp_path / "site"
    summary = run_day(short_plan(seed), root)
    keys = ("seed", "faults", "tickets", "ratings", "violations", "timings", "boundary", "failed_commands")
    brief = {k: summary[k] for k in (*keys, "flood", "clock_steps", "stalls_s")}
    print(json.dumps(brief, ensure_ascii=False))
    failed = {k: n for k, n in summary["violations"].items() if n}
    assert not failed, (
        f"seed {seed}: violations {failed}; examples: "
        f"{json.dumps(summary['violation_examples'], ensure_ascii=False)[:4000]}; logs in {root}"
    )
    missing = [k for k in FAULT_KINDS if summary["faults"].get(k, 0) < 1]
    assert not missing, f"seed {seed}: faults never injected: {missing}"
    assert summary["faults"]["controller_sigkill"] >= 3
    assert summary["tickets"]["issued"] == 600 + summary["flood"]["tickets_taken"]
    assert summary["tickets"]["left_waiting_or_called"] == 0
    assert summary["orphans"] == [] and processes_mentioning(str(root)) == []
    # The day crossed its business-day boundary: a reset, tickets of both days, and the controller
    # killed within seconds before and after it (the checks above hold for two days).
    boundary = summary["boundary"]
    assert boundary["reset_at"] is not None, f"seed {seed}: the day never closed"
    by_day = boundary["tickets_by_day"]
    assert by_day[boundary["day1"]]["issued"] > 0 and by_day[boundary["day2"]]["issued"] > 0, by_day
    assert boundary["controller_kills_before"] >= 1 and boundary["controller_kills_after"] >= 1, boundary
    # Devices gave up during the stall (and the checks above found none of those commands done);
    # the flood was refused beyond the flooder's share, and the step back closed no day.
    assert summary["failed_commands"]["by_reason"].get("no_reply", 0) > 0, summary["failed_commands"]
    assert summary["flood"]["sent"]["issue"] > 1000 and summary["flood"]["sent"]["call_next"] > 1000
    assert summary["days_closed"] == [boundary["day1"]]
    assert summary["clock_steps"]["taken"] >= 1 and summary["clock_steps"]["day_behind_alarms"] >= 1

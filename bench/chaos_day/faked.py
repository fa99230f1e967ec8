"""``python -m bench.chaos_day.faked ARGS...``: ``python -m onestop ARGS...`` for a process whose wall
clock libfaketime steps (the chaos day's controller).

libfaketime 0.9.10 with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` breaks ``clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME)``, which ``time.sleep`` uses since Python 3.11: every sleep raises ``OSError: [Errno
22]`` (wolfcw/libfaketime#426). Here ``time.sleep`` waits in ``select`` instead; nothing else changes.
"""

from __future__ import annotations

import select
import sys
import time
from typing import SupportsIndex


def _sleep(seconds: float | SupportsIndex) -> None:
    select.select([], [], [], max(0.0, float(seconds)))


def main() -> int:
    """Run the onestop command line with the patched sleep."""
    time.sleep = _sleep
    from onestop.cli import main as onestop_main

    return onestop_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

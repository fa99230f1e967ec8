"""The controller's fair-share parts without a broker: token buckets, the fair inbox, the device watch."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.config import LimitsSection, SiteConfig
from onestop.errors import ConfigError
from queue_controller.limits import DeviceWatch, FairInbox, RateLimiter, TokenBucket
from tests.utils.site import make_site


class Mono:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


DEFAULTS = {
    "limits": {
        "kiosk": {"burst": 10, "per_minute": 20},
        "counter": {"burst": 10, "per_minute": 30},
        "rating": {"burst": 3, "per_minute": 6},
    }
}


@pytest.fixture
def cfg(tmp_path: Path) -> SiteConfig:
    return make_site(tmp_path, DEFAULTS)


# -- token bucket ------------------------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_refills_at_its_rate() -> None:
    b = TokenBucket(burst=3, per_minute=30, now=0.0)  # a token every 2 s
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert b.wait_s() == pytest.approx(2.0)
    assert not b.take(1.9)
    assert b.take(2.0) and not b.take(2.0)
    # A long quiet period refills the burst, never more.
    assert [b.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_a_clock_that_goes_back_takes_nothing_and_gives_nothing() -> None:
    b = TokenBucket(burst=1, per_minute=60, now=10.0)
    assert b.take(10.0) and not b.take(5.0) and not b.take(10.5) and b.take(11.0)


def test_the_limiter_sizes_each_device_by_its_role(cfg: SiteConfig) -> None:
    mono = Mono()
    lim = RateLimiter(cfg, mono, exempt=("hub",))
    assert sum(lim.allow("kiosk-1") for _ in range(100)) == 10
    assert sum(lim.allow("counter-1") for _ in range(100)) == 10
    assert sum(lim.allow("rate-1") for _ in range(100)) == 3
    assert sum(lim.allow("hub") for _ in range(100)) == 100
    # Devices do not share a bucket.
    assert sum(lim.allow("counter-2") for _ in range(100)) == 10
    msg = lim.refusal("kiosk-1")
    assert "kiosk-1" in msg and "at most 10 at once and 20 a minute" in msg and "try again in 3 s" in msg
    mono.t += 60  # a minute: 20 more for the kiosk, but never more than its burst at once
    assert sum(lim.allow("kiosk-1") for _ in range(100)) == 10
    # A device that is not in site.toml gets the strictest limit of any role.
    assert sum(lim.allow("ghost") for _ in range(100)) == 3


def test_limits_in_site_toml_override_one_key_at_a_time(tmp_path: Path) -> None:
    cfg = make_site(tmp_path, {"limits": {"kiosk": {"per_minute": 90}}}, name="a.toml")
    assert (cfg.limits.kiosk.burst, cfg.limits.kiosk.per_minute) == (1_000_000, 90)
    # Without a [limits] table a site gets the defaults sized for people.
    plain = LimitsSection()
    assert (plain.kiosk.burst, plain.kiosk.per_minute) == (10, 20)
    assert (plain.counter.burst, plain.counter.per_minute) == (10, 30)
    assert (plain.rating.burst, plain.rating.per_minute) == (3, 6)
    assert plain.backlog == 500
    scaled = plain.scaled(300)
    assert (scaled.kiosk.burst, scaled.kiosk.per_minute) == (10, 6000)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"kiosk": {"burst": 0}}, "limits.kiosk.burst: Input should be greater than or equal to 1, got 0"),
        ({"counter": {"per_minute": -1}}, "limits.counter.per_minute: Input should be greater than 0"),
        ({"kiosk": {"rate": 5}}, "limits.kiosk.rate: unknown key"),
        ({"printer": {"burst": 5}}, "limits.printer: unknown key"),
        ({"kiosk": 5}, "limits.kiosk: expected a table, got 5"),
        ({"backlog": 3}, "limits.backlog: Input should be greater than or equal to 10, got 3"),
    ],
)
def test_bad_limits_are_named_clearly(tmp_path: Path, limits: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_site(tmp_path, {"limits": limits})
    assert expected in str(e.value)


# -- fair inbox --------------------------------------------------------------------------------


def test_the_inbox_shares_each_batch_between_devices_and_keeps_each_ones_order() -> None:
    box: FairInbox[str] = FairInbox(backlog=10_000)
    for i in range(5000):
        box.put("flood", f"f{i}")
    box.put("counter", "c0")
    box.put("kiosk", "k0")
    box.put("kiosk", "k1")
    batch = box.take(500)
    assert len(batch) == 500 and {"c0", "k0", "k1"} <= set(batch)
    flood = [m for m in batch if m.startswith("f")]
    assert flood == [f"f{i}" for i in range(len(flood))]
    assert batch.index("k0") < batch.index("k1")
    assert len(box) == 5003 - 500
    # Once alone, the flood gets whole batches, in order.
    assert box.take(500)[0] == f"f{len(flood)}"


def test_a_new_device_is_in_the_next_batch_however_long_the_flood() -> None:
    box: FairInbox[str] = FairInbox(backlog=100_000)
    for i in range(50_000):
        box.put("flood", f"f{i}")
    box.take(500)
    box.put("counter", "call_next")
    assert "call_next" in box.take(500)


def test_more_devices_than_a_batch_are_served_in_turn() -> None:
    box: FairInbox[str] = FairInbox(backlog=10, quantum=1)
    for d in range(12):
        box.put(f"d{d}", f"d{d}-a")
        box.put(f"d{d}", f"d{d}-b")
    first = box.take(5)
    second = box.take(5)
    third = box.take(5)
    assert first == ["d0-a", "d1-a", "d2-a", "d3-a", "d4-a"]
    assert second == ["d5-a", "d6-a", "d7-a", "d8-a", "d9-a"]
    assert third == ["d10-a", "d11-a", "d0-b", "d1-b", "d2-b"]  # those served longest ago first
    assert len(box) == 24 - 15


def test_what_a_device_has_in_flight_is_taken_whole_up_to_the_quantum() -> None:
    box: FairInbox[str] = FairInbox(backlog=1000, quantum=4)
    for d in range(3):
        for i in range(3):
            box.put(f"k{d}", f"k{d}-{i}")  # a kiosk with 3 commands in flight
    for i in range(100):
        box.put("flood", f"f{i}")
    for d in range(3):
        box.put(f"c{d}", f"c{d}")
    batch = box.take(12)
    # Turn by turn: each kiosk whole, then the flood's quantum, then the counters (12 is full).
    assert batch == [*(f"k{d}-{i}" for d in range(3) for i in range(3)), "f0", "f1", "f2"]
    assert box.take(12)[:3] == ["c0", "c1", "c2"]  # served longest ago: first in the next batch


def test_a_device_over_its_backlog_is_dropped_and_counted() -> None:
    box: FairInbox[int] = FairInbox(backlog=3)
    assert [box.put("k", i) for i in range(5)] == [True, True, True, False, False]
    assert box.put("c", 0)
    assert box.pop_dropped() == {"k": 2} and box.pop_dropped() == {}
    assert box.take(100) == [0, 1, 2, 0]
    assert len(box) == 0 and box.take(10) == []


# -- device watch ------------------------------------------------------------------------------


def test_one_warning_per_device_per_minute_then_quiet() -> None:
    mono = Mono()
    watch = DeviceWatch(mono, period_s=60, quiet_s=120)
    loud = [watch.note("kiosk-01", "rate_limited") for _ in range(1000)]
    assert loud.count(True) == 5  # the first few refusals get a line each, then only the warning
    warnings, changed = watch.review()
    assert changed and [w.device for w in warnings] == ["kiosk-01"]
    assert warnings[0].line().startswith("kiosk-01: 1000 commands refused in the last")
    assert "kiosk-01: 1000 commands refused" in watch.detail()
    for _ in range(30):
        mono.t += 1
        watch.note("kiosk-01", "rate_limited", 10)
        assert watch.review()[0] == []  # not again within the minute
    mono.t += 30
    watch.note("kiosk-01", "forbidden")
    warnings, _ = watch.review()
    assert len(warnings) == 1 and warnings[0].counts == {"rate_limited": 300, "forbidden": 1}
    assert (
        warnings[0].line()
        == "kiosk-01: 301 commands refused in the last 60 s (rate_limited 300, forbidden 1)"
    )
    mono.t += 119
    assert watch.review() == ([], False) and watch.misbehaving
    mono.t += 1
    assert watch.review() == ([], True) and not watch.misbehaving and watch.detail() == ""


def test_a_few_forbidden_commands_are_not_misbehaviour_but_many_are() -> None:
    mono = Mono()
    watch = DeviceWatch(mono)
    for _ in range(9):
        watch.note("counter-1", "forbidden")
    watch.note("counter-1", "daily_limit")  # state-dependent refusals are normal
    assert watch.review() == ([], False)
    mono.t += 61
    watch.review()
    for _ in range(9):  # the earlier minute does not count any more
        watch.note("counter-1", "bad_request")
    assert watch.review() == ([], False)
    watch.note("counter-1", "forbidden")
    warnings, changed = watch.review()
    assert changed and warnings[0].counts == {"bad_request": 9, "forbidden": 1}

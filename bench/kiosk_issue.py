"""kiosk_issue: from a citizen's tap on the kiosk (the view-model's touch handler) to the ticket's bytes
being handed to the printer backend (the ``sim`` printer), one ticket at a time.

The kiosk runs in-process exactly as ``onestop kiosk`` runs it (view-model, MQTT shell, ticket
rendering, ESC/POS driver over the simulated printer); the controller is its own process. The
moment measured at the end is the simulated printer receiving the raster job (after the driver's
status check). Beside it: the time to render a ticket image alone, to encode it to ESC/POS alone,
and the bare-broker floor (a QoS 1 message through an echo client and back, as in call_latency).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.call_latency import measure_floor
from bench.common import BenchError, BenchSite, base_site, machine_info, summary_ms
from device_drivers.printer import SimPrinter
from device_drivers.printer.codec import encode_job
from kiosk_app.ticket_kiosk.device import KioskDevice

NAME = "kiosk_issue"
KIOSK = "kiosk-01"
PROBE = "probe-1"
SERVICE = "tuphap"
STEP_TIMEOUT_S = 10.0
#: A raster job is far larger than a status request (3 bytes): this tells them apart.
JOB_MIN_BYTES = 64


def site_data() -> dict[str, Any]:
    """One service without a daily limit, a kiosk with a simulated TM-T88V, and a probe for the floor."""
    data = base_site("bench-kiosk")
    data["services"] = [{"id": SERVICE, "name": "Tư pháp - Hộ tịch", "name_en": "Justice - Civil status",
                         "prefix": "A", "digits": 5}]  # fmt: skip
    data["counters"] = [{"id": "1", "label": "Quầy 1", "services": [SERVICE], "policy": "fifo"}]
    data["kiosk"] = {"priority": False}
    data["devices"] = [
        {"id": KIOSK, "role": "kiosk", "printer": {"backend": "sim", "profile": "TM-T88V"}},
        {"id": PROBE, "role": "board"},
    ]
    return data


def run(n: int = 300, warmup: int = 20, *, floor: bool = True, max_seconds: float = 600.0) -> dict[str, Any]:
    """Measure ``n`` taps (after ``warmup`` unmeasured ones); return the result document."""
    if n < 1 or warmup < 0:
        raise ValueError("n must be >= 1 and warmup >= 0")
    started = time.monotonic()
    deadline = started + max_seconds
    with BenchSite(site_data()) as site:
        # The floor before the controller starts: its echo uses the controller's account, and one
        # account has one connection (the broker binds client ids to accounts).
        floor_ms = measure_floor(site, n, min(warmup, 50), echo_process=True, nodelay=False,
                                 deadline=deadline) if floor else []  # fmt: skip
        site.start_controller()
        tap_ms, issue_ms, render_ms, print_ms, results = _measure_taps(site, n, warmup, deadline)
        site.check_controller()
    kiosk_profile = "TM-T88V"
    render_only, encode_only = _render_and_encode(site, results)
    out: dict[str, Any] = {
        "name": NAME,
        "n": n,
        "warmup": warmup,
        "unit": "ms",
        **{k: v for k, v in summary_ms(tap_ms).items() if k != "count"},
        "breakdown": {
            "issue": summary_ms(issue_ms),
            "render": summary_ms(render_ms),
            "print": summary_ms(print_ms),
        },
        "render_only": summary_ms(render_only),
        "encode_only": summary_ms(encode_only),
        "floor": summary_ms(floor_ms) if floor_ms else None,
        "setup": {
            "path": "vm.tap_service -> issue (MQTT, controller process) -> render (Pillow) -> "
            "driver status check + ESC/POS encode -> sim printer receives the job",
            "printer": f"sim, profile {kiosk_profile} (512 dots)",
            "loop": "closed: one tap at a time, back to the home screen between taps",
            "breakdown": "issue: tap -> reply; render: ticket image; print: image -> job bytes handed over",
            "floor": "probe publish QoS 1 -> echo process republish QoS 1 -> monitor (as call_latency)",
        },
        "elapsed_s": round(time.monotonic() - started, 2),
        "machine": machine_info(),
    }
    return out


def _measure_taps(
    site: BenchSite, n: int, warmup: int, deadline: float
) -> tuple[list[float], list[float], list[float], list[float], list[dict[str, Any]]]:
    marks: dict[str, float] = {}
    job_in = threading.Event()

    def on_print(t_render0: float, t_render1: float, _t_done: float) -> None:
        marks["render0"], marks["render1"] = t_render0, t_render1

    kiosk = KioskDevice(
        site.cfg, KIOSK, site.passwords[KIOSK], host=site.host, port=site.port,
        request_timeout_s=STEP_TIMEOUT_S, retries=0, guard_s=0.0, health_s=3600, on_print=on_print,
    )  # fmt: skip
    printer = kiosk.printer
    if not isinstance(printer, SimPrinter):
        raise BenchError("the bench kiosk must have the sim printer")
    fake = printer.fake
    handle = fake.handle

    def timed_handle(data: bytes) -> bytes:
        if len(data) >= JOB_MIN_BYTES:
            marks["job"] = time.perf_counter()
            job_in.set()
        return handle(data)

    fake.handle = timed_handle  # type: ignore[method-assign]
    kiosk.start(connect_timeout=10)
    vm = kiosk.vm
    taps: list[float] = []
    issues: list[float] = []
    renders: list[float] = []
    prints: list[float] = []
    results: list[dict[str, Any]] = []
    try:
        for i in range(warmup + n):
            if time.monotonic() > deadline:
                raise BenchError("kiosk_issue: out of time")
            job_in.clear()
            marks.clear()
            t0 = time.perf_counter()
            if not vm.tap_service(SERVICE):
                raise BenchError(f"tap {i} was not taken (screen {vm.screen})")
            if not job_in.wait(STEP_TIMEOUT_S):
                raise BenchError(f"tap {i}: no job reached the printer (screen {vm.screen})")
            if not vm.wait_for(lambda m: m.screen == "done" and not m.busy, STEP_TIMEOUT_S):
                raise BenchError(f"tap {i}: ended on screen {vm.screen}")
            if i >= warmup:
                taps.append((marks["job"] - t0) * 1000)
                issues.append((marks["render0"] - t0) * 1000)
                renders.append((marks["render1"] - marks["render0"]) * 1000)
                prints.append((marks["job"] - marks["render1"]) * 1000)
                if vm.result is not None:
                    results.append(vm.result)
            vm.press("ok")
        fake.reset()
    finally:
        kiosk.stop()
    return taps, issues, renders, prints, results


def _render_and_encode(site: BenchSite, results: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Render each issued ticket again (render only), then encode each image (encode only)."""
    kiosk = KioskDevice(site.cfg, KIOSK, site.passwords[KIOSK], host=site.host, port=site.port)
    profile = kiosk.printer.profile
    render: list[float] = []
    encode: list[float] = []
    for r in results:
        t0 = time.perf_counter()
        img = kiosk.render(r)
        t1 = time.perf_counter()
        encode_job(img, profile)
        t2 = time.perf_counter()
        render.append((t1 - t0) * 1000)
        encode.append((t2 - t1) * 1000)
    return render, encode

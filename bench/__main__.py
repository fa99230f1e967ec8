"""``python -m bench [NAME ...]``: run benchmarks, print one JSON document, keep it in bench/results/."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from bench import BENCHMARKS, DEFAULT, call_latency, kiosk_issue, throughput
from bench.common import machine_info, write_results


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("names", nargs="*", metavar="NAME", help="any of: " + ", ".join(BENCHMARKS))
    g = p.add_argument_group("call_latency")
    g.add_argument("--n", type=int, default=2000, help="measured calls (and floor round trips)")
    g.add_argument("--warmup-calls", type=int, default=100, help="unmeasured calls first")
    g.add_argument(
        "--device-nodelay",
        action="store_true",
        help="experiment: TCP_NODELAY on the benchmark's own device sockets (not the controller's)",
    )
    g.add_argument("--echo-in-process", action="store_true", help="run the floor's echo as a thread")
    g = p.add_argument_group("throughput")
    g.add_argument("--duration", type=float, default=10.0, help="measured window, seconds")
    g.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before it, seconds")
    g.add_argument("--counters", type=int, default=200)
    g.add_argument("--kiosks", type=int, default=20)
    g.add_argument("--services", type=int, default=6)
    g.add_argument("--processes", type=int, default=2, help="load-generator processes")
    g.add_argument("--kiosk-window", type=int, default=24, help="commands in flight per kiosk")
    g.add_argument("--counter-window", type=int, default=4, help="commands in flight per counter")
    g = p.add_argument_group("display_latency")
    g.add_argument("--display-calls", type=int, default=200, help="measured calls (LED frame and WAV)")
    g = p.add_argument_group("kiosk_issue")
    g.add_argument("--tickets", type=int, default=300, help="measured taps (and floor round trips)")
    g.add_argument("--ticket-warmup", type=int, default=20, help="unmeasured taps first")
    g.add_argument("--no-floor", action="store_true", help="kiosk_issue: skip the bare-broker floor")
    g = p.add_argument_group("forwarder")
    g.add_argument("--records", type=int, default=100_000, help="outbox backlog to drain")
    g.add_argument("--batch-size", type=int, default=200, help="records per POST")
    g = p.add_argument_group("chaos")
    g.add_argument("--chaos-tickets", type=int, default=20_000, help="tickets of the chaos day")
    g.add_argument("--chaos-seed", type=int, default=None, help="seed of the chaos day (random by default)")
    g.add_argument("--chaos-keep", action="store_true", help="keep the chaos site's folder (logs, databases)")
    g = p.add_argument_group("scale (also --processes)")
    g.add_argument("--scale-counters", type=int, default=500, help="counters of the large site")
    g.add_argument("--scale-kiosks", type=int, default=50, help="kiosks of the large site")
    g.add_argument("--scale-duration", type=float, default=20.0, help="measured window, seconds")
    g.add_argument("--scale-warmup", type=float, default=5.0, help="unmeasured load before it, seconds")
    g.add_argument("--probes", type=int, default=20, help="paced probe counters (call latency)")
    g.add_argument("--probe-interval", type=float, default=0.5, help="seconds between a probe's calls")
    g = p.add_argument_group("history")
    g.add_argument("--history-tickets", type=int, default=1_000_000, help="tickets of the history")
    g.add_argument("--history-days", type=int, default=30, help="business days of the history")
    g.add_argument("--history-repeats", type=int, default=3, help="runs per query (the median is kept)")
    g.add_argument("--history-db", help="keep the built hub database here, or reuse it if it exists")
    g.add_argument("--no-indexes", action="store_true", help="history: skip the candidate-index pass")
    g = p.add_argument_group("wait_estimate")
    g.add_argument("--wait-days", type=int, default=10, help="simulated working days")
    g.add_argument("--wait-seed", type=int, default=20261123, help="seed of the simulated days")
    g.add_argument("--wait-load", type=float, default=1.0, help="arrivals times this (1.3: a crowded month)")
    g = p.add_argument_group("bookings")
    g.add_argument("--bookings-days", type=int, default=10, help="simulated working days")
    g.add_argument("--bookings-seed", type=int, default=20261204, help="seed of the simulated days")
    g.add_argument("--booked-share", type=float, default=0.3, help="share of citizens who book a slot")
    g.add_argument(
        "--bookings-load", type=float, default=1.0, help="arrivals times this (1.15: a busy month)"
    )
    g = p.add_argument_group("voice_backlog")
    g.add_argument("--voice-seed", type=int, default=20261204, help="seed of the simulated calls")
    g.add_argument("--voice-bursts", type=int, default=20, help="opening bursts simulated")
    g = p.add_argument_group("site_memory")
    g.add_argument("--settle", type=float, default=20.0, help="seconds the site runs before it is measured")
    g.add_argument("--no-board", action="store_true", help="site_memory: without the board in Chromium")
    g = p.add_argument_group("province")
    g.add_argument("--province-dir", default=None, help="its PostgreSQL cluster (kept; default /var/tmp/...)")
    g.add_argument("--province-rebuild", action="store_true", help="generate the year of history again")
    g.add_argument(
        "--province-scale", type=float, default=1.0, help="tickets per day times this (0.01: smoke)"
    )
    g.add_argument("--province-runs", type=int, default=30, help="timed runs of each report")
    g.add_argument("--province-sites", type=int, default=300, help="sites forwarding at once")
    g.add_argument("--province-per-site", type=int, default=500, help="records each site forwards")
    g = p.add_argument_group("sd_writes")
    g.add_argument("--sd-window", type=float, default=60.0, help="measured seconds of each run (idle, busy)")
    g.add_argument(
        "--sd-speed", type=float, default=60.0, help="simulated seconds per second of the busy run"
    )
    g.add_argument("--no-fsync", action="store_true", help="sd_writes: do not count fsyncs with strace")
    g.add_argument("--day-tickets", type=int, default=1000, help="sd_writes: tickets of the busy day")
    p.add_argument("--out", default="latest.json", help="file name under bench/results/")
    return p


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one benchmark with the options of the command line."""
    if name == "call_latency":
        return call_latency.run(
            args.n,
            args.warmup_calls,
            echo_process=not args.echo_in_process,
            device_nodelay=args.device_nodelay,
        )
    if name == "throughput":
        return throughput.run(
            args.counters,
            args.kiosks,
            args.services,
            duration=args.duration,
            warmup=args.warmup,
            processes=args.processes,
            kiosk_window=args.kiosk_window,
            counter_window=args.counter_window,
        )
    if name == "display_latency":
        from bench import display_latency

        return display_latency.run(args.display_calls)
    if name == "kiosk_issue":
        return kiosk_issue.run(args.tickets, args.ticket_warmup, floor=not args.no_floor)
    if name == "forwarder":
        from bench import forwarder

        return forwarder.run(args.records, args.batch_size)
    if name == "chaos":
        from bench import chaos

        return chaos.run(args.chaos_tickets, args.chaos_seed, keep=args.chaos_keep)
    if name == "scale":
        from bench import scale

        return scale.run(
            args.scale_counters,
            args.scale_kiosks,
            duration=args.scale_duration,
            warmup=args.scale_warmup,
            processes=args.processes,
            probes=args.probes,
            probe_interval=args.probe_interval,
        )
    if name == "history":
        from bench import history

        return history.run(
            args.history_tickets,
            args.history_days,
            repeats=args.history_repeats,
            indexes=not args.no_indexes,
            db=args.history_db,
        )
    if name == "province":
        from pathlib import Path

        from bench import province

        return province.run(
            directory=Path(args.province_dir) if args.province_dir else province.DEFAULT_DIR,
            rebuild=args.province_rebuild,
            runs=args.province_runs,
            sites=args.province_sites,
            per_site=args.province_per_site,
            scale=args.province_scale,
        )
    if name == "wait_estimate":
        from bench import wait_estimate

        return wait_estimate.run(args.wait_days, args.wait_seed, args.wait_load)
    if name == "bookings":
        from bench import bookings

        return bookings.run(args.bookings_days, args.bookings_seed, args.booked_share, args.bookings_load)
    if name == "voice_backlog":
        from bench import voice_backlog

        return voice_backlog.run(args.voice_seed, args.voice_bursts)
    if name == "site_memory":
        from bench import site_memory

        return site_memory.run(args.settle, board=not args.no_board)
    if name == "sd_writes":
        from bench import sd_writes

        return sd_writes.run(
            args.sd_window, args.sd_speed, fsync=not args.no_fsync, day_tickets=args.day_tickets
        )
    raise ValueError(f"unknown benchmark {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks named (all by default); exit 1 if one could not run (not if it missed a target)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r} (choose from {', '.join(BENCHMARKS)})")
    names = args.names or list(DEFAULT)
    results: list[dict[str, Any]] = []
    failed = False
    for name in names:
        try:
            results.append(run_one(name, args))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            results.append({"name": name, "error": f"{type(exc).__name__}: {exc}", "pass": False})
            failed = True
    doc: dict[str, Any] = results[0] if len(names) == 1 and args.names else {"benchmarks": results}
    if "benchmarks" in doc:
        doc["machine"] = machine_info()
    path = write_results(doc, args.out)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    print(f"written to {path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

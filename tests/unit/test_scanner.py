"""Scanners: the byte framer, the simulator, the parameters and the site file's ``scanner`` table."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.scanner import Scan, ScannerConfigError, make_scanner
from device_drivers.scanner.framing import ByteFramer
from device_drivers.scanner.params import SerialParams, parse_params
from device_drivers.scanner.sim import SimScanner, reset_sim_scanners, sim_scanner
from onestop.errors import ConfigError
from tests.unit.sites import BASE, site
from tests.utils.scanner_events import Typist


def frame(chunks: list[bytes], suffix: Any = "auto", gap: float = 0.0, **kw: Any) -> list[Scan]:
    f = ByteFramer("t", suffix, **kw)
    out: list[Scan] = []
    now = 0.0
    for chunk in chunks:
        out += f.feed(chunk, now)
        now += gap
    tail = f.idle(now + 10)
    return out + ([tail] if tail else [])


def test_suffix_styles() -> None:
    data = [b"A\rB\nC\r\nD"]
    assert [(s.text, s.complete) for s in frame(data)] == [
        ("A", True),
        ("B", True),
        ("C", True),
        ("D", False),
    ]
    assert [s.text for s in frame(data, "cr")] == ["A", "B\nC", "\nD"]
    assert [s.text for s in frame(data, "lf")] == ["A\rB", "C\r", "D"]
    assert [s.text for s in frame(data, "crlf")] == ["A\rB", "C", "D"]
    assert [(s.text, s.complete) for s in frame([b"DL1"], "none")] == [("DL1", True)]


def test_silence_between_chunks_cuts_a_code() -> None:
    assert [(s.text, s.complete) for s in frame([b"DL24", b"12\r"], gap=0.5, timeout_s=0.1)] == [
        ("DL24", False),
        ("12", True),
    ]
    assert [s.text for s in frame([b"DL24", b"12\r"], gap=0.05, timeout_s=0.1)] == ["DL2412"]


def test_bom_dropped_and_text_nfc() -> None:
    decomposed = "Nguye\u0302\u0303n"  # e + circumflex + tilde
    (scan,) = frame([b"\xef\xbb\xbf" + decomposed.encode() + b"\r"])
    assert scan.text == "Nguyễn" and scan.ok


def test_exactly_max_length_is_fine_one_more_is_too_long() -> None:
    assert frame([b"x" * 16 + b"\r"], max_length=16)[0].text == "x" * 16
    assert [(s.text, s.error) for s in frame([b"x" * 17 + b"\rok\r"], max_length=16)] == [
        ("", "too_long"),
        ("ok", None),
    ]


@given(st.lists(st.binary(max_size=300), max_size=20), st.sampled_from(["auto", "cr", "lf", "crlf", "none"]))
def test_any_bytes_give_bounded_scans_and_never_raise(chunks: list[bytes], suffix: str) -> None:
    scans = frame(chunks, suffix, gap=0.01, max_length=64)
    for s in scans:
        assert s.text or s.error == "too_long"
        assert len(s.text.encode("utf-8", "surrogatepass")) <= 64 * 3  # U+FFFD is 3 bytes per bad byte
        assert s.error in (None, "undecodable", "too_long")


CODE_CHARS = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))


@given(
    st.lists(st.text(alphabet=CODE_CHARS, min_size=1, max_size=40), max_size=10),
    st.integers(min_value=1, max_value=7),
)
def test_utf8_codes_survive_any_chunking(codes: list[str], cut: int) -> None:
    import unicodedata

    stream = b"".join(c.encode() + b"\r\n" for c in codes)
    chunks = [stream[i : i + cut] for i in range(0, len(stream), cut)]
    got = frame(chunks, "crlf")
    want = [unicodedata.normalize("NFC", c.removeprefix("\ufeff")) for c in codes]
    assert [s.text for s in got] == [w for w in want if w]
    assert all(s.ok for s in got)


# -- the simulator ---------------------------------------------------------------------------------
def test_sim_delivers_only_while_running_and_plugged() -> None:
    sim = SimScanner()
    got: list[Scan] = []
    sim.feed("before")
    sim.start(got.append)
    assert sim.health() == "ok"
    sim.feed("DL24120400017")
    sim.feed_partial("DL24")
    sim.unplug()
    assert sim.health() == "offline"
    sim.feed("lost")
    sim.plug()
    sim.garbage(10_000)
    sim.feed_bytes(b"Nguy\xe1\xbb\r\n")
    sim.feed_events(Typist().text("A1").enter().events)
    sim.stop()
    assert [(s.text[:13], s.complete, s.error) for s in got] == [
        ("DL24120400017", True, None),
        ("DL24", False, None),
        ("", True, "too_long"),
        ("Nguy\ufffd", True, "undecodable"),
        ("A1", True, None),
    ]
    assert [f.scan for f in sim.history] == got
    sim.start(lambda s: None)
    for i in range(150):
        sim.feed(f"DL{i:011d}")
    sim.stop()
    assert len(sim.history) == 100 and sim.history[-1].scan.text == "DL00000000149"
    sim.reset()
    assert list(sim.history) == []


def test_named_sims_are_one_scanner() -> None:
    reset_sim_scanners()
    a = make_scanner({"backend": "sim", "name": "kiosk-01"})
    assert make_scanner({"backend": "sim", "name": "kiosk-01"}) is a is sim_scanner("kiosk-01")
    assert make_scanner(None) is not make_scanner(None)
    reset_sim_scanners()


def test_sim_reads_lines_from_a_named_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "kiosk-01.scan"
    sim = make_scanner({"backend": "sim", "fifo": str(fifo)})
    got: list[Scan] = []
    cond = threading.Condition()

    def on_scan(scan: Scan) -> None:
        with cond:
            got.append(scan)
            cond.notify_all()

    sim.start(on_scan)
    try:
        assert sim.health() == "ok"
        with open(fifo, "wb") as w:
            w.write("DL24120400017\nNguyễn".encode())
        with cond:
            assert cond.wait_for(lambda: len(got) >= 2, 3), got
        assert [(s.text, s.complete) for s in got] == [("DL24120400017", True), ("Nguyễn", True)]
    finally:
        sim.stop()
    (tmp_path / "plain").write_text("")
    bad = make_scanner({"backend": "sim", "fifo": str(tmp_path / "plain")})
    bad.start(on_scan)
    assert bad.health() == "error" and "not a named pipe" in bad.detail
    bad.stop()


# -- parameters and the site file -------------------------------------------------------------------
def test_serial_parameters() -> None:
    p = parse_params({"backend": "serial", "port": "/dev/ttyACM0"})
    assert isinstance(p, SerialParams) and (p.baudrate, p.suffix, p.timeout_s, p.max_length) == (
        9600,
        "auto",
        0.1,
        4096,
    )
    with pytest.raises(ScannerConfigError) as err:
        parse_params({"backend": "serial", "suffix": "crcr", "timeout_ms": 0})
    assert sorted(key for key, _ in err.value.problems) == ["port", "suffix", "timeout_ms"]
    with pytest.raises(ScannerConfigError, match=r"scanner\.backend: expected one of hid, serial, sim"):
        parse_params({"backend": "usb-pos"})


def _with_scanner(table: dict[str, Any] | None, role: str = "kiosk") -> dict[str, Any]:
    devices = [dict(d) for d in BASE["devices"]]
    target = next(d for d in devices if d["role"] == role)
    if table is not None:
        target["scanner"] = table
    return {"devices": devices}


def test_site_file_accepts_a_scanner_table() -> None:
    cfg = site(**_with_scanner({"backend": "serial", "port": "/dev/ttyACM0", "suffix": "crlf"}))
    table = cfg.device("kiosk-1").scanner
    assert table is not None and table.backend == "serial"
    scanner = make_scanner(table)
    assert scanner.source == "serial:/dev/ttyACM0"


def test_site_file_names_the_key_path_of_a_bad_scanner_table() -> None:
    with pytest.raises(ConfigError) as err:
        site(**_with_scanner({"backend": "hid", "name": "Xenon", "timeout_ms": "fast", "sufix": "enter"}))
    problems = err.value.problems
    assert any(
        p.startswith('devices (id "kiosk-1").scanner.timeout_ms: expected a whole number') for p in problems
    ), problems
    assert any('(id "kiosk-1").scanner.sufix: unknown parameter for the hid backend' in p for p in problems)
    with pytest.raises(ConfigError, match=r'devices \(id "counter-1"\)\.scanner: only kiosks have a scanner'):
        site(**_with_scanner({"backend": "sim"}, role="counter"))


# -- onestop kiosk scan-test ------------------------------------------------------------------------
def test_scan_test_prints_one_line_per_scan(capsys: pytest.CaptureFixture[str]) -> None:
    from device_drivers.scanner.scan_test import scan_test

    reset_sim_scanners()
    cfg = site(**_with_scanner({"backend": "sim", "name": "scan-test-kiosk"}))
    sim = make_scanner(cfg.device("kiosk-1").scanner)
    assert isinstance(sim, SimScanner)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(scan_test(cfg, "kiosk-1", count=4)))
    runner.start()
    assert sim.wait_health("ok", 3)
    sim.feed("DL24120400017")
    sim.feed_bytes(b"0108936\x1d17\r\nNguy\xe1\xbb\r\nDL24")
    runner.join(5)
    assert result == [0]
    assert capsys.readouterr().out.splitlines() == [
        '#1 ok, 13 characters: "DL24120400017"',
        '#2 ok, 10 characters: "0108936\\x1d17"',
        '#3 unreadable (not UTF-8, an unknown key or a bad Alt code), 5 characters: "Nguy\ufffd"',
        '#4 partial (no suffix before the timeout), 4 characters: "DL24"',
    ]
    reset_sim_scanners()


def test_scan_test_refuses_a_kiosk_without_a_scanner_or_with_an_absent_one(tmp_path: Path) -> None:
    from device_drivers.scanner.scan_test import scan_test
    from onestop.errors import OnestopError

    with pytest.raises(OnestopError, match="kiosk-1 has no scanner table"):
        scan_test(site(), "kiosk-1", count=1)
    cfg = site(**_with_scanner({"backend": "serial", "port": str(tmp_path / "ttyACM0")}))
    with pytest.raises(OnestopError, match=r"kiosk-1: scanner offline: cannot open"):
        scan_test(cfg, "kiosk-1", count=1)
    with pytest.raises(OnestopError, match="--record: only hid scanners"):
        scan_test(cfg, "kiosk-1", count=1, record=str(tmp_path / "rec.json"))


def test_a_port_the_user_may_not_open_is_an_error_with_the_group_to_join(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    import serial  # type: ignore[import-untyped]

    def denied(port: str, *args: Any, **kwargs: Any) -> None:
        # what pyserial raises for EACCES (as root here, a real port cannot be made unreadable)
        raise serial.SerialException(
            errno.EACCES, f"could not open port {port}: [Errno 13] Permission denied"
        )

    monkeypatch.setattr(serial, "Serial", denied)
    scanner = make_scanner({"backend": "serial", "port": "/dev/ttyACM0", "poll_s": 5})
    scanner.start(lambda s: None)
    try:
        assert scanner.health() == "error" and "'dialout' group" in scanner.detail, scanner.detail
    finally:
        scanner.stop()

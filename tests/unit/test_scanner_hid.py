"""The hid scanner backend: recorded key events through the reader's own decode path, and the
reader loop (grab, reconnect, ungrab) with a fake input device where no real one can exist here."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_drivers.scanner import Scan, ScannerConfigError, keymap, make_scanner
from device_drivers.scanner.hid import HidScanner, decode_events
from device_drivers.scanner.keys import KeyDecoder
from device_drivers.scanner.params import HidParams, parse_params
from device_drivers.scanner.recording import RecordedEvent, load
from tests.utils.scanner_events import CCCD_QR, Typist

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "scanner_hid_events.json"
RECORDINGS = load(FIXTURE)


def decode(events: list[RecordedEvent | None], **settings: Any) -> list[Scan]:
    """Run events through the same path as the reader thread."""
    decoder = KeyDecoder("hid:test", **settings)
    out: list[Scan] = []
    decode_events(events, decoder, out.append)
    return out


@pytest.mark.parametrize("name", sorted(n for n, r in RECORDINGS.items() if r.expected is not None))
def test_recorded_scans_decode_to_their_text(name: str) -> None:
    rec = RECORDINGS[name]
    scans = decode(rec.events, **rec.settings)
    assert [(s.text, s.complete, s.error) for s in scans] == [(rec.expected, rec.complete, None)]


def test_the_fixture_holds_the_brief_s_cases() -> None:
    assert RECORDINGS["booking-code"].expected == "DL24120400017"
    url = RECORDINGS["receipt-url-mixed-case"]
    assert url.expected is not None and "maHoSo=" in url.expected  # shift for capitals, ':' and '?'
    assert RECORDINGS["cccd-qr-alt-unicode"].expected == CCCD_QR


def test_a_key_without_a_character_marks_the_scan_undecodable() -> None:
    (scan,) = decode(RECORDINGS["function-key-inside"].events)
    assert scan.error == "undecodable" and not scan.ok
    assert scan.text == "DL24\ufffd120400017"


def test_windows_alt_codes_use_cp1252_cp437_and_unicode() -> None:
    t = Typist().alt_code("0233").alt_code("130").alt_code("0128").alt_code("7847").enter()
    (scan,) = decode(t.events)
    assert scan.text == "éé€ầ"
    (bad,) = decode(Typist().text("A").alt_code("0129").enter().events)  # undefined in cp1252
    assert bad.error == "undecodable"


def test_utf8_alt_codes_that_are_not_utf8_are_undecodable() -> None:
    (scan,) = decode(Typist().text("L").alt_code("195").text("x").enter().events, alt_codes="utf8")
    assert scan.text == "L\ufffdx" and scan.error == "undecodable"


def test_alt_code_beyond_unicode_is_undecodable() -> None:
    (scan,) = decode(Typist().alt_code("+110000").enter().events)
    assert scan.error == "undecodable"


def test_a_pause_longer_than_the_timeout_cuts_a_code() -> None:
    events = Typist().text("000.00").pause(300).text("DL24120400017").enter().events
    scans = decode(events, timeout_s=0.1)
    assert [(s.text, s.complete) for s in scans] == [("000.00", False), ("DL24120400017", True)]


def test_without_a_suffix_the_silence_ends_a_whole_code() -> None:
    scans = decode(Typist().text("DL1").idle().events, suffix="none")
    assert [(s.text, s.complete) for s in scans] == [("DL1", True)]


def test_tab_suffix_and_enter_inside_a_code() -> None:
    scans = decode(Typist().text("a").enter().text("b").key(keymap.KEY_TAB).events, suffix="tab")
    assert [s.text for s in scans] == ["a\nb"]


def test_auto_repeat_and_a_lone_enter_type_nothing() -> None:
    t = Typist().enter().text("A")
    last = next(e for e in t.events if e and e.code == keymap.KEY_NAMES["KEY_A"] and e.value == 1)
    t.events.append(RecordedEvent(last.sec, last.usec, keymap.EV_KEY, last.code, 2))
    scans = decode(t.enter().events)
    assert [s.text for s in scans] == ["A"]


def test_a_runaway_code_is_one_too_long_scan_and_the_next_one_reads() -> None:
    events = Typist(step_us=10).text("x" * 200).enter().text("DL24120400017").enter().events
    scans = decode(events, max_length=64)
    assert [(s.text, s.error) for s in scans] == [("", "too_long"), ("DL24120400017", None)]


def test_key_codes_match_the_kernel_s() -> None:
    ecodes = pytest.importorskip("evdev.ecodes")
    wrong = {name: code for name, code in keymap.KEY_NAMES.items() if getattr(ecodes, name) != code}
    assert wrong == {}
    assert (ecodes.EV_KEY, ecodes.EV_SYN, ecodes.EV_MSC) == (keymap.EV_KEY, keymap.EV_SYN, keymap.EV_MSC)


def test_real_evdev_input_events_decode_too() -> None:
    evdev = pytest.importorskip("evdev")
    events = [evdev.InputEvent(e.sec, e.usec, e.type, e.code, e.value) if e else None
              for e in RECORDINGS["booking-code"].events]  # fmt: skip
    assert [s.text for s in decode(events)] == ["DL24120400017"]


# -- parameters ------------------------------------------------------------------------------------
def test_hid_parameters_name_the_key_that_is_wrong() -> None:
    with pytest.raises(ScannerConfigError, match=r"say which input device"):
        parse_params({"backend": "hid"})
    with pytest.raises(ScannerConfigError, match=r"scanner\.suffix: .*'enter'"):
        parse_params({"backend": "hid", "name": "Honeywell", "suffix": "cr"})
    with pytest.raises(ScannerConfigError, match=r"scanner\.vendorid: unknown parameter"):
        parse_params({"backend": "hid", "vendorid": 1})
    p = parse_params({"backend": "hid", "vendor_id": "0c2e", "product_id": "0x0b61"})
    assert isinstance(p, HidParams) and (p.vendor_id, p.product_id) == (0x0C2E, 0x0B61)


# -- the reader loop with a fake device ------------------------------------------------------------
class FakeInputDevice:
    """Stands in for ``evdev.InputDevice`` (no /dev/uinput here): a pipe to wake ``select``, a queue of
    events, and a record of grab/ungrab/close."""

    def __init__(self, path: str, name: str, vendor: int = 0x0C2E, product: int = 0x0B61) -> None:
        self.path, self.name = path, name
        self.info = type("Info", (), {"vendor": vendor, "product": product})()
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.queue: list[RecordedEvent | None] = []
        self.calls: list[str] = []
        self.gone = False
        self.lock = threading.Lock()

    def fileno(self) -> int:
        return self._r

    def read(self) -> Iterator[RecordedEvent]:
        with self.lock:
            with contextlib.suppress(BlockingIOError):
                os.read(self._r, 4096)
            batch = [e for e in self.queue if e is not None]
            self.queue.clear()
            if self.gone and not batch:  # what was sent before the cable came out is read first
                raise OSError(errno.ENODEV, "No such device")
        if self.gone:
            os.write(self._w, b"!")  # wake the reader again: the next read says ENODEV
        return iter(batch)

    def send(self, events: list[RecordedEvent | None]) -> None:
        with self.lock:
            self.queue += events
        os.write(self._w, b"!")

    def unplug(self) -> None:
        with self.lock:
            self.gone = True
        os.write(self._w, b"!")

    def grab(self) -> None:
        self.calls.append("grab")

    def ungrab(self) -> None:
        self.calls.append("ungrab")

    def close(self) -> None:
        self.calls.append("close")


class Collect:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.cond = threading.Condition()

    def __call__(self, scan: Scan) -> None:
        with self.cond:
            self.scans.append(scan)
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 3.0) -> list[Scan]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.scans) >= count, timeout), self.scans
            return list(self.scans)


def test_the_reader_grabs_decodes_reconnects_and_ungrabs() -> None:
    plugged: dict[str, FakeInputDevice] = {}
    opened: list[FakeInputDevice] = []

    def opener(path: str) -> FakeInputDevice:
        if path not in plugged:
            raise OSError(errno.ENOENT, "No such file or directory")
        opened.append(plugged[path])
        return plugged[path]

    by_id = "/dev/input/by-id/usb-Honeywell_Imaging_Xenon_1950g-event-kbd"
    params = HidParams(backend="hid", name="xenon", poll_s=0.02)
    scanner = HidScanner(params, opener=opener, lister=lambda: sorted(plugged))
    got = Collect()
    scanner.start(got)
    try:
        assert scanner.health() == "offline" and "no input device matches xenon" in scanner.detail
        plugged[by_id] = FakeInputDevice(by_id, "Honeywell Imaging & Mobility Xenon 1950g")
        assert scanner.wait_health("ok")
        dev = plugged[by_id]
        assert dev.calls == ["grab"]
        dev.send(RECORDINGS["booking-code"].events)
        assert [s.text for s in got.wait(1)] == ["DL24120400017"]
        dev.send(Typist().text("DL24").events)  # then it is pulled out mid-code
        dev.unplug()
        del plugged[by_id]
        assert scanner.wait_health("offline")
        assert dev.calls == ["grab", "ungrab", "close"]
        assert [(s.text, s.complete) for s in got.wait(2)][1] == ("DL24", False)
        plugged[by_id] = again = FakeInputDevice(by_id, "Honeywell Imaging & Mobility Xenon 1950g")
        assert scanner.wait_health("ok")
        again.send(RECORDINGS["caps-lock-toggled-by-scanner"].events)
        assert got.wait(3)[2].text == "DL24120400017"
    finally:
        scanner.stop()
    assert again.calls == ["grab", "ungrab", "close"]
    assert scanner.health() == "offline"


def test_a_partial_code_ends_after_the_timeout_on_a_live_device() -> None:
    dev = FakeInputDevice("/dev/input/event7", "scanner")
    scanner = HidScanner(HidParams(backend="hid", path=dev.path, timeout_ms=30), opener=lambda p: dev)
    got = Collect()
    scanner.start(got)
    try:
        dev.send(Typist().text("DL2412").events)
        (scan,) = got.wait(1)
        assert (scan.text, scan.complete, scan.source) == ("DL2412", False, "hid:/dev/input/event7")
    finally:
        scanner.stop()


def test_a_device_grabbed_by_someone_else_is_an_error_not_a_crash() -> None:
    dev = FakeInputDevice("/dev/input/event3", "scanner")

    def busy() -> None:
        raise OSError(errno.EBUSY, "Device or resource busy")

    dev.grab = busy  # type: ignore[method-assign]
    scanner = HidScanner(HidParams(backend="hid", path=dev.path, poll_s=0.05), opener=lambda p: dev)
    scanner.start(lambda s: None)
    try:
        assert scanner.health() == "error" and "another process has grabbed it" in scanner.detail
    finally:
        scanner.stop()


def test_a_listener_that_raises_does_not_stop_the_reader() -> None:
    dev = FakeInputDevice("/dev/input/event4", "scanner")
    scanner = HidScanner(HidParams(backend="hid", path=dev.path), opener=lambda p: dev)
    got = Collect()

    def flaky(scan: Scan) -> None:
        got(scan)
        if len(got.scans) == 1:
            raise RuntimeError("the screen broke")

    scanner.start(flaky)
    try:
        dev.send(Typist().text("A1").enter().text("B2").enter().events)
        assert [s.text for s in got.wait(2)] == ["A1", "B2"]
    finally:
        scanner.stop()


def test_make_scanner_builds_the_hid_backend_without_touching_the_device() -> None:
    scanner = make_scanner({"backend": "hid", "path": "/dev/input/by-id/usb-x-event-kbd"})
    assert isinstance(scanner, HidScanner) and scanner.health() == "offline"


def test_without_python_evdev_the_hid_backend_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from device_drivers.scanner import ScannerUnavailable

    monkeypatch.setitem(sys.modules, "evdev", None)  # import evdev raises ImportError
    scanner = make_scanner({"backend": "hid", "path": "/dev/input/event0"})
    with pytest.raises(ScannerUnavailable, match="apt install python3-evdev"):
        scanner.start(lambda s: None)


def test_the_real_evdev_opener_on_a_node_that_is_no_input_device_is_offline(tmp_path: Path) -> None:
    pytest.importorskip("evdev")
    scanner = make_scanner({"backend": "hid", "path": "/dev/null", "poll_s": 0.05})
    scanner.start(lambda s: None)
    try:
        assert scanner.health() == "offline" and scanner.detail.startswith("cannot open /dev/null")
    finally:
        scanner.stop()
    missing = make_scanner({"backend": "hid", "name": "Xenon", "by_id_dir": str(tmp_path), "poll_s": 0.05})
    missing.start(lambda s: None)
    try:
        assert missing.health() == "offline" and "no input device matches Xenon" in missing.detail
    finally:
        missing.stop()


def test_by_name_the_keyboard_interface_is_chosen_not_the_consumer_control() -> None:
    class WithCaps(FakeInputDevice):
        def __init__(self, path: str, name: str, keys: list[int]) -> None:
            super().__init__(path, name)
            self.keys = keys

        def capabilities(self) -> dict[int, list[int]]:
            return {keymap.EV_KEY: self.keys}

    control = WithCaps("/dev/input/event5", "Honeywell Xenon Consumer Control", [113, 114, 115])
    keyboard = WithCaps("/dev/input/event6", "Honeywell Xenon", [keymap.KEY_ENTER, 30, 42])
    devices = {d.path: d for d in (control, keyboard)}
    scanner = HidScanner(HidParams(backend="hid", name="xenon"), opener=devices.__getitem__,
                         lister=lambda: sorted(devices))  # fmt: skip
    scanner.start(lambda s: None)
    try:
        assert scanner.health() == "ok" and scanner.detail.startswith("/dev/input/event6")
        assert control.calls == ["close"] and keyboard.calls == ["grab"]
    finally:
        scanner.stop()


def test_a_device_the_user_may_not_read_is_an_error_with_the_group_to_join() -> None:
    def denied(path: str) -> FakeInputDevice:
        raise PermissionError(errno.EACCES, "Permission denied")

    scanner = HidScanner(HidParams(backend="hid", path="/dev/input/event2", poll_s=5), opener=denied)
    scanner.start(lambda s: None)
    try:
        assert scanner.health() == "error" and "'input' group" in scanner.detail
    finally:
        scanner.stop()


# -- properties ------------------------------------------------------------------------------------
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=80)


@given(st.lists(PRINTABLE, min_size=1, max_size=5), st.sampled_from(["windows", "unicode", "utf8"]))
def test_typed_ascii_codes_decode_back_exactly(codes: list[str], alt_codes: str) -> None:
    t = Typist()
    for code in codes:
        t.text(code).enter()
    scans = decode(t.events, alt_codes=alt_codes)
    assert [(s.text, s.ok) for s in scans] == [(c, True) for c in codes]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, 5), st.integers(0, 300), st.integers(-1, 3), st.integers(0, 50_000)),
        ),
        max_size=200,
    )
)
@settings(max_examples=200)
def test_any_event_stream_decodes_without_raising(raw: list[tuple[int, int, int, int] | None]) -> None:
    events = [None if r is None else RecordedEvent(1_764_835_200, r[3], r[0], r[1], r[2]) for r in raw]
    for scan in decode(events, max_length=64, alt_codes="utf8") + decode(events, max_length=64):
        assert scan.text or scan.error == "too_long"
        assert scan.error in (None, "undecodable", "too_long")


def test_decoded_fixture_codes_classify_as_what_they_are() -> None:
    """The scanner's text is what onestop.scan_codes expects (the interface between the parts)."""
    from onestop.scan_codes import BookingCode, CitizenCard, DossierCode, classify

    def text(name: str) -> str:
        rec = RECORDINGS[name]
        (scan,) = decode(rec.events, **rec.settings)
        assert scan.ok
        return scan.text

    assert classify(text("booking-code")) == BookingCode("DL24120400017")
    assert isinstance(classify(text("receipt-url-mixed-case")), DossierCode)
    assert isinstance(classify(text("cccd-qr-alt-unicode")), CitizenCard)


def test_candidates_are_the_by_id_keyboards_first_each_device_once(tmp_path: Path) -> None:
    from device_drivers.scanner.hid import _list_candidates

    nodes = tmp_path / "nodes"
    nodes.mkdir()
    (nodes / "event3").touch()
    (nodes / "event4").touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-Honeywell_Xenon-event-kbd").symlink_to(nodes / "event4")
    (by_id / "usb-Honeywell_Xenon-if01-event-kbd").symlink_to(nodes / "event4")  # the same device
    (by_id / "usb-Honeywell_Xenon-if01-event-mouse").symlink_to(nodes / "event3")
    assert _list_candidates(str(by_id))[:1] == [str(by_id / "usb-Honeywell_Xenon-event-kbd")]
    assert str(by_id / "usb-Honeywell_Xenon-if01-event-kbd") not in _list_candidates(str(by_id))

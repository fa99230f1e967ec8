"""Key events in the shape the Linux hid-input driver reports a USB keyboard (and so a keyboard-wedge
scanner): per key ``EV_MSC/MSC_SCAN`` (the HID usage), ``EV_KEY`` and ``EV_SYN``, down then up, with
Shift pressed around shifted characters. Used to build the fixture file and in tests."""

from __future__ import annotations

from device_drivers.scanner import keymap as k
from device_drivers.scanner.recording import RecordedEvent

MSC_SCAN = 4

#: Linux key code -> HID usage (keyboard page 0x07), as hid-input reports it in MSC_SCAN.
_USAGE: dict[int, int] = {
    **{k.KEY_NAMES[f"KEY_{c}"]: 0x04 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
    **{k.KEY_NAMES[f"KEY_{d}"]: 0x1E + i for i, d in enumerate("123456789")},
    11: 0x27, k.KEY_ENTER: 0x28, k.KEY_TAB: 0x2B, 57: 0x2C, 12: 0x2D, 13: 0x2E, 26: 0x2F, 27: 0x30,
    43: 0x31, 39: 0x33, 40: 0x34, 41: 0x35, 51: 0x36, 52: 0x37, 53: 0x38, k.KEY_CAPSLOCK: 0x39,
    k.KEY_LEFTCTRL: 0xE0, k.KEY_LEFTSHIFT: 0xE1, k.KEY_LEFTALT: 0xE2, k.KEY_KPENTER: 0x58,
    k.KEY_KPPLUS: 0x57, 79: 0x59, 80: 0x5A, 81: 0x5B, 75: 0x5C, 76: 0x5D, 77: 0x5E, 71: 0x5F, 72: 0x60,
    73: 0x61, 82: 0x62,
}  # fmt: skip


class Typist:
    """Types like a scanner: ``step_us`` between reports (a few ms is usual for USB HID scanners)."""

    def __init__(self, start_s: int = 1_764_835_200, step_us: int = 2_000) -> None:
        self.t_us = start_s * 1_000_000
        self.step_us = step_us
        self.events: list[RecordedEvent | None] = []

    def _report(self, code: int, value: int) -> None:
        sec, usec = divmod(self.t_us, 1_000_000)
        self.events += [
            RecordedEvent(sec, usec, k.EV_MSC, MSC_SCAN, 0x70000 + _USAGE.get(code, 0)),
            RecordedEvent(sec, usec, k.EV_KEY, code, value),
            RecordedEvent(sec, usec, k.EV_SYN, 0, 0),
        ]
        self.t_us += self.step_us

    def key(self, code: int, *mods: int) -> Typist:
        """Press and release ``code`` with modifier keys held around it."""
        for m in mods:
            self._report(m, 1)
        self._report(code, 1)
        self._report(code, 0)
        for m in reversed(mods):
            self._report(m, 0)
        return self

    def text(self, text: str) -> Typist:
        """Type ASCII text on a US layout."""
        for ch in text:
            stroke = k.keystrokes(ch)
            if stroke is None:
                raise ValueError(f"{ch!r} has no key on a US keyboard")
            code, shift = stroke
            self.key(code, *([k.KEY_LEFTSHIFT] if shift else []))
        return self

    def enter(self) -> Typist:
        """The suffix key."""
        return self.key(k.KEY_ENTER)

    def alt_code(self, digits: str) -> Typist:
        """Alt held, the digits on the keypad (``+`` first: hex, letters from the main keys), Alt up."""
        self._report(k.KEY_LEFTALT, 1)
        for d in digits:
            if d == "+":
                code = k.KEY_KPPLUS
            elif d.isdigit():
                code = next(c for c, ch in k.KEYPAD_DIGITS.items() if ch == d)
            else:
                code = k.keystrokes(d.lower())[0]  # type: ignore[index]
            self._report(code, 1)
            self._report(code, 0)
        self._report(k.KEY_LEFTALT, 0)
        return self

    def pause(self, ms: int) -> Typist:
        """Nothing for ``ms`` milliseconds."""
        self.t_us += ms * 1000
        return self

    def idle(self) -> Typist:
        """The reader's select timed out (a ``None`` tick)."""
        self.events.append(None)
        return self


SYNTHETIC = "synthesised in hid-input's report shape (tests/utils/scanner_events.py); no physical scanner"

#: A fictitious citizen's căn cước QR, laid out as on the chip-based card:
#: id | old id | name | birth | sex | address | issued.
CCCD_QR = "001090012345|012345678|Nguyễn Văn An|01011990|Nam|Số 1, phố Hàng Bạc, Hoàn Kiếm, Hà Nội|15082021"


def _typed_unicode(t: Typist, text: str) -> Typist:
    for ch in text:
        if ord(ch) < 128:
            t.text(ch)
        else:
            t.alt_code(str(ord(ch)))
    return t


def _typed_utf8(t: Typist, text: str) -> Typist:
    for ch in text:
        if ord(ch) < 128:
            t.text(ch)
        else:
            for byte in ch.encode("utf-8"):
                t.alt_code(f"{byte:03d}")
    return t


def build_fixture() -> list[dict[str, object]]:
    """The entries of tests/fixtures/scanner_hid_events.json."""
    from device_drivers.scanner.recording import Recording

    url = "https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html?maHoSo=000.00.12.H23-241204-0003"
    entries: list[tuple[str, Typist, str, bool, dict[str, object]]] = [
        ("booking-code", Typist().text("DL24120400017").enter(), "DL24120400017", True, {}),
        ("receipt-url-mixed-case", Typist().text(url).enter(), url, True, {}),
        (
            "caps-lock-toggled-by-scanner",
            Typist().key(k.KEY_CAPSLOCK).text("dl24120400017").key(k.KEY_CAPSLOCK).enter(),
            "DL24120400017",
            True,
            {},
        ),
        ("cut-short-then-silence", Typist().text("DL2412").idle(), "DL2412", False, {}),
        (
            "gs1-group-separator",
            Typist().text("0108936").key(27, k.KEY_LEFTCTRL).text("17261231").enter(),
            "0108936\x1d17261231",
            True,
            {},
        ),
        (
            "alt-codes-windows",
            Typist()
            .text("Nguy")
            .alt_code("7877")
            .text("n V")
            .alt_code("0259")
            .text("n Ph")
            .alt_code("0250")
            .text("c")
            .enter(),
            "Nguyễn Văn Phúc",
            True,
            {"alt_codes": "windows"},
        ),
        ("alt-hex", Typist().text("Nguy").alt_code("+1ec5").text("n").enter(), "Nguyễn", True, {}),
        (
            "alt-codes-utf8-bytes",
            _typed_utf8(Typist(), "Lê Thị Hồng").enter(),
            "Lê Thị Hồng",
            True,
            {"alt_codes": "utf8"},
        ),
        (
            "cccd-qr-alt-unicode",
            _typed_unicode(Typist(step_us=1000), CCCD_QR).enter(),
            CCCD_QR,
            True,
            {"alt_codes": "unicode"},
        ),
        ("function-key-inside", Typist().text("DL24").key(59).text("120400017").enter(), None, True, {}),
    ]
    out = []
    for name, typist, expected, complete, settings in entries:
        rec = Recording(name, typist.events, expected, complete, SYNTHETIC, dict(settings))
        out.append(rec.as_json())
    return out


if __name__ == "__main__":  # python -m tests.utils.scanner_events > tests/fixtures/scanner_hid_events.json
    import json

    print(json.dumps({"recordings": build_fixture()}, ensure_ascii=False))

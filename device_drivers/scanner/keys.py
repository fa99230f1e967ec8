"""Key events to scans: the pure decoder behind the ``hid`` backend (keyboard-wedge scanners).

A keyboard-wedge scanner types each code as key presses on a US layout and ends it with a suffix
key (Enter by default). :class:`KeyDecoder` takes the events the kernel reports (anything with
``type``, ``code``, ``value`` and ``sec``/``usec``, e.g. ``evdev.InputEvent``) and returns scans.
It handles Shift, Caps Lock that the scanner toggles itself, Ctrl + key as control characters (GS1
group separators) and Alt codes on the keypad (below). A pause longer than ``timeout_s`` between
two keys, or :meth:`KeyDecoder.idle` when the reader saw nothing for that long, ends a code without
its suffix: ``complete=False``.

**Alt codes.** A scanner cannot type "ầ" on a US layout; some send it as Alt held + the number
on the keypad. ``alt_codes`` says what the number means:

- ``windows`` (default): what Windows does: with a leading 0 and up to 255 it is a Windows-1252
  byte (Alt+0233 = "é"), otherwise up to 255 an OEM code-page 437 character (Alt+130 = "é"),
  above 255 the Unicode code point (Alt+7847 = "ầ");
- ``unicode``: always the Unicode code point in decimal;
- ``utf8``: each Alt code is one byte of UTF-8 (scanners' "UTF-8 as Alt+keypad" output); the
  bytes are joined, then decoded.

In every mode Alt + keypad ``+`` + hex digits is a Unicode code point in hex (Windows'
"EnableHexNumpad" input). A number that is no character gives U+FFFD and ``error="undecodable"``,
as does a key with no character (F1, arrows, Backspace).
"""

from __future__ import annotations

from typing import Literal, Protocol

from device_drivers.scanner import keymap as k
from device_drivers.scanner.base import Scan, ScanError, normalise

KeySuffix = Literal["enter", "tab", "none"]
KEY_SUFFIXES: tuple[KeySuffix, ...] = ("enter", "tab", "none")
AltCodes = Literal["windows", "unicode", "utf8"]
ALT_CODE_MODES: tuple[AltCodes, ...] = ("windows", "unicode", "utf8")

REPLACEMENT = "\ufffd"
HEX_DIGITS = "0123456789abcdef"


class InputEventLike(Protocol):
    """What the decoder reads of an event: ``evdev.InputEvent`` and recorded events both have it."""

    @property
    def sec(self) -> int: ...
    @property
    def usec(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def value(self) -> int: ...


class KeyDecoder:
    """Turns key events into :class:`Scan` s. Pure: no I/O, time from the events' own timestamps."""

    def __init__(
        self,
        source: str,
        suffix: KeySuffix = "enter",
        timeout_s: float = 0.1,
        alt_codes: AltCodes = "windows",
        max_length: int = 4096,
    ) -> None:
        if suffix not in KEY_SUFFIXES:
            raise ValueError(f"suffix: expected one of {', '.join(KEY_SUFFIXES)}, got {suffix!r}")
        if alt_codes not in ALT_CODE_MODES:
            raise ValueError(f"alt_codes: expected one of {', '.join(ALT_CODE_MODES)}, got {alt_codes!r}")
        self.source = source
        self.suffix = suffix
        self.timeout_s = timeout_s
        self.alt_codes = alt_codes
        self.max_length = max_length
        self._held: set[int] = set()
        self._caps = False
        self._text: list[str] = []
        self._length = 0
        self._bytes = bytearray()  # utf8 Alt codes not yet decoded
        self._alt: str | None = None  # keypad digits typed with Alt held ("+" first: hex)
        self._error: ScanError | None = None
        self._overflow = False
        self._last: float | None = None
        #: Keys seen that have no character (their codes), for a technician's log line.
        self.unknown_codes: list[int] = []

    @property
    def pending(self) -> bool:
        """True while part of a code waits for its suffix."""
        return bool(self._text or self._bytes or self._alt or self._error or self._overflow)

    def reset(self) -> None:
        """Forget a half-typed code and the held keys (the device went away)."""
        self._held.clear()
        self._caps = False
        self._clear()
        self._last = None

    # -- input ---------------------------------------------------------------------------------
    def feed(self, event: InputEventLike) -> list[Scan]:
        """The scans this event ends (usually none; one on the suffix key)."""
        if event.type != k.EV_KEY:
            return []  # EV_SYN, EV_MSC scan codes, LEDs
        code, value = event.code, event.value
        if value == 0:
            self._held.discard(code)
            if code in k.ALT_KEYS and not self._held & k.ALT_KEYS:
                self._end_alt()
            return []
        if value != 1:
            return []  # auto-repeat: a scanner never holds a key; a stuck one must not type
        out: list[Scan] = []
        now = event.sec + event.usec / 1e6
        if self.pending and self._last is not None and now - self._last > self.timeout_s:
            out += self._flush(complete=self.suffix == "none")
        self._last = now
        self._held.add(code)
        out += self._press(code)
        return out

    def idle(self) -> Scan | None:
        """Nothing came for ``timeout_s``: end the pending code (``complete=False``, or True when the
        scanner has no suffix)."""
        if not self.pending:
            return None
        scans = self._flush(complete=self.suffix == "none")
        return scans[0] if scans else None

    # -- keys ----------------------------------------------------------------------------------
    def _press(self, code: int) -> list[Scan]:
        held = self._held
        if code in k.SHIFT_KEYS or code in k.CTRL_KEYS or code in k.IGNORED_KEYS:
            return []
        if code in k.ALT_KEYS:
            if self._alt is None:
                self._alt = ""
            return []
        if code == k.KEY_CAPSLOCK:
            self._caps = not self._caps
            return []
        if held & k.ALT_KEYS:
            self._alt_key(code)
            return []
        if code in (k.KEY_ENTER, k.KEY_KPENTER):
            if self.suffix == "enter":
                return self._flush(complete=True)
            self._add("\n")
            return []
        if code == k.KEY_TAB:
            if self.suffix == "tab":
                return self._flush(complete=True)
            self._add("\t")
            return []
        shift = bool(held & k.SHIFT_KEYS)
        if code in k.US_KEYS:
            plain, shifted = k.US_KEYS[code]
            if plain.isalpha() and self._caps:
                shift = not shift
            char = shifted if shift else plain
            if held & k.CTRL_KEYS:
                ctrl = k.CTRL_CHARS.get(char.lower() if char.isalpha() else char)
                if ctrl is None:
                    self._unknown(code)
                    return []
                char = ctrl
            self._add(char)
        elif code in k.KEYPAD:
            self._add(k.KEYPAD[code])
        else:
            self._unknown(code)
        return []

    def _alt_key(self, code: int) -> None:
        """A key typed while Alt is held: keypad digits (or ``+`` then hex digits) build a code."""
        alt = self._alt or ""
        if code == k.KEY_KPPLUS and not alt:
            self._alt = "+"
            return
        digit = k.KEYPAD_DIGITS.get(code)
        if digit is None and alt.startswith("+") and code in k.US_KEYS:
            ch = k.US_KEYS[code][0]
            digit = ch if ch in HEX_DIGITS else None
        if digit is None:
            self._unknown(code)  # Alt + a letter is a shortcut, never part of a code
            return
        self._alt = alt + digit

    def _end_alt(self) -> None:
        alt, self._alt = self._alt, None
        if not alt or alt == "+":
            return  # Alt pressed and released alone
        if alt.startswith("+"):
            self._char_code(int(alt[1:], 16))
            return
        number = int(alt)
        if self.alt_codes == "utf8":
            if number > 255:
                self._bad()
            elif not self._overflow:
                self._bytes.append(number)
            return
        if self.alt_codes == "windows" and number <= 255:
            codec = "cp1252" if alt.startswith("0") else "cp437"
            try:
                self._add(bytes([number]).decode(codec))
            except UnicodeDecodeError:  # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined
                self._bad()
            return
        self._char_code(number)

    def _char_code(self, number: int) -> None:
        if number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
            self._bad()
        else:
            self._add(chr(number))

    # -- the text ------------------------------------------------------------------------------
    def _add(self, char: str) -> None:
        self._decode_bytes()
        self._length += len(char.encode("utf-8"))
        if self._length > self.max_length:
            self._overflow = True  # keep counting, stop keeping: a runaway scanner costs no memory
            self._text.clear()
        if not self._overflow:
            self._text.append(char)

    def _decode_bytes(self) -> None:
        if self._bytes:
            raw, self._bytes = bytes(self._bytes), bytearray()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                self._error = self._error or "undecodable"
            self._add(text)

    def _bad(self) -> None:
        self._add(REPLACEMENT)
        self._error = self._error or "undecodable"

    def _unknown(self, code: int) -> None:
        if len(self.unknown_codes) < 64:
            self.unknown_codes.append(code)
        self._bad()

    def _clear(self) -> None:
        self._text.clear()
        self._bytes.clear()
        self._alt = None
        self._length = 0
        self._error = None
        self._overflow = False

    def _flush(self, complete: bool) -> list[Scan]:
        self._decode_bytes()
        text, error, overflow = "".join(self._text), self._error, self._overflow
        self._clear()
        if overflow:
            return [Scan("", complete, self.source, "too_long")]
        if not text:
            return []  # an Enter alone
        return [Scan(normalise(text), complete, self.source, error)]

"""Generic serial frame adapter for the many vendor LED boards that take a text frame per row.

The frame is a template with placeholders (``str.format`` syntax, format specs allowed except on
``{checksum}``)::

    display = { backend = "ascii", port = "/dev/ttyUSB0", address = 1, cols = 8,
                template = "{stx}{addr:02d}{line}{blink}{text}{etx}{checksum}",
                checksum = "xor", checksum_format = "hex", checksum_from = 1 }

=============== =============================================================================
placeholder     value
=============== =============================================================================
``{text}``      the row, shaped to exactly ``cols`` characters and encoded in ``charset``
``{addr}``      ``address`` (an integer: ``{addr:02d}``, ``{addr:02X}``)
``{line}``      the row number, ``first_line`` for the top row
``{blink}``     ``blink_on`` or ``blink_off``
``{brightness}`` in ``brightness_template`` only: 0..``brightness_max``
``{checksum}``  the checksum of the bytes before it, from byte ``checksum_from`` on
``{stx}`` ``{etx}`` ``{cr}`` ``{lf}``  0x02, 0x03, 0x0D, 0x0A
=============== =============================================================================

Template characters U+0000-U+00FF stand for the bytes 0x00-0xFF (so ``"\\u00AA"`` in TOML is byte
0xAA); only ``{text}`` is encoded with ``charset``. ``checksum`` is ``none``, ``xor``, ``sum8`` or
``crc16-modbus`` (two bytes in ``checksum_order``), sent as raw bytes or as upper-case hex digits
(``checksum_format``). ``line_ending`` follows every frame, outside the checksum. When ``ack`` is
set, the board must answer each frame with exactly those bytes within ``timeout``.
"""

from __future__ import annotations

import logging
import string
from typing import Any, Literal

from pydantic import Field, model_validator

from device_drivers.display.base import DisplayInfo, LedDisplay
from device_drivers.display.checksums import ChecksumKind, checksum_bytes
from device_drivers.display.errors import DisplayProtocolError, DisplayTimeout
from device_drivers.display.params import parse_params
from device_drivers.display.serial_link import SerialLink, SerialParams
from device_drivers.display.text import ASCII, SEVEN_SEG, Align, check_charset, scale_percent

log = logging.getLogger("onestop.display.ascii")

DEFAULT_TEMPLATE = "{stx}{addr:02d}{line}{blink}{text}{etx}{checksum}"
CONTROL = {"stx": "\x02", "etx": "\x03", "cr": "\r", "lf": "\n"}
FRAME_FIELDS = frozenset({"text", "addr", "line", "blink", "checksum", *CONTROL})
BRIGHTNESS_FIELDS = frozenset({"brightness", "addr", "checksum", *CONTROL})

#: One piece of a parsed template: literal text, or (field name, format spec).
Piece = str | tuple[str, str]


def parse_template(template: str, allowed: frozenset[str], name: str = "template") -> list[Piece]:
    """The template's pieces; ``ValueError`` for unknown or computed fields and a formatted checksum."""
    pieces: list[Piece] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            pieces.append(literal)
        if field is None:
            continue
        if field not in allowed or conversion:
            known = ", ".join("{" + f + "}" for f in sorted(allowed))
            raise ValueError(f"{name}: unknown placeholder {{{field}}}; known: {known}")
        if field == "checksum" and spec:
            raise ValueError(f"{name}: {{checksum}} takes no format spec; see checksum_format")
        pieces.append((field, spec or ""))
    if sum(1 for p in pieces if isinstance(p, tuple) and p[0] == "checksum") > 1:
        raise ValueError(f"{name}: {{checksum}} may appear only once")
    return pieces


class AsciiParams(SerialParams):
    """``display = { backend = "ascii", ... }``: the serial link, the geometry and the frame."""

    address: int = Field(default=1, ge=0, le=0xFFFF)
    rows: int = Field(default=1, ge=1, le=64)
    cols: int = Field(default=8, ge=1, le=512)
    #: ``ascii`` folds Vietnamese ("Quầy" → "Quay"); ``7seg`` also limits to the 7-segment font;
    #: a codec name (``utf-8``, ``cp1258``) sends the text as is in that encoding.
    charset: str = ASCII
    align: Align = "left"
    template: str = DEFAULT_TEMPLATE
    checksum: ChecksumKind = "xor"
    checksum_format: Literal["hex", "raw"] = "hex"
    checksum_order: Literal["little", "big"] = "little"
    checksum_from: int = Field(default=1, ge=0)
    line_ending: str = ""
    first_line: int = Field(default=1, ge=0)
    blink_on: str = "1"
    blink_off: str = "0"
    brightness_template: str = ""
    brightness_max: int = Field(default=7, ge=1, le=0xFFFF)
    ack: str = ""
    retries: int = Field(default=1, ge=0, le=5)

    @model_validator(mode="after")
    def _check(self) -> AsciiParams:
        check_charset(self.charset)
        pieces = parse_template(self.template, FRAME_FIELDS)
        fields = {p[0] for p in pieces if isinstance(p, tuple)}
        if "text" not in fields:
            raise ValueError("template: needs a {text} placeholder")
        if self.rows > 1 and "line" not in fields:
            raise ValueError("template: a board of several rows needs a {line} placeholder")
        if self.checksum != "none" and "checksum" not in fields:
            raise ValueError(f"template: checksum {self.checksum!r} needs a {{checksum}} placeholder")
        if self.brightness_template:
            bright = parse_template(self.brightness_template, BRIGHTNESS_FIELDS, "brightness_template")
            if "brightness" not in {p[0] for p in bright if isinstance(p, tuple)}:
                raise ValueError("brightness_template: needs a {brightness} placeholder")
        for text in (self.line_ending, self.blink_on, self.blink_off, self.ack, self.template):
            _latin1(text)
        # A trial frame finds format specs that do not suit their value ({text:02d}).
        AsciiFrameEncoder(self).frame("", 0, False)
        if self.brightness_template:
            AsciiFrameEncoder(self).brightness_frame(0)
        return self


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{text!r}: frame characters must be U+0000-U+00FF (one byte each)") from None


class AsciiFrameEncoder:
    """Builds the frames for shaped rows, per :class:`AsciiParams`. Pure."""

    def __init__(self, params: AsciiParams) -> None:
        self.params = params
        self._frame = parse_template(params.template, FRAME_FIELDS)
        self._bright = (
            parse_template(params.brightness_template, BRIGHTNESS_FIELDS, "brightness_template")
            if params.brightness_template
            else []
        )

    def frames(self, lines: list[str], blink: bool) -> list[bytes]:
        """One frame per shaped row, top row first."""
        return [self.frame(line, row, blink) for row, line in enumerate(lines)]

    def frame(self, text: str, row: int, blink: bool) -> bytes:
        """The frame that puts ``text`` (already shaped) on ``row`` (0-based)."""
        p = self.params
        values: dict[str, Any] = {
            "text": text,
            "addr": p.address,
            "line": p.first_line + row,
            "blink": p.blink_on if blink else p.blink_off,
        }
        return self._render(self._frame, values)

    def brightness_frame(self, percent: int) -> bytes:
        """The frame that sets the brightness to ``percent`` of ``brightness_max``."""
        p = self.params
        values = {"brightness": scale_percent(percent, p.brightness_max), "addr": p.address}
        return self._render(self._bright, values)

    def _render(self, pieces: list[Piece], values: dict[str, Any]) -> bytes:
        p = self.params
        before = bytearray()
        after = bytearray()
        out = before
        for piece in pieces:
            if isinstance(piece, str):
                out += _latin1(piece)
                continue
            name, spec = piece
            if name == "checksum":
                out = after
            elif name in CONTROL:
                out += _latin1(format(CONTROL[name], spec))
            elif name == "text":
                codec = "ascii" if p.charset in (ASCII, SEVEN_SEG) else p.charset
                out += format(values["text"], spec).encode(codec, errors="replace")
            else:
                out += _latin1(format(values[name], spec))
        check = checksum_bytes(p.checksum, bytes(before[p.checksum_from :]), p.checksum_order)
        if p.checksum_format == "hex":
            check = check.hex().upper().encode("ascii")
        has_checksum = any(isinstance(x, tuple) and x[0] == "checksum" for x in pieces)
        return bytes(before) + (check if has_checksum else b"") + bytes(after) + _latin1(p.line_ending)


class AsciiFrameDisplay(LedDisplay):
    """A board driven by :class:`AsciiFrameEncoder` frames over a serial port."""

    backend = "ascii"

    def __init__(self, params: AsciiParams | dict[str, Any]) -> None:
        self.params = params if isinstance(params, AsciiParams) else parse_params(AsciiParams, params)
        p = self.params
        fields = {x[0] for x in parse_template(p.template, FRAME_FIELDS) if isinstance(x, tuple)}
        super().__init__(
            DisplayInfo(
                backend=self.backend,
                rows=p.rows,
                cols=p.cols,
                charset=p.charset,
                blink="blink" in fields,
                brightness=bool(p.brightness_template),
                align=p.align,
            )
        )
        self.encoder = AsciiFrameEncoder(p)
        self.link = SerialLink(p)
        self._ack = _latin1(p.ack)

    def _do_open(self) -> None:
        self.link.open()

    def _do_close(self) -> None:
        self.link.close()

    def _show(self, lines: list[str], blink: bool) -> None:
        for frame in self.encoder.frames(lines, blink):
            self.send(frame)

    def _brightness(self, percent: int) -> None:
        self.send(self.encoder.brightness_frame(percent))

    def send(self, frame: bytes) -> None:
        """Send one frame; with ``ack`` set, wait for it (retrying a silent board)."""
        with self._lock:
            self._require_open()
            attempt = 0
            while True:
                try:
                    self._once(frame)
                    return
                except DisplayTimeout as exc:
                    if attempt >= self.params.retries:
                        raise
                    attempt += 1
                    log.info("ascii display %s: %s; retry %d", self.params.port, exc, attempt)

    def _once(self, frame: bytes) -> None:
        if self._ack:
            self.link.discard_input()
        log.debug("ascii → %r", frame)
        self.link.write(frame)
        if not self._ack:
            return
        answer = self.link.read(len(self._ack))
        if len(answer) < len(self._ack):
            got = f"; got only {answer!r}" if answer else ""
            raise DisplayTimeout(
                f"display {self.params.address} on {self.params.port} did not acknowledge within "
                f"{self.params.timeout} s{got}"
            )
        if answer != self._ack:
            raise DisplayProtocolError(
                f"display {self.params.address} answered {answer!r}, not {self._ack!r}"
            )

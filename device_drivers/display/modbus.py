"""Modbus RTU displays over RS-485: 7-segment counter displays and multi-line text cards.

Which registers hold what is a *profile* (:class:`ModbusProfile`): a built-in one by name
(:data:`PROFILES`), or a table in ``site.toml`` that starts from one and changes what a vendor
does differently::

    display = { backend = "modbus", port = "/dev/ttyUSB0", slave = 3, profile = "counter-7seg" }
    display = { backend = "modbus", port = "/dev/ttyUSB0", slave = 9,
                profile = { base = "text-card", rows = 4, cols = 20, blink_register = 40 } }

Showing text writes each row with 0x10 Write Multiple Registers (after a 0x06 to the row-select
register when the profile has one), then the blink register and the commit register with 0x06.
The frames are built by :class:`ModbusEncoder` (pure, tested byte for byte); :class:`ModbusDisplay`
sends them one at a time and checks every answer.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from device_drivers.display.base import DisplayInfo, LedDisplay
from device_drivers.display.errors import (
    DisplayConfigError,
    DisplayCrcError,
    DisplayProtocolError,
    DisplayTimeout,
)
from device_drivers.display.modbus_rtu import (
    ANSWER_LEN,
    BROADCAST,
    EXCEPTION_LEN,
    MAX_WRITE_REGISTERS,
    Request,
    check_answer,
    write_multiple_registers,
    write_single_register,
)
from device_drivers.display.params import parse_params
from device_drivers.display.serial_link import SerialLink, SerialParams
from device_drivers.display.text import (
    ASCII,
    SEVEN_SEG,
    SEVEN_SEG_FONT,
    Align,
    WarnOnce,
    check_charset,
    scale_percent,
)

log = logging.getLogger("onestop.display.modbus")

Cell = Literal["segments", "code", "packed", "packed-le"]
Register = int


class ModbusProfile(BaseModel):
    """A display's register map. Addresses are 0-based protocol addresses ("40001" is 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: How a row's characters become registers: ``segments`` one register per digit holding its
    #: segment bitmap (bit 0 = a ... bit 6 = g); ``code`` one register per character holding its
    #: code in ``charset``; ``packed`` two bytes per register, first byte high; ``packed-le`` first
    #: byte low.
    cell: Cell = "segments"
    rows: int = Field(default=1, ge=1, le=64)
    cols: int = Field(default=4, ge=1, le=246)
    #: ``ascii`` (Vietnamese folded) or a single-byte codec for ``code``; any codec for ``packed``.
    charset: str = ASCII
    #: Default: right for ``segments`` (numbers), left otherwise.
    align: Align | None = None
    #: First register of row 1 (or of the row buffer when ``row_select_register`` is set).
    text_register: Register = Field(default=0, ge=0, le=0xFFFF)
    #: Registers from one row's first register to the next row's (default: the row's own size).
    row_stride: int | None = Field(default=None, ge=1, le=0xFFFF)
    #: When set, each row is written to ``text_register`` after writing its index (0-based) here.
    row_select_register: Register | None = Field(default=None, ge=0, le=0xFFFF)
    #: Bytes per ``packed`` row (default ``cols``); UTF-8 text may need more.
    row_bytes: int | None = Field(default=None, ge=1, le=1024)
    #: Byte that fills the rest of a ``packed``/``code`` row.
    pad: int = Field(default=0x20, ge=0, le=0xFF)
    blink_register: Register | None = Field(default=None, ge=0, le=0xFFFF)
    blink_on: int = Field(default=1, ge=0, le=0xFFFF)
    blink_off: int = Field(default=0, ge=0, le=0xFFFF)
    brightness_register: Register | None = Field(default=None, ge=0, le=0xFFFF)
    #: The register value of full brightness; 0 % writes 0.
    brightness_max: int = Field(default=7, ge=1, le=0xFFFF)
    #: When set, ``commit_value`` is written here after each update (boards that latch new text).
    commit_register: Register | None = Field(default=None, ge=0, le=0xFFFF)
    commit_value: int = Field(default=1, ge=0, le=0xFFFF)

    @model_validator(mode="after")
    def _consistent(self) -> ModbusProfile:
        check_charset(self.charset)
        if self.cell == "segments" and self.charset not in (ASCII, SEVEN_SEG):
            raise ValueError("a 'segments' display draws its own font; leave charset unset")
        stride = self.row_stride
        if self.rows > 1 and self.row_select_register is None and stride and stride < self.row_registers:
            raise ValueError(
                f"row_stride {self.row_stride} is smaller than a row ({self.row_registers} registers)"
            )
        return self

    @property
    def row_registers(self) -> int:
        """How many registers one row takes."""
        if self.cell in ("packed", "packed-le"):
            return (self.byte_count + 1) // 2
        return self.cols

    @property
    def byte_count(self) -> int:
        """Bytes per ``packed`` row."""
        return self.row_bytes or self.cols

    @property
    def display_charset(self) -> str:
        """The charset text is shaped for: ``7seg`` for segment displays, else ``charset``."""
        return SEVEN_SEG if self.cell == "segments" else self.charset

    @property
    def display_align(self) -> Align:
        """The alignment in effect."""
        return self.align or ("right" if self.cell == "segments" else "left")

    def row_start(self, row: int) -> int:
        """The first register of ``row`` (0-based)."""
        if self.row_select_register is not None:
            return self.text_register
        return self.text_register + row * (self.row_stride or self.row_registers)


#: Built-in register maps. Any of them can be the ``base`` of a site's own profile table.
PROFILES: dict[str, ModbusProfile] = {
    # 4-digit 7-segment counter display (DM36/DM56 style): digit registers 0-3, left to right.
    "counter-7seg": ModbusProfile(
        cell="segments", rows=1, cols=4, text_register=0, blink_register=16, brightness_register=17
    ),
    # Same board with its own font: one ASCII code per digit register.
    "counter-ascii": ModbusProfile(
        cell="code", rows=1, cols=4, text_register=0, blink_register=16, brightness_register=17
    ),
    # Text card: row r at 256 + 32 r, 16 characters packed two per register (first one high).
    "text-card": ModbusProfile(
        cell="packed",
        rows=2,
        cols=16,
        text_register=256,
        row_stride=32,
        blink_register=16,
        brightness_register=17,
        brightness_max=15,
    ),
    # Text card with one row buffer at 256 and a row-select register at 18.
    "text-card-select": ModbusProfile(
        cell="packed",
        rows=2,
        cols=16,
        text_register=256,
        row_select_register=18,
        blink_register=16,
        brightness_register=17,
        brightness_max=15,
    ),
}


def resolve_profile(value: str | dict[str, Any]) -> ModbusProfile:
    """A built-in profile by name, or a table (optionally ``base = "<name>"`` plus changes)."""
    known = ", ".join(sorted(PROFILES))
    if isinstance(value, str):
        if value not in PROFILES:
            raise DisplayConfigError(f"display.profile: unknown profile {value!r}; known: {known}")
        return PROFILES[value]
    fields = dict(value)
    base_name = fields.pop("base", None)
    base: dict[str, Any] = {}
    if base_name is not None:
        if base_name not in PROFILES:
            raise DisplayConfigError(f"display.profile.base: unknown profile {base_name!r}; known: {known}")
        base = PROFILES[base_name].model_dump(exclude_defaults=True)
    try:
        return ModbusProfile.model_validate({**base, **fields})
    except ValidationError as exc:
        problems = [
            "display.profile"
            + "".join(f".{p}" for p in e["loc"])
            + ": "
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise DisplayConfigError("; ".join(problems)) from None


class ModbusEncoder:
    """Turns shaped rows, blink and brightness into Modbus requests for one profile and slave."""

    def __init__(self, profile: ModbusProfile, slave: int, warn: WarnOnce | None = None) -> None:
        self.profile = profile
        self.slave = slave
        self._warn = warn or WarnOnce(log)

    def show(self, lines: list[str], blink: bool) -> list[Request]:
        """The requests that put ``lines`` (already shaped: rows × cols) up, then set blinking."""
        p = self.profile
        out: list[Request] = []
        for row, line in enumerate(lines[: p.rows]):
            if p.row_select_register is not None:
                out.append(self._single(p.row_select_register, row, f"select row {row + 1}"))
            values = self.row_values(line)
            start = p.row_start(row)
            for i in range(0, len(values), MAX_WRITE_REGISTERS):
                chunk = values[i : i + MAX_WRITE_REGISTERS]
                frame = write_multiple_registers(self.slave, start + i, chunk)
                out.append(Request(frame, f"row {row + 1} text"))
        if p.blink_register is not None:
            out.append(self._single(p.blink_register, p.blink_on if blink else p.blink_off, "blink"))
        out.extend(self._commit())
        return out

    def brightness(self, percent: int) -> list[Request]:
        """The requests that set the brightness to ``percent`` of ``brightness_max``."""
        p = self.profile
        if p.brightness_register is None:
            return []
        value = scale_percent(percent, p.brightness_max)
        return [self._single(p.brightness_register, value, "brightness"), *self._commit()]

    def row_values(self, line: str) -> list[int]:
        """The register values of one shaped row."""
        p = self.profile
        if p.cell == "segments":
            return [SEVEN_SEG_FONT[ch] for ch in line]
        if p.cell == "code":
            return [self._code(ch) for ch in line]
        data = self._row_bytes(line)
        if len(data) % 2:
            data += bytes([p.pad])
        first_high = p.cell == "packed"
        return [
            (data[i] << 8 | data[i + 1]) if first_high else (data[i + 1] << 8 | data[i])
            for i in range(0, len(data), 2)
        ]

    def _code(self, ch: str) -> int:
        encoded = ch.encode(self._codec(), errors="replace")
        if len(encoded) != 1:
            self._warn(
                f"code:{ch}", "charset %s has no one-byte code for %r; '?' is sent", self.profile.charset, ch
            )
            return ord("?")
        return encoded[0]

    def _codec(self) -> str:
        return "ascii" if self.profile.charset == ASCII else self.profile.charset

    def _row_bytes(self, line: str) -> bytes:
        """The row as bytes: cut at a character boundary to ``byte_count``, then padded."""
        p = self.profile
        size = p.byte_count
        data = line.encode(self._codec(), errors="replace")
        keep_end = p.display_align == "right"
        chars = line
        while len(data) > size:
            chars = chars[1:] if keep_end else chars[:-1]
            data = chars.encode(self._codec(), errors="replace")
        fill = bytes([p.pad]) * (size - len(data))
        return fill + data if keep_end else data + fill

    def _single(self, register: int, value: int, what: str) -> Request:
        return Request(write_single_register(self.slave, register, value), what)

    def _commit(self) -> list[Request]:
        p = self.profile
        if p.commit_register is None:
            return []
        return [self._single(p.commit_register, p.commit_value, "commit")]


class ModbusParams(SerialParams):
    """``display = { backend = "modbus", ... }``: the serial link, the slave and the register map."""

    #: Slave address 1-247; 0 broadcasts to every display on the bus (none answers).
    slave: int = Field(default=1, ge=0, le=247)
    #: How many times a request that timed out or came back garbled is sent again.
    retries: int = Field(default=1, ge=0, le=5)
    #: Adapters that hear their own transmission (2-wire RS-485 without echo suppression).
    local_echo: bool = False
    profile: str | dict[str, Any] = "counter-7seg"


class ModbusDisplay(LedDisplay):
    """A Modbus RTU display: requests built by :class:`ModbusEncoder`, each answer checked."""

    backend = "modbus"

    def __init__(self, params: ModbusParams | dict[str, Any]) -> None:
        self.params = params if isinstance(params, ModbusParams) else parse_params(ModbusParams, params)
        self.profile = resolve_profile(self.params.profile)
        p = self.profile
        super().__init__(
            DisplayInfo(
                backend=self.backend,
                rows=p.rows,
                cols=p.cols,
                charset=p.display_charset,
                blink=p.blink_register is not None,
                brightness=p.brightness_register is not None,
                align=p.display_align,
            )
        )
        self.encoder = ModbusEncoder(p, self.params.slave, self._warn)
        self.link = SerialLink(self.params)
        # Modbus RTU frames are delimited by 3.5 characters of silence (1.75 ms above 19200 baud).
        self._gap_s = 3.5 * self.link.char_time_s if self.params.baudrate <= 19200 else 0.00175

    def _do_open(self) -> None:
        self.link.open()

    def _do_close(self) -> None:
        self.link.close()

    def _show(self, lines: list[str], blink: bool) -> None:
        for request in self.encoder.show(lines, blink):
            self.transact(request)

    def _brightness(self, percent: int) -> None:
        for request in self.encoder.brightness(percent):
            self.transact(request)

    def transact(self, request: Request) -> None:
        """Send one request and check its answer, retrying timeouts and garbled answers."""
        with self._lock:
            self._require_open()
            attempt = 0
            while True:
                try:
                    self._once(request)
                    return
                except (DisplayTimeout, DisplayCrcError) as exc:
                    if attempt >= self.params.retries:
                        raise
                    attempt += 1
                    log.info("modbus display %s: %s; retry %d", self.params.port, exc, attempt)

    def _once(self, request: Request) -> None:
        frame = request.frame
        link = self.link
        link.quiet_gap(self._gap_s)
        link.discard_input()
        log.debug("modbus → %s (%s)", frame.hex(" "), request.what)
        link.write(frame)
        if self.params.local_echo:
            echo = link.read(len(frame))
            if echo != frame:
                raise DisplayProtocolError(
                    f"local echo {echo.hex(' ')} differs from what was sent; is local_echo right?"
                )
        if self.params.slave == BROADCAST:
            return
        answer = link.read(EXCEPTION_LEN)
        if len(answer) == EXCEPTION_LEN and answer[1] == frame[1]:
            answer += link.read(ANSWER_LEN - EXCEPTION_LEN)
        log.debug("modbus ← %s", answer.hex(" "))
        if len(answer) < EXCEPTION_LEN or (answer[1] == frame[1] and len(answer) < ANSWER_LEN):
            got = f"; got only {answer.hex(' ')}" if answer else ""
            raise DisplayTimeout(
                f"display {self.params.slave} on {self.params.port} did not answer ({request.what}) "
                f"within {self.params.timeout} s{got}"
            )
        check_answer(frame, answer)

"""The ``scanner`` table of a device in site.toml: one parameter model per backend.

:func:`parse_params` is what both :func:`onestop.config.load` (so that a bad table stops the site
file, with the key path) and :func:`device_drivers.scanner.make_scanner` use. It imports nothing of
the suite but pydantic, so that the site configuration can call it.

==========  =================================================================================
backend     parameters
==========  =================================================================================
hid         ``path`` (an event device, e.g. /dev/input/by-id/usb-…-event-kbd) or ``name`` (a part of
            the device's name) and/or ``vendor_id``/``product_id``; ``suffix`` ("enter" | "tab" |
            "none"), ``timeout_ms`` (100), ``alt_codes`` ("windows" | "unicode" | "utf8"),
            ``grab`` (true), ``max_length`` (4096), ``poll_s`` (1)
serial      ``port`` (required, e.g. /dev/ttyACM0), ``baudrate`` (9600), ``suffix`` ("auto" |
            "cr" | "lf" | "crlf" | "none"), ``timeout_ms`` (100), ``max_length`` (4096), ``poll_s`` (1)
sim         ``name`` (scanners with one name are one scanner: :func:`sim.sim_scanner`), ``fifo``
            (a named pipe whose lines are scanned), ``suffix``, ``timeout_ms``, ``max_length``
==========  =================================================================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from device_drivers.scanner.errors import ScannerConfigError

BACKEND_NAMES = ("hid", "serial", "sim")

_FRIENDLY = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a text in quotes",
}


def _usb_id(value: Any) -> Any:
    """USB ids as numbers or strings like ``"0x0c2e"`` / ``"0c2e"`` (as ``lsusb`` shows them)."""
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            raise ValueError(f"expected a USB id such as 0x0c2e or '0c2e', got {value!r}") from None
    return value


UsbId = Annotated[int, BeforeValidator(_usb_id), Field(ge=0, le=0xFFFF)]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str
    #: Silence after which a code without its suffix ends (``complete=False``).
    timeout_ms: int = Field(default=100, ge=10, le=10_000)
    #: Longer codes (in UTF-8 bytes) become one ``too_long`` scan.
    max_length: int = Field(default=4096, ge=16, le=1_000_000)

    @property
    def timeout_s(self) -> float:
        """:attr:`timeout_ms` in seconds."""
        return self.timeout_ms / 1000


class HidParams(_Common):
    """``scanner = { backend = "hid", ... }``: a USB keyboard-wedge scanner through evdev."""

    backend: Literal["hid"] = "hid"
    path: str | None = None
    name: str | None = Field(default=None, min_length=1)
    vendor_id: UsbId | None = None
    product_id: UsbId | None = None
    suffix: Literal["enter", "tab", "none"] = "enter"
    alt_codes: Literal["windows", "unicode", "utf8"] = "windows"
    #: Take the device for this process alone, so that keystrokes never reach the screen.
    grab: bool = True
    #: Seconds between two looks for an absent scanner.
    poll_s: float = Field(default=1.0, gt=0, le=60)
    #: Where to look for it by name or USB id (besides every /dev/input/event*).
    by_id_dir: str = "/dev/input/by-id"

    @model_validator(mode="after")
    def _how_to_find(self) -> HidParams:
        if self.path is None and self.name is None and self.vendor_id is None:
            raise ValueError(
                "say which input device: path = '/dev/input/by-id/usb-…-event-kbd', or name = '…' "
                "(part of its name), or vendor_id = 0x… (see `ls -l /dev/input/by-id`)"
            )
        if self.product_id is not None and self.vendor_id is None:
            raise ValueError("product_id needs vendor_id")
        return self


class SerialParams(_Common):
    """``scanner = { backend = "serial", port = "/dev/ttyACM0" }``: a serial or USB-CDC scanner."""

    backend: Literal["serial"] = "serial"
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    suffix: Literal["auto", "cr", "lf", "crlf", "none"] = "auto"
    poll_s: float = Field(default=1.0, gt=0, le=60)


class SimParams(_Common):
    """``scanner = { backend = "sim" }``: scans fed by a test, the demo, or lines written to ``fifo``."""

    backend: Literal["sim"] = "sim"
    name: str = ""
    fifo: str | None = Field(default=None, min_length=1)
    suffix: Literal["auto", "cr", "lf", "crlf", "none"] = "auto"


Params = HidParams | SerialParams | SimParams
_MODELS: dict[str, type[HidParams] | type[SerialParams] | type[SimParams]] = {
    "hid": HidParams,
    "serial": SerialParams,
    "sim": SimParams,
}


def parse_params(table: dict[str, Any]) -> Params:
    """The parameters of a ``scanner`` table (with its ``backend``, "sim" when absent), or a
    :class:`ScannerConfigError` listing each bad key."""
    data = {"backend": "sim", **table}
    backend = data["backend"]
    model = _MODELS.get(backend) if isinstance(backend, str) else None
    if model is None:
        raise ScannerConfigError(
            [("backend", f"expected one of {', '.join(BACKEND_NAMES)}, got {backend!r}")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"])
            msg = _FRIENDLY.get(e["type"]) or str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                allowed = ", ".join(sorted(model.model_fields))
                msg = f"unknown parameter for the {backend} backend (allowed: {allowed})"
            elif e["type"] == "missing":
                msg = f"required by the {backend} backend"
            elif "input" in e and not isinstance(e["input"], dict) and "got " not in msg:
                msg += f", got {e['input']!r}"
            problems.append((key, msg))
        raise ScannerConfigError(problems) from None

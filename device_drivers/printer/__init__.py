"""Receipt printers: one interface (:class:`Printer`), backends chosen by name, a simulator, and fakes.

``open_printer(device.printer)`` returns an open printer for a device's ``printer`` table in site.toml
(``backend = "usb" | "serial" | "network" | "file" | "sim"``). Tickets are printed as raster images
(ARCHITECTURE.md §5); status is read with ``DLE EOT`` (:mod:`device_drivers.printer.status`).
Importing this package needs neither pyusb nor a printer.
"""

from device_drivers.printer.base import Printer
from device_drivers.printer.errors import (
    BackendUnavailable,
    ImageTooWide,
    PaperOut,
    PrinterConfigError,
    PrinterError,
    PrinterIOError,
    PrinterNotFound,
    PrinterNotReady,
)
from device_drivers.printer.profiles import PROFILES, PrinterProfile, get_profile
from device_drivers.printer.registry import BACKENDS, make_printer, open_printer
from device_drivers.printer.sim import FakePrinter, Job, SimPrinter
from device_drivers.printer.status import STATES, PrinterStatus, State, decode_status

__all__ = [
    "BACKENDS",
    "PROFILES",
    "STATES",
    "BackendUnavailable",
    "FakePrinter",
    "ImageTooWide",
    "Job",
    "PaperOut",
    "Printer",
    "PrinterConfigError",
    "PrinterError",
    "PrinterIOError",
    "PrinterNotFound",
    "PrinterNotReady",
    "PrinterProfile",
    "PrinterStatus",
    "SimPrinter",
    "State",
    "decode_status",
    "get_profile",
    "make_printer",
    "open_printer",
]

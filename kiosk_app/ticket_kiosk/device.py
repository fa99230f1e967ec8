"""The kiosk's shell: the MQTT device, the printer, health, and the log of tickets that were not printed.

:class:`KioskDevice` is the :class:`~kiosk_app.ticket_kiosk.viewmodel.KioskBackend` of the view-model: it
sends ``issue`` through :class:`~onestop.device.DeviceClient` (retries keep the command id), renders the
ticket at the printer's width and prints it. It feeds the view-model the retained
``state/service/+`` messages and publishes the printer's state on the retained ``dev/{id}/health``
topic every ``[kiosk] health_s`` seconds and after each print. A ticket that was issued but not
printed is appended to ``{storage}/kiosk/{device}-unprinted.jsonl`` and counted in the health
message until the business day ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
from PIL import Image

from device_drivers.printer import Printer, PrinterError, make_printer
from device_drivers.printer.status import PrinterStatus
from device_drivers.scanner import Scan, Scanner, make_scanner
from kiosk_app.ticket_kiosk.codes import LookupKind, Outcome, from_lookup
from kiosk_app.ticket_kiosk.read_aloud import ReadAloud
from kiosk_app.ticket_kiosk.ticket import parse_wait_range, render_ticket, ticket_status_url
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.config import DeviceConfig, Hardware, SiteConfig
from onestop.device import DeviceClient, NoReply
from onestop.lookup_client import LookupClient
from onestop.protocol import Topics, iso

log = logging.getLogger("onestop.kiosk")

#: Numbers listed in the health message (the count covers all of them).
HEALTH_NUMBERS = 20


class KioskDevice:
    """One kiosk: ``start()``, use :attr:`vm`, ``stop()``. ``printer`` defaults to the device's table."""

    def __init__(
        self,
        cfg: SiteConfig,
        device_id: str,
        password: str,
        *,
        printer: Printer | None = None,
        host: str | None = None,
        port: int | None = None,
        request_timeout_s: float = 3.0,
        retries: int = 1,
        clock: Callable[[], float] = time.monotonic,
        guard_s: float = 0.8,
        health_s: float | None = None,
        on_print: Callable[[float, float, float], None] | None = None,
        scanner: Scanner | None = None,
    ) -> None:
        dev = cfg.device(device_id)
        if dev.role != "kiosk":
            raise ValueError(f"{device_id} is a {dev.role} device, not a kiosk")
        self.cfg = cfg
        self.device_id = device_id
        self.printer: Printer = printer or make_printer(dev.printer or Hardware())
        self.request_timeout_s = request_timeout_s
        self.retries = retries
        self.health_s = float(health_s if health_s is not None else cfg.kiosk.health_s)
        self.unprinted_path = cfg.data_dir / "kiosk" / f"{device_id}-unprinted.jsonl"
        self._on_print = on_print
        self._printer_lock = threading.Lock()
        self._printer_open = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._service_prefix = Topics(cfg.site.id).service_state("")
        self.client = DeviceClient(
            cfg.site.id,
            device_id,
            "kiosk",
            host=host or cfg.broker.host,
            port=port or cfg.broker.port,
            password=password,
            keepalive=cfg.broker.keepalive_s,
            tls_ca=cfg.broker_ca,
            extra_subscriptions=[(self._service_prefix + "+", 1)],
            on_message=self._on_message,
        )
        self.vm = KioskViewModel(
            cfg, device_id, self, clock=clock, connected=self.connected, guard_s=guard_s, codes=self
        )
        #: The kiosk's barcode/QR scanner (its ``scanner`` table; None: no scanner), started by start().
        self.scanner: Scanner | None = scanner if scanner is not None else _make_scanner(dev)
        self._lookups: LookupClient | None = None
        #: The latest health message published (for tests and the print-test).
        self.health: dict[str, Any] = {}
        #: The read-aloud speaker (``read_aloud = true`` on the device; docs/kiosk.md "Read aloud").
        self.speaker = ReadAloud.for_device(cfg, device_id)
        if self.speaker is not None:
            self.vm.speak = self.speaker.read

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Open the printer (a missing printer is reported in health, not fatal), connect, start health."""
        self._open_printer()
        self.client.mqtt.on_connect_hooks.append(lambda _session: self.vm.check_connection())
        self.client.start(wait=connect_timeout)
        paho_client = self.client.mqtt.paho
        on_disconnect = paho_client.on_disconnect

        def disconnected(*args: Any) -> None:
            if on_disconnect is not None:
                on_disconnect(*args)
            self.vm.check_connection()

        paho_client.on_disconnect = disconnected
        if self.scanner is not None:
            self.scanner.start(self._on_scan)
        self.publish_health()
        th = threading.Thread(target=self._health_loop, name=f"{self.device_id}-health", daemon=True)
        th.start()
        self._threads.append(th)

    def stop(self) -> None:
        """Stop health checks, disconnect (saying offline) and close the printer."""
        self._stop.set()
        if self.scanner is not None:
            self.scanner.stop()
        for th in self._threads:
            th.join(5)
        if self.speaker is not None:
            self.speaker.close()
        self.client.stop()
        with self._printer_lock:
            self.printer.close()
            self._printer_open = False

    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self.client.mqtt.connected.is_set()

    # -- the backend of the view-model ---------------------------------------------------------
    def issue(
        self, service: str, priority: bool, command_id: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send ``issue`` and return its result (same command id on every retry); ``extra`` adds the
        ``booking``, ``dossier`` and ``priority_reason`` args (docs/protocol.md)."""
        if not self.connected():
            raise NoReply("issue: not connected to the broker")
        args: dict[str, Any] = {"service": service}
        if priority:
            args["priority"] = True
        args.update(extra or {})
        # expire: if the controller is down, the broker drops the request when the kiosk gives up,
        # so no ticket is issued later for a citizen who has been told to try again or has left.
        return self.client.request(
            "issue",
            args,
            timeout=self.request_timeout_s,
            retries=self.retries,
            command_id=command_id,
            expire=True,
        )

    def lookup(self, kind: LookupKind, code: str) -> Outcome:
        """Look a code up through the hub (onestop.lookup_client; within its deadline)."""
        if self._lookups is None:
            # a little under the screen's deadline: the answer (even "unavailable") comes before it
            self._lookups = LookupClient(self.client, deadline_s=max(1.0, self.vm.lookup_s - 0.5))
        return from_lookup(self._lookups.lookup(kind, code))

    def publish_citizen(self, ticket_id: str, name: str) -> None:
        """The citizen note ``{"ticket_id", "name"}`` for the hub (docs/privacy.md); not retained."""
        topic = self.client.topics.dev_citizen(self.device_id)
        # QoS 0, as the hub takes it: no broker or client queue keeps a name (docs/privacy.md)
        self.client.mqtt.publish(topic, {"ticket_id": ticket_id, "name": name}, qos=0)

    def _on_scan(self, scan: Scan) -> None:
        try:
            self.vm.on_scan(scan)
        except Exception:  # the scanner's thread goes on; the scan's text is never logged
            log.exception("%s: a scan could not be handled", self.device_id)

    def render(self, result: Mapping[str, Any]) -> Image.Image:
        """The ticket image of an ``issue`` result, at the printer's width."""
        ticket = dict(result["ticket"])
        service = self.cfg.service(str(ticket["service"]))
        try:
            issued = datetime.fromisoformat(str(ticket.get("issued_at")))
        except ValueError:
            issued = datetime.now(UTC)
        return render_ticket(
            ticket,
            site=self.cfg,
            service_name=service.name,
            service_name_en=service.name_en,
            ahead=int(result.get("ahead", 0)),
            est_wait_s=int(result.get("est_wait_s", 0)),
            est_wait_range_s=parse_wait_range(result.get("est_wait_range_s")),
            layout=self.cfg.ticket,
            width_dots=self.printer.profile.width_dots,
            status_url=ticket_status_url(self.cfg, ticket.get("token")),
            now=issued,
        )

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        """Render and print; on failure log the ticket as unprinted, publish health, and re-raise."""
        t0 = time.perf_counter()
        image = self.render(result)
        t1 = time.perf_counter()
        try:
            with self._printer_lock:
                self._ensure_open()
                self.printer.print_image(image)
            t2 = time.perf_counter()
            if self._on_print is not None:
                self._on_print(t0, t1, t2)
        except Exception as exc:
            self._log_unprinted(result, exc)
            raise
        finally:
            self.publish_health()

    # -- printer and health --------------------------------------------------------------------
    def _open_printer(self) -> None:
        with self._printer_lock:
            try:
                self._ensure_open()
            except PrinterError as exc:
                log.error("%s: printer not available: %s", self.device_id, exc)

    def _ensure_open(self) -> None:
        if not self._printer_open:
            self.printer.open()
            self._printer_open = True

    def printer_status(self) -> PrinterStatus:
        """The printer's state now (``offline`` when it cannot be opened)."""
        with self._printer_lock:
            try:
                self._ensure_open()
            except PrinterError as exc:
                return PrinterStatus("offline", str(exc))
            try:
                return self.printer.status()
            except PrinterError as exc:
                return PrinterStatus("error", str(exc))

    def publish_health(self) -> dict[str, Any]:
        """Read the printer's status and publish it on the retained ``dev/{id}/health`` topic."""
        status = self.printer_status()
        unprinted = self.unprinted_today()
        payload: dict[str, Any] = {
            "printer": status.state,
            "detail": status.detail,
            "ts": iso(datetime.now(UTC)),
            "unprinted": len(unprinted),
            "unprinted_numbers": unprinted[-HEALTH_NUMBERS:],
        }
        if self.scanner is not None:
            payload["scanner"] = self.scanner.health()
            payload["scanner_detail"] = str(getattr(self.scanner, "detail", ""))
        self.health = payload
        self.vm.set_printer_state(status.state)
        if self.connected():
            self.client.mqtt.publish(self.client.topics.dev_health(self.device_id), payload, retain=True)
        return payload

    def _health_loop(self) -> None:
        while not self._stop.wait(self.health_s):
            try:
                self.publish_health()
            except Exception:
                log.exception("%s: health check failed", self.device_id)

    # -- the unprinted log ---------------------------------------------------------------------
    def _business_day(self) -> str:
        local = datetime.now(self.cfg.site.tz)
        start = self.cfg.site.day_start_time
        day = local.date() - timedelta(days=1) if local.time() < start else local.date()
        return day.strftime("%Y%m%d")

    def _log_unprinted(self, result: Mapping[str, Any], exc: BaseException) -> None:
        ticket = dict(result.get("ticket") or {})
        entry = {
            "ts": iso(datetime.now(UTC)),
            "ticket": ticket,
            "ahead": result.get("ahead"),
            "est_wait_s": result.get("est_wait_s"),
            "est_wait_range_s": result.get("est_wait_range_s"),
            "reason": f"{type(exc).__name__}: {exc}",
        }
        try:
            self.unprinted_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.unprinted_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as err:
            log.error("%s: cannot write %s: %s", self.device_id, self.unprinted_path, err)
        log.warning("%s: ticket %s issued but not printed (%s)", self.device_id, ticket.get("number"), exc)

    def unprinted_today(self) -> list[str]:
        """Numbers issued today whose ticket did not come out of the printer, oldest first."""
        try:
            text = self.unprinted_path.read_text(encoding="utf-8")
        except OSError:
            return []
        day = self._business_day()
        out: list[str] = []
        for line in text.splitlines():
            try:
                ticket = json.loads(line).get("ticket") or {}
            except ValueError:
                continue
            if str(ticket.get("id", "")).startswith(day + "-"):
                out.append(str(ticket.get("number")))
        return out

    # -- MQTT ----------------------------------------------------------------------------------
    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if not msg.topic.startswith(self._service_prefix):
            return
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(data, dict):
            self.vm.on_service_state(data)


def _make_scanner(dev: DeviceConfig) -> Scanner | None:
    """The scanner of a device's ``scanner`` table (device_drivers.scanner), or None without one."""
    table = dev.scanner
    if table is None:
        return None
    return make_scanner(table)

"""One contract for the Printer interface, run against every backend (STYLE.md §4).

``sim`` and ``file`` always run; ``network`` runs against a fake printer on a real TCP socket,
``serial`` and ``file-tty`` against one on a real pseudo-terminal. A real USB printer runs only when
``ONESTOP_TEST_PRINTER_USB=vid:pid`` names it (it prints two small test images).

The file backend on a regular file cannot read status: it reports ``ok`` with ``known = False`` and
prints without asking; the tests of printer states are skipped there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from device_drivers.printer import (
    FakePrinter,
    ImageTooWide,
    Job,
    PaperOut,
    Printer,
    PrinterError,
    PrinterNotReady,
    SimPrinter,
    make_printer,
)
from device_drivers.printer.codec import encode_job, to_1bit
from device_drivers.printer.fakes import PtyFakePrinter, TcpFakePrinter

PROFILE = "TM-T88V"
USB_ENV = "ONESTOP_TEST_PRINTER_USB"
#: How long a fake that says nothing is waited for (an ``offline`` answer costs this much).
SILENCE_S = 0.3


@dataclass
class Rig:
    """A printer (not open) and what stands behind it."""

    printer: Printer
    fake: FakePrinter | None = None  # None: a regular file or real hardware
    path: Path | None = None  # the file backend's output file
    tcp: TcpFakePrinter | None = None

    def jobs(self, count: int) -> list[Job]:
        """The jobs that came out, waiting for ``count`` of them."""
        if self.fake is not None:
            return self.fake.wait_for_jobs(count, timeout=10)
        if self.path is not None:
            fake = FakePrinter()
            fake.handle(self.path.read_bytes())
            fake.end_job()
            return fake.jobs
        pytest.skip("real hardware: look at the paper")

    def need_fake(self) -> FakePrinter:
        """The fake printer, or skip (status states cannot be set on a file or real hardware)."""
        if self.fake is None:
            pytest.skip(f"{self.printer.backend}: printer states cannot be simulated")
        return self.fake


BACKEND_PARAMS = [
    pytest.param("sim", id="sim"),
    pytest.param("file", id="file"),
    pytest.param("network", id="network", marks=pytest.mark.integration),
    pytest.param("serial", id="serial", marks=pytest.mark.integration),
    pytest.param("file-tty", id="file-tty", marks=pytest.mark.integration),
    pytest.param(
        "usb",
        id="usb",
        marks=pytest.mark.skipif(
            USB_ENV not in os.environ, reason=f"set {USB_ENV}=vid:pid to test a real printer"
        ),
    ),
]


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    kind: str = request.param
    common: dict[str, Any] = {"profile": PROFILE, "status_timeout_s": SILENCE_S}
    if kind == "sim":
        p = make_printer({"backend": "sim", **common})
        assert isinstance(p, SimPrinter)
        yield Rig(p, p.fake)
    elif kind == "file":
        path = tmp_path / "lp0"
        path.touch()
        yield Rig(make_printer({"backend": "file", "path": str(path), **common}), path=path)
    elif kind == "network":
        with TcpFakePrinter() as srv:
            yield Rig(
                make_printer({"backend": "network", "host": "127.0.0.1", "port": srv.port, **common}),
                srv.fake,
                tcp=srv,
            )
    elif kind in ("serial", "file-tty"):
        with PtyFakePrinter() as pty:
            if kind == "serial":
                table = {"backend": "serial", "port": pty.port, "baudrate": 115200, **common}
            else:
                table = {"backend": "file", "path": pty.port, **common}
            yield Rig(make_printer(table), pty.fake)
    else:
        vid, pid = os.environ[USB_ENV].split(":")
        yield Rig(
            make_printer({"backend": "usb", "vendor_id": int(vid, 16), "product_id": int(pid, 16), **common})
        )


@pytest.fixture
def printer(rig: Rig) -> Iterator[Printer]:
    rig.printer.open()
    yield rig.printer
    rig.printer.close()


def picture(width: int = 512, height: int = 240) -> Image.Image:
    img = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, width - 1, height - 1), outline=0, width=4)
    d.ellipse((width // 10, height // 8, width - width // 10, height - height // 8), fill=0)
    d.line((0, height - 1, width - 1, 0), fill=255, width=9)
    return img


def same(a: Image.Image | None, b: Image.Image) -> bool:
    return (
        a is not None
        and a.size == b.size
        and ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None
    )


# -- the contract --------------------------------------------------------------------------------


def test_open_close_and_context_manager(rig: Rig) -> None:
    with rig.printer as p:
        assert p is rig.printer
        assert p.status().state in ("ok", "paper_low")
    rig.printer.close()  # idempotent
    with pytest.raises(PrinterError, match="not open"):
        rig.printer.print_image(picture())


def test_healthy_printer_status(rig: Rig, printer: Printer) -> None:
    st = printer.status()
    assert st.state == "ok"
    if rig.path is not None:
        assert (st.known, printer.supports_status) == (False, False)
        assert "not readable" in st.detail
    else:
        assert (st.known, printer.supports_status) == (True, True)


def test_what_comes_out_is_what_was_printed(rig: Rig, printer: Printer) -> None:
    img = picture()
    printer.print_image(img)
    (job,) = rig.jobs(1)
    assert same(job.image, to_1bit(img, 512))
    assert job.cut is True
    assert job.raw == encode_job(img, printer.profile)
    if rig.fake is not None:
        assert rig.fake.unknown == b""


def test_jobs_without_cut(rig: Rig, printer: Printer) -> None:
    printer.print_image(picture(height=50), cut=False)
    printer.print_image(picture(height=60))
    jobs = rig.jobs(2)
    assert [(j.cut, j.image.height if j.image else 0) for j in jobs] == [(False, 50), (True, 60)]


def test_narrow_image_is_centred_wide_image_refused(rig: Rig, printer: Printer) -> None:
    printer.print_image(picture(width=256, height=40))
    (job,) = rig.jobs(1)
    assert job.image is not None and job.image.width == 512
    assert job.image.getbbox() is not None
    inverted = Image.eval(job.image.convert("L"), lambda v: 255 - v)
    assert inverted.getbbox() == (128, 0, 384, 40)
    with pytest.raises(ImageTooWide):
        printer.print_image(picture(width=520))


def test_paper_low_still_prints(rig: Rig, printer: Printer) -> None:
    rig.need_fake().set_paper("near_end")
    st = printer.status()
    assert (st.state, st.detail) == ("paper_low", "roll paper near end")
    printer.print_image(picture())
    assert len(rig.jobs(1)) == 1


def test_paper_out_refuses_and_prints_nothing(rig: Rig, printer: Printer) -> None:
    fake = rig.need_fake()
    fake.set_paper("out")
    assert printer.status().state == "paper_out"
    with pytest.raises(PaperOut) as info:
        printer.print_image(picture())
    assert not info.value.incomplete
    assert fake.jobs == [] and fake.rejected == 0
    assert {c[2] for c in _chunks(bytes(fake.received))} <= {1, 2, 3, 4}  # only status requests arrived


def test_cover_open_refuses(rig: Rig, printer: Printer) -> None:
    rig.need_fake().set_cover_open(True)
    assert (printer.status().state, printer.status().detail) == ("offline", "cover open")
    with pytest.raises(PrinterNotReady) as info:
        printer.print_image(picture())
    assert not isinstance(info.value, PaperOut)


def test_cutter_error(rig: Rig, printer: Printer) -> None:
    rig.need_fake().set_error("cutter")
    st = printer.status()
    assert (st.state, st.detail) == ("error", "autocutter error (paper jam?)")


def test_silent_printer_is_offline(rig: Rig, printer: Printer) -> None:
    fake = rig.need_fake()
    fake.set_offline(True)
    st = printer.status()
    assert st.state == "offline" and "no answer" in st.detail
    with pytest.raises(PrinterNotReady):
        printer.print_image(picture())
    fake.set_offline(False)
    assert printer.status().state == "ok"


def test_paper_running_out_during_a_ticket_is_not_silent(rig: Rig, printer: Printer) -> None:
    fake = rig.need_fake()
    fake.set_paper_left(100)
    with pytest.raises(PaperOut) as info:
        printer.print_image(picture(height=240))
    assert info.value.incomplete
    (job,) = fake.wait_for_jobs(1, timeout=10)
    assert job.partial


def _chunks(data: bytes) -> list[bytes]:
    assert len(data) % 3 == 0, data
    return [data[i : i + 3] for i in range(0, len(data), 3)]


# -- network only: printers drop idle connections --------------------------------------------------


@pytest.mark.integration
def test_network_reconnects_when_the_printer_dropped_the_connection(tmp_path: Path) -> None:
    with TcpFakePrinter() as srv:
        p = make_printer({"backend": "network", "host": "127.0.0.1", "port": srv.port, "profile": PROFILE})
        with p:
            srv.wait_for_connections(1)
            srv.drop_connections()
            p.print_image(picture())
            assert len(srv.fake.wait_for_jobs(1, timeout=10)) == 1
            assert srv.accepted == 2


@pytest.mark.integration
def test_network_printer_gone_for_good_is_offline() -> None:
    srv = TcpFakePrinter()
    srv.start()
    p = make_printer({"backend": "network", "host": "127.0.0.1", "port": srv.port, "timeout_s": 2})
    p.open()
    srv.stop()
    st = p.status()
    assert st.state == "offline"
    p.close()

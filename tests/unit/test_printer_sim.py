"""The simulator's test face: paper, cover, power, errors, jobs, reset; and how the driver reacts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PIL import Image, ImageChops, ImageDraw

from device_drivers.printer import (
    PROFILES,
    FakePrinter,
    PaperOut,
    PrinterNotReady,
    SimPrinter,
)
from device_drivers.printer.codec import encode_job

T0 = datetime(2026, 11, 23, 1, 5, tzinfo=UTC)


def picture(height: int = 200) -> Image.Image:
    img = Image.new("1", (512, height), 255)
    ImageDraw.Draw(img).ellipse((20, 20, 300, height - 20), outline=0, width=6)
    return img


@pytest.fixture
def printer() -> SimPrinter:
    p = SimPrinter(PROFILES["TM-T88V"], FakePrinter(clock=lambda: T0))
    p.open()
    return p


def test_a_job_carries_raw_bytes_image_and_time(printer: SimPrinter) -> None:
    img = picture()
    printer.print_image(img)
    (job,) = printer.fake.jobs
    assert job.raw == encode_job(img, printer.profile)
    assert job.image is not None and ImageChops.difference(job.image, img).getbbox() is None
    assert (job.cut, job.feed_lines, job.time, job.partial) == (True, 6, T0, False)
    assert printer.fake.unknown == b""
    assert printer.fake.status_requests == [1, 4, 1, 4]  # checked before and after the job


def test_paper_out_refuses_before_sending(printer: SimPrinter) -> None:
    printer.fake.set_paper("out")
    with pytest.raises(PaperOut) as info:
        printer.print_image(picture())
    assert info.value.incomplete is False
    assert info.value.status.state == "paper_out"
    assert printer.fake.jobs == []
    assert printer.fake.rejected == 0  # refused by the driver: the job never left
    printer.fake.set_paper("ok")
    printer.print_image(picture())
    assert len(printer.fake.jobs) == 1


def test_paper_running_out_mid_ticket_is_reported_as_incomplete(printer: SimPrinter) -> None:
    printer.fake.set_paper_left(120)
    with pytest.raises(PaperOut) as info:
        printer.print_image(picture(300))
    assert info.value.incomplete is True
    (job,) = printer.fake.jobs
    assert job.partial and job.image is not None and job.image.height == 120
    assert printer.status().state == "paper_out"


def test_cover_open_is_not_ready_but_not_paper_out(printer: SimPrinter) -> None:
    printer.fake.set_cover_open(True)
    with pytest.raises(PrinterNotReady) as info:
        printer.print_image(picture())
    assert not isinstance(info.value, PaperOut)
    assert info.value.status.detail == "cover open"


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        ("cutter", "autocutter error (paper jam?)"),
        ("unrecoverable", "unrecoverable error"),
        ("auto_recoverable", "auto-recoverable error (print head too hot?)"),
    ],
)
def test_errors(printer: SimPrinter, error: str, detail: str) -> None:
    printer.fake.set_error(error)  # type: ignore[arg-type]
    st = printer.status()
    assert (st.state, st.detail) == ("error", detail)
    assert printer.fake.status_requests == [1, 2, 3, 4]


def test_offline_answers_nothing(printer: SimPrinter) -> None:
    printer.fake.set_offline(True)
    assert printer.status().state == "offline"
    with pytest.raises(PrinterNotReady):
        printer.print_image(picture())
    assert printer.fake.received == b""


def test_a_printer_that_cannot_print_drops_data_it_receives() -> None:
    fake = FakePrinter()
    fake.set_cover_open(True)
    assert fake.handle(encode_job(picture(), PROFILES["TM-T88V"])) == b""
    assert (fake.jobs, fake.rejected) == ([], 1)
    assert fake.handle(b"\x10\x04\x02") == bytes([0x16])


def test_reset_forgets_everything(printer: SimPrinter) -> None:
    printer.print_image(picture())
    printer.fake.set_paper("near_end")
    printer.fake.reset()
    assert (printer.fake.jobs, printer.fake.received, printer.fake.paper) == ([], b"", "ok")
    assert printer.status().state == "ok"


def test_a_job_without_cut_ends_at_the_next_job_or_on_close(printer: SimPrinter) -> None:
    printer.print_image(picture(), cut=False)
    assert printer.fake.jobs == []
    printer.print_image(picture(), cut=False)
    assert [j.cut for j in printer.fake.jobs] == [False]
    printer.close()
    assert [j.cut for j in printer.fake.wait_for_jobs(2, timeout=0)] == [False, False]


def test_wait_for_jobs_times_out() -> None:
    with pytest.raises(TimeoutError, match="expected 1 job"):
        FakePrinter().wait_for_jobs(1, timeout=0)


def test_bad_paper_state_is_refused() -> None:
    with pytest.raises(ValueError):
        FakePrinter().set_paper("low")  # type: ignore[arg-type]

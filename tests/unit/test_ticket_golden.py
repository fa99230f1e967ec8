"""Golden tests: the exact ESC/POS bytes of a fixed ticket, and the raster read back from them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from device_drivers.printer import PROFILES, FakePrinter
from device_drivers.printer.codec import encode_job
from kiosk_app.ticket_kiosk.ticket import TicketLayout, render_ticket, ticket_status_url
from tests.unit.sites import site
from tests.utils.golden import UPDATE, digest, explain_job_change, load_golden, save_golden

NAME = "ticket-tm-t88v"
PROFILE = PROFILES["TM-T88V"]
TICKET: dict[str, Any] = {
    "id": "t-site-20261123-A-012",
    "number": "A012",
    "service": "tuphap",
    "priority": True,
    "status": "waiting",
    "issued_at": "2026-11-23T08:05:00+07:00",
    "called_at": None,
    "counter": None,
}


def golden_ticket(est_wait_range_s: tuple[int, int] | None = None) -> Image.Image:
    cfg = site()
    return render_ticket(
        TICKET,
        site=cfg,
        service_name="Tư pháp - Hộ tịch",
        service_name_en="Justice - Civil status",
        ahead=7,
        est_wait_s=23 * 60 + 5,
        est_wait_range_s=est_wait_range_s,
        layout=TicketLayout(),
        width_dots=PROFILE.width_dots,
        status_url=ticket_status_url(cfg, TICKET["id"]),
        now=datetime(2026, 11, 23, 1, 5, tzinfo=UTC),
    )


def test_exact_bytes(tmp_path: Path) -> None:
    img = golden_ticket()
    data = encode_job(img, PROFILE, cut=True)
    if UPDATE:
        save_golden(NAME, img, data, PROFILE)
    _, meta = load_golden(NAME)
    if digest(data) != {"sha256": meta["sha256"], "length": meta["length"]}:
        pytest.fail(explain_job_change(NAME, data, img, PROFILE, tmp_path / "golden-diff"))


def test_the_raster_read_back_is_the_rendered_image_pixel_for_pixel() -> None:
    img = golden_ticket()
    fake = FakePrinter()
    assert fake.handle(encode_job(img, PROFILE, cut=True)) == b""
    (job,) = fake.jobs
    assert fake.unknown == b""
    assert job.cut and job.image is not None
    assert job.image.size == img.size == (512, img.height)
    assert job.image.tobytes() == img.tobytes()
    assert ImageChops.difference(job.image, img).getbbox() is None


def test_golden_image_is_the_rendered_image() -> None:
    golden, _ = load_golden(NAME)
    assert golden.tobytes() == golden_ticket().tobytes()


def test_the_diff_helper_explains_a_changed_picture(tmp_path: Path) -> None:
    img = golden_ticket().copy()
    img.putpixel((100, 100), 0 if img.getpixel((100, 100)) else 255)
    message = explain_job_change(NAME, encode_job(img, PROFILE), img, PROFILE, tmp_path)
    assert "1 dots differ within (100, 100, 101, 101)" in message
    assert "first differing byte at offset" in message
    assert (tmp_path / f"{NAME}.diff.png").exists()


#: A ticket told a range ("khoảng 15–35 phút"), as a controller with wait ranges replies.
RANGE_NAME = "ticket-tm-t88v-range"


def test_range_ticket_exact_bytes(tmp_path: Path) -> None:
    img = golden_ticket((15 * 60, 35 * 60))
    data = encode_job(img, PROFILE, cut=True)
    if UPDATE:
        save_golden(RANGE_NAME, img, data, PROFILE)
    golden, meta = load_golden(RANGE_NAME)
    if digest(data) != {"sha256": meta["sha256"], "length": meta["length"]}:
        pytest.fail(explain_job_change(RANGE_NAME, data, img, PROFILE, tmp_path / "golden-diff"))
    assert golden.tobytes() == img.tobytes()
    # The range changes the wait line only: the picture differs from the one-number ticket.
    assert img.tobytes() != golden_ticket().tobytes()


#: A booked citizen's ticket ("Đặt lịch 09:00") and a result pickup's (the dossier code).
BOOKED_NAME = "ticket-tm-t88v-booked"
PICKUP_NAME = "ticket-tm-t88v-pickup"


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        (BOOKED_NAME, {"booking": {"code": "DL24112300017", "slot_start": "2026-11-23T09:00:00+07:00",
                                   "slot_end": "2026-11-23T09:15:00+07:00"}}),
        (PICKUP_NAME, {"dossier": "000.00.12.H23-261123-0003"}),
    ],
)  # fmt: skip
def test_booked_and_pickup_tickets_exact_bytes(tmp_path: Path, name: str, extra: dict[str, Any]) -> None:
    cfg = site()
    img = render_ticket(
        {**TICKET, "priority": False, **extra},
        site=cfg, service_name="Tư pháp - Hộ tịch", service_name_en="Justice - Civil status", ahead=7,
        est_wait_s=23 * 60 + 5, layout=TicketLayout(), width_dots=PROFILE.width_dots,
        status_url=ticket_status_url(cfg, TICKET["id"]), now=datetime(2026, 11, 23, 1, 5, tzinfo=UTC),
    )  # fmt: skip
    data = encode_job(img, PROFILE, cut=True)
    if UPDATE:
        save_golden(name, img, data, PROFILE)
    golden, meta = load_golden(name)
    if digest(data) != {"sha256": meta["sha256"], "length": meta["length"]}:
        pytest.fail(explain_job_change(name, data, img, PROFILE, tmp_path / "golden-diff"))
    assert golden.tobytes() == img.tobytes()

"""What a printed ticket says of a booked citizen ("Đặt lịch 09:00", never the name or the code) and
of a result pickup (the dossier code), on 80 mm and 58 mm paper."""

from __future__ import annotations

import pytest

from tests.unit.test_ticket_render import compose, margins_are_white, texts, ticket

BOOKING = {"code": "DL24120400017", "slot_start": "2026-11-23T09:00:00+07:00",
           "slot_end": "2026-11-23T09:15:00+07:00", "status": "on_time", "line": "booked"}  # fmt: skip
DOSSIER = "000.00.12.H23-241123-0003"


@pytest.mark.parametrize("width", [576, 384])
def test_a_booked_ticket_says_the_slot_time_and_nothing_else_of_the_booking(width: int) -> None:
    img, blocks = compose(width, ticket=ticket(booking=BOOKING))
    assert texts(blocks, "booking") == ["Đặt lịch 09:00", "Booked 09:00"]
    everything = " ".join(b.text for b in blocks)
    assert "DL24120400017" not in everything
    kinds = list(dict.fromkeys(b.kind for b in blocks))
    assert kinds.index("service") < kinds.index("booking") < kinds.index("ahead")
    assert margins_are_white(img, 8)


def test_the_slot_time_is_the_sites_local_time() -> None:
    _, blocks = compose(ticket=ticket(booking={**BOOKING, "slot_start": "2026-11-23T02:30:00+00:00"}))
    assert texts(blocks, "booking")[0] == "Đặt lịch 09:30"


@pytest.mark.parametrize("width", [576, 384])
def test_a_result_pickup_ticket_carries_the_dossier_code(width: int) -> None:
    img, blocks = compose(width, ticket=ticket(dossier=DOSSIER))
    lines = texts(blocks, "dossier")
    assert "".join(lines[:-1]).replace(" ", "") == f"Hồsơ:{DOSSIER}" and lines[-1] == "Result pickup"
    assert margins_are_white(img, 8)


def test_tickets_without_them_are_unchanged() -> None:
    _, plain = compose()
    _, nulls = compose(ticket=ticket(booking=None, dossier=None))
    assert [(b.kind, b.text, b.box) for b in plain] == [(b.kind, b.text, b.box) for b in nulls]
    assert texts(plain, "booking") == [] and texts(plain, "dossier") == []

"""What a kiosk may do with a card: only what ``[citizen_id]`` turns on."""

from __future__ import annotations

from datetime import date

from onestop.citizen_id import parse_card
from onestop.citizen_use import CardUse, consent_line, plan
from onestop.config import CitizenIdSection

TODAY = date(2027, 3, 15)
CARD = parse_card("001052012345|011234567|Nguyễn Văn An|15031952|Nam|Hà Nội|10052021", today=TODAY)


def test_off_means_nothing() -> None:
    assert plan(CARD, CitizenIdSection(), TODAY) == CardUse()
    rules = CitizenIdSection(enabled=False, priority_age=75, prefill_name=True)
    assert plan(CARD, rules, TODAY) == CardUse()


def test_each_use_alone() -> None:
    age = plan(CARD, CitizenIdSection(enabled=True, priority_age=75), TODAY)
    assert age.priority and age.note_name is None and age.id_number is None and age.lookups == ()
    assert age.issue_args("tuphap") == {"service": "tuphap", "priority": True, "priority_reason": "age"}
    assert age.note("T1") is None
    young = plan(CARD, CitizenIdSection(enabled=True, priority_age=76), TODAY)
    assert not young.priority and young.issue_args("tuphap") == {"service": "tuphap"}
    name = plan(CARD, CitizenIdSection(enabled=True, prefill_name=True), TODAY)
    assert not name.priority and name.note("T1") == {"ticket_id": "T1", "name": "Nguyễn Văn An"}
    assert name.id_number is None
    found = plan(CARD, CitizenIdSection(enabled=True, find_dossiers=True, forward=True), TODAY)
    assert found.id_number == "001052012345" and found.lookups == ("citizen_dossiers",)
    assert found.note("T1") is None


def test_repr_has_no_personal_data() -> None:
    rules = CitizenIdSection(enabled=True, prefill_name=True, find_bookings=True, forward=True)
    text = repr(plan(CARD, rules, TODAY))
    assert "Nguyễn" not in text and "012345" not in text


def test_consent_line_names_the_uses() -> None:
    vi, en = consent_line(CitizenIdSection(enabled=True, priority_age=75, prefill_name=True))
    assert "xét ưu tiên theo tuổi" in vi and "báo họ tên" in vi and "tìm lịch hẹn" not in vi
    assert "check priority by age" in en and "tell your name" in en and "bỏ qua" in vi and "skip" in en
    vi2, _en2 = consent_line(CitizenIdSection(enabled=True, find_bookings=True, forward=True))
    assert "tìm lịch hẹn và hồ sơ" in vi2 and "ưu tiên" not in vi2

"""What a kiosk may do with a scanned identity card, by the site's ``[citizen_id]`` (docs/privacy.md).

The kiosk asks :func:`plan` once per card and does exactly what it returns: nothing else of the
card leaves its memory. :func:`consent_line` is the text it shows before it reads a card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from onestop.citizen_id import CitizenCard, priority_by_age
from onestop.config import CitizenIdSection


@dataclass(frozen=True)
class CardUse:
    """The uses of one card the site allows. ``repr`` shows no personal data."""

    #: Ask for a priority ticket (``issue`` args ``priority: true, priority_reason: "age"``).
    priority: bool = False
    #: The name to publish on ``dev/{kiosk}/citizen`` after the ticket is issued (None: publish nothing).
    note_name: str | None = field(default=None, repr=False)
    #: The id number for the back-end look-ups below (None unless ``forward`` is on).
    id_number: str | None = field(default=None, repr=False)
    #: Look-up kinds to send to the hub (``citizen_bookings``, ``citizen_dossiers``).
    lookups: tuple[str, ...] = ()

    def issue_args(self, service: str) -> dict[str, Any]:
        """The ``issue`` command's args for ``service`` with this card's priority."""
        args: dict[str, Any] = {"service": service}
        if self.priority:
            args.update(priority=True, priority_reason="age")
        return args

    def note(self, ticket_id: str) -> dict[str, str] | None:
        """The ``dev/{kiosk}/citizen`` payload for the issued ticket, or None when the site does not
        pre-fill the clerk's view."""
        if self.note_name is None:
            return None
        return {"ticket_id": ticket_id, "name": self.note_name}


def plan(card: CitizenCard, rules: CitizenIdSection, today: date) -> CardUse:
    """The uses of ``card`` that ``rules`` turn on (nothing when scanning is off); ``today`` is the
    site's local date."""
    if not rules.enabled:
        return CardUse()
    lookups: list[str] = []
    if rules.forward and rules.find_bookings:
        lookups.append("citizen_bookings")
    if rules.forward and rules.find_dossiers:
        lookups.append("citizen_dossiers")
    return CardUse(
        priority=priority_by_age(card, today, rules.priority_age),
        note_name=card.name if rules.prefill_name else None,
        id_number=card.id_number if lookups else None,
        lookups=tuple(lookups),
    )


_PURPOSES = {
    "priority_age": ("xét ưu tiên theo tuổi", "check priority by age"),
    "prefill_name": (
        "báo họ tên cho cán bộ tiếp nhận hồ sơ của bạn",
        "tell your name to the officer who handles your dossier",
    ),
    "find": ("tìm lịch hẹn và hồ sơ của bạn", "find your appointments and dossiers"),
}


def consent_line(rules: CitizenIdSection) -> tuple[str, str]:
    """The consent text the kiosk shows before reading a card (Vietnamese, English), naming the uses
    the site turned on (docs/privacy.md "The consent line")."""
    keys: list[str] = [k for k in ("priority_age", "prefill_name") if k in rules.uses]
    if rules.forward and (rules.find_bookings or rules.find_dossiers):
        keys.append("find")
    vi_uses = ", ".join(_PURPOSES[k][0] for k in keys) or "kiểm tra thẻ"
    en_uses = ", ".join(_PURPOSES[k][1] for k in keys) or "check the card"
    vi = (
        f"Quét thẻ căn cước? Máy chỉ đọc mã QR trên thẻ để {vi_uses}. Thông tin không được in, không "
        "hiện trên màn hình chung, được xóa khi hết ngày làm việc. Bạn có thể bỏ qua và lấy số thông thường."
    )
    en = (
        f"Scan your ID card? The kiosk only reads the QR code on the card to {en_uses}. Nothing is "
        "printed or shown on public screens, and it is deleted at the end of the working day. You can "
        "skip this and take a normal ticket."
    )
    return vi, en

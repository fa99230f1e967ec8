"""The ``[ticket]`` section of site.toml: what a printed ticket says and how it is laid out.

It lives in the shared core so that :mod:`onestop.config` can hold it without importing the renderer
(:mod:`kiosk_app.ticket_kiosk.ticket`, which imports the config); the renderer re-exports it.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def nfc(text: str) -> str:
    """``text`` in Unicode NFC (Vietnamese typed on some keyboards arrives decomposed)."""
    return unicodedata.normalize("NFC", text)


def _nfc_any(value: Any) -> Any:
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, list):
        return [nfc(v) if isinstance(v, str) else v for v in value]
    return value


NfcText = Annotated[str, BeforeValidator(_nfc_any)]


class TicketLayout(BaseModel):
    """What a printed ticket says and how it is laid out (the ``[ticket]`` section of site.toml).

    Every text is normalised to NFC. Sizes are font sizes in dots at 576 dots of width, scaled for other
    printers. An empty English text leaves its line out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Header lines at the top, centred; the first is bold. ``None``: ``[site]`` agency, name and address.
    header: list[NfcText] | None = None
    #: The ticket's title, under the header.
    title: NfcText = "PHIẾU SỐ THỨ TỰ"
    #: Print English second lines (title, service, people ahead, wait, priority, QR caption, footer).
    english: bool = True
    #: English title (second line, small), when ``english`` is on.
    title_en: NfcText = "QUEUE TICKET"
    #: Mark printed in an inverted (white on black) box on priority tickets.
    priority_label: NfcText = "ƯU TIÊN"
    #: English priority mark, in the same box.
    priority_label_en: NfcText = "PRIORITY"
    #: Print a QR code of the ticket's status page (``{hub.public_url}/t/{token}``, its unguessable link).
    show_qr: bool = True
    #: Text next to the QR code.
    qr_caption: NfcText = "Quét mã để theo dõi lượt của bạn"
    #: English text next to the QR code.
    qr_caption_en: NfcText = "Scan to follow your turn"
    #: Closing line at the bottom.
    footer: NfcText = "Vui lòng chờ đến lượt. Xin cảm ơn!"
    #: English closing line.
    footer_en: NfcText = "Please wait for your number to be called. Thank you!"
    #: Empty space left and right, and above and below the ticket (dots).
    margin: int = Field(default=16, ge=0, le=80)
    #: Header font size (the agency line is bold).
    header_size: int = Field(default=22, ge=8, le=80)
    #: Title font size (bold).
    title_size: int = Field(default=34, ge=8, le=100)
    #: Largest height of the ticket number's digits; the number is as large as fits within it and the width.
    number_height: int = Field(default=170, ge=40, le=600)
    #: Service name font size (bold); long names wrap.
    service_size: int = Field(default=32, ge=8, le=100)
    #: Size of the people-ahead, wait and date lines.
    info_size: int = Field(default=25, ge=8, le=80)
    #: Size of the English lines, captions and the footer.
    small_size: int = Field(default=19, ge=8, le=60)
    #: Side of the QR code (dots); rounded down to whole dots per QR module, never below 3 per module.
    qr_size: int = Field(default=150, ge=60, le=400)

"""DLE EOT status: exact decoding of every bit, and the query sequence over a scripted link."""

from __future__ import annotations

import pytest

from device_drivers.printer.status import (
    PrinterStatus,
    decode_status,
    query_status,
    status_request,
    valid_status_byte,
)

BASE = 0x12  # the fixed bits: 1 and 4 on, 0 and 7 off


def test_status_request_bytes() -> None:
    assert [status_request(n) for n in (1, 2, 3, 4)] == [
        b"\x10\x04\x01",
        b"\x10\x04\x02",
        b"\x10\x04\x03",
        b"\x10\x04\x04",
    ]
    with pytest.raises(ValueError):
        status_request(5)


@pytest.mark.parametrize(
    ("byte", "valid"),
    [
        (0x12, True), (0x1E, True), (0x7E, True), (0x16, True),
        (0x00, False), (0x13, False), (0x92, False), (0x10, False), (0x02, False), (0xFF, False),
    ],
)  # fmt: skip
def test_fixed_bits(byte: int, valid: bool) -> None:
    assert valid_status_byte(byte) is valid


# (printer, offline cause, error cause, paper) -> (state, detail)
CASES = [
    ((0x12, None, None, 0x12), ("ok", "")),
    ((0x16, None, None, 0x12), ("ok", "")),  # bit 2 of n=1 is the drawer pin: ignored
    ((0x12, None, None, 0x1E), ("paper_low", "roll paper near end")),
    ((0x12, None, None, 0x16), ("paper_low", "roll paper near end")),  # one near-end bit is enough
    ((0x12, None, None, 0x1A), ("paper_low", "roll paper near end")),
    ((0x12, None, None, 0x32), ("paper_out", "roll paper end")),  # one paper-end bit is enough
    ((0x12, None, None, 0x52), ("paper_out", "roll paper end")),
    ((0x12, None, None, 0x72), ("paper_out", "roll paper end")),
    ((0x12, None, None, 0x7E), ("paper_out", "roll paper end")),
    ((0x1A, 0x16, None, 0x12), ("offline", "cover open")),
    ((0x1A, 0x1A, None, 0x12), ("offline", "paper being fed with the feed button")),
    ((0x1A, 0x32, None, 0x7E), ("paper_out", "printing stopped: paper end; roll paper end")),
    ((0x1A, 0x36, None, 0x7E), ("paper_out", "printing stopped: paper end; roll paper end; cover open")),
    ((0x1A, 0x52, 0x1A, 0x12), ("error", "autocutter error (paper jam?)")),
    ((0x1A, 0x52, 0x32, 0x12), ("error", "unrecoverable error")),
    ((0x1A, 0x52, 0x52, 0x12), ("error", "auto-recoverable error (print head too hot?)")),
    ((0x1A, 0x52, 0x12, 0x12), ("error", "printer error (cause not reported)")),
    ((0x1A, 0x52, None, 0x12), ("error", "printer error (cause not reported)")),
    ((0x1A, 0x56, 0x1A, 0x1E), ("error", "autocutter error (paper jam?); cover open; roll paper near end")),
    ((0x1A, 0x12, None, 0x12), ("offline", "printer is offline")),
    ((0x1A, None, None, 0x12), ("offline", "printer is offline")),
    ((0x12, None, None, None), ("ok", "")),
    ((0x00, None, None, 0x12), ("error", "unexpected reply 0x00 to status request 1")),
    ((0x12, None, None, 0xFF), ("error", "unexpected reply 0xff to status request 4")),
    ((0x1A, 0x97, None, 0x12), ("error", "unexpected reply 0x97 to status request 2; printer is offline")),
]


@pytest.mark.parametrize(("replies", "expected"), CASES)
def test_decode(replies: tuple[int | None, ...], expected: tuple[str, str]) -> None:
    st = decode_status(*replies)
    assert (st.state, st.detail) == expected
    assert st.known


def test_no_answer_is_offline() -> None:
    st = decode_status(None)
    assert st.state == "offline"
    assert "no answer" in st.detail
    assert not st.ready


@pytest.mark.parametrize(
    ("state", "ready"),
    [("ok", True), ("paper_low", True), ("paper_out", False), ("offline", False), ("error", False)],
)
def test_ready(state: str, ready: bool) -> None:
    assert PrinterStatus(state).ready is ready  # type: ignore[arg-type]


class Scripted:
    """A link whose printer answers each DLE EOT n from a table (missing: silence)."""

    def __init__(self, answers: dict[int, int], late: bytes = b"") -> None:
        self.answers = answers
        self.sent: list[bytes] = []
        self.inbox = bytearray(late)
        self.drained = 0

    def write(self, data: bytes) -> None:
        self.sent.append(data)
        n = data[2]
        if n in self.answers:
            self.inbox.append(self.answers[n])

    def read(self, n: int, timeout: float) -> bytes:
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    def drain(self) -> None:
        self.drained += 1
        self.inbox.clear()


def test_query_healthy_asks_1_and_4_only() -> None:
    link = Scripted({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12})
    assert query_status(link, 0.1) == PrinterStatus("ok")
    assert link.sent == [b"\x10\x04\x01", b"\x10\x04\x04"]


def test_query_offline_asks_for_the_cause_and_the_error() -> None:
    link = Scripted({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12})
    st = query_status(link, 0.1)
    assert (st.state, st.detail) == ("error", "autocutter error (paper jam?)")
    assert [s[2] for s in link.sent] == [1, 2, 3, 4]


def test_query_discards_late_replies_first() -> None:
    link = Scripted({1: 0x12, 4: 0x1E}, late=b"\x7e")
    assert query_status(link, 0.1).state == "paper_low"
    assert link.drained == 1


def test_query_silent_printer_is_offline_after_one_question() -> None:
    link = Scripted({})
    assert query_status(link, 0.1).state == "offline"
    assert link.sent == [b"\x10\x04\x01"]


def test_query_without_paper_sensor_answer_says_so() -> None:
    st = query_status(Scripted({1: 0x12}), 0.1)
    assert st.state == "ok"
    assert "paper sensor" in st.detail

"""The wire encoding of onestop.protocol.dumps: exact bytes, and no hidden memory per payload."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from onestop.protocol import dumps

PAYLOADS: list[Any] = [
    {"id": "c1", "op": "call_next", "args": {}},
    {"number": "A012", "counter": "quay-3", "name": "Quầy 3", "service": "Hộ tịch – Chứng thực"},
    {"events": [{"seq": i, "type": "ticket.issued", "data": {"n": "A" * 40}} for i in range(300)]},
    [],
    "Cảm ơn",
]


@pytest.mark.parametrize("obj", PAYLOADS)
def test_dumps_is_compact_utf8_json(obj: Any) -> None:
    assert dumps(obj) == json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _held_bytes(make: Any, n: int) -> float:
    """Memory still allocated per object after building ``n`` of them (measured by tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(i) for i in range(n)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == n
    return (after - before) / n


def test_a_small_payload_holds_about_its_length() -> None:
    # orjson hands back its working buffer (at least 4 KB); payloads wait in MQTT queues by the
    # thousand on a busy controller, so each must hold only its own bytes.
    size = len(dumps({"counter": "quay-003", "serving": "A012", "seq": 1}))
    held = _held_bytes(lambda i: dumps({"counter": f"quay-{i:03d}", "serving": "A012", "seq": i}), 2000)
    assert held < size + 200, f"{held:.0f} bytes held for a {size}-byte payload"


def test_a_large_payload_is_not_rounded_up() -> None:
    obj = {"events": [{"seq": i, "data": "x" * 50} for i in range(200)]}  # about 14 KB
    size = len(dumps(obj))
    held = _held_bytes(lambda _i: dumps(obj), 50)
    assert held < size * 1.1, f"{held:.0f} bytes held for a {size}-byte payload"

"""Recorded key events: what a keyboard-wedge scanner sent, kept as data to replay through the decoder.

A recording file is JSON: ``{"recordings": [{"name", "scanner", "expected", "complete", "events":
[[sec, usec, type, code, value], ...]}]}``. ``onestop kiosk scan-test --record FILE`` writes one
entry per scan read from a ``hid`` scanner (scan a test code, never a citizen's card: the file
holds the text). ``tests/unit/test_scanner_hid.py`` replays ``tests/fixtures/scanner_hid_events.json``
through the same :func:`~device_drivers.scanner.hid.decode_events` the reader thread runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from device_drivers.scanner.keys import InputEventLike


class RecordedEvent(NamedTuple):
    """An input event as recorded: the fields of ``evdev.InputEvent`` that the decoder reads."""

    sec: int
    usec: int
    type: int
    code: int
    value: int

    def timestamp(self) -> float:
        """Seconds, as ``evdev.InputEvent.timestamp()``."""
        return self.sec + self.usec / 1e6


@dataclass
class Recording:
    """One scan's events and what they should decode to."""

    name: str
    events: list[RecordedEvent | None]
    expected: str | None = None
    complete: bool = True
    scanner: str = ""
    #: The ``scanner`` table parameters it was read with (e.g. ``{"alt_codes": "utf8"}``).
    settings: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The entry as written to a recording file (``null`` is an idle tick)."""
        return {
            "name": self.name,
            "scanner": self.scanner,
            "expected": self.expected,
            "complete": self.complete,
            "settings": self.settings,
            "events": [None if e is None else list(e) for e in self.events],
        }


def event_of(event: InputEventLike) -> RecordedEvent:
    """A recorded copy of any event-like object."""
    return RecordedEvent(event.sec, event.usec, event.type, event.code, event.value)


def load(path: str | Path) -> dict[str, Recording]:
    """The recordings of a file, by name."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for entry in data["recordings"]:
        events = [None if e is None else RecordedEvent(*e) for e in entry["events"]]
        out[entry["name"]] = Recording(
            entry["name"],
            events,
            entry.get("expected"),
            entry.get("complete", True),
            entry.get("scanner", ""),
            dict(entry.get("settings") or {}),
        )
    return out


def append(path: str | Path, recording: Recording) -> None:
    """Add a recording to a file (created when missing)."""
    p = Path(path)
    data = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {"recordings": []}
    data["recordings"].append(recording.as_json())
    p.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

"""Read the kiosk's screen aloud, for citizens who read with difficulty (docs/kiosk.md, "Read aloud").

``read_aloud = true`` on a kiosk's ``[[devices]]`` entry puts a speaker button in the screen's
header. A touch reads the current screen in Vietnamese, with the hall's offline voice
(display_agents.voice: the same espeak-ng settings, clip cache folder and levels as the calls): the
question, then each choice; on the done screen the ticket number letter by letter and digit by
digit, the service, the people ahead and the wait. The audio goes to the kiosk's ``audio`` output
(device_drivers.audio; the simulator by default).

Speech is made and played on a worker thread, never on the UI thread. A new touch replaces what was
asked before and not yet started; a failure (no espeak-ng, no audio output) is logged and the kiosk
goes on without a voice.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from device_drivers.audio import AudioOut, open_audio
from display_agents.announcer_cli import voice_dirs
from display_agents.vietnamese import NotReadable, letter_name, split_ticket, ticket_words
from display_agents.voice import CallBuilder, ClipLibrary
from kiosk_app.ticket_kiosk.viewmodel import View
from onestop.config import SiteConfig

log = logging.getLogger(__name__)


def _vi(view: View, first: str, second: str) -> str:
    """The Vietnamese one of a (chosen language, other language) pair."""
    text = first if view.lang == "vi" or not second else second
    return _speakable(text)


def _speakable(text: str) -> str:
    """Text as it is said: no-break spaces as spaces, "10–20 phút" as "10 đến 20 phút"."""
    text = text.replace("◀", " ").replace("▶", " ")  # the page arrows' glyphs
    return " ".join(text.replace("\u00a0", " ").replace("–", " đến ").replace("·", ",").split())


def number_speech(number: str) -> str:
    """A ticket number as it is said in the hall ("A012" → "a không một hai")."""
    try:
        prefix, _ = split_ticket(number)
        return " ".join([letter_name(ch) for ch in prefix] + ticket_words(number, "digits"))
    except NotReadable:
        return number


def screen_speech(view: View) -> list[str]:
    """The Vietnamese sentences that read a screen: its question, its text, then its choices."""
    out: list[str] = []
    title = _vi(view, view.title, view.title2)
    if view.number and view.screen in ("done", "printing", "paper_out", "printer_error"):
        out.append(f"{title}: {number_speech(view.number)}" if title else number_speech(view.number))
        if view.priority:
            out.append("Số ưu tiên")
    elif title:
        out.append(title)
    out += [s for s in (_vi(view, a, b) for a, b in view.lines) if s]
    for b in view.services:
        if view.shown and b.id not in view.shown:
            continue  # on another page of services
        parts = [_vi(view, b.name, b.name2), _vi(view, b.status, b.status2), _vi(view, b.detail, b.detail2)]
        out.append(". ".join(p for p in parts if p))
    if view.hint[0]:  # the home screen's scan hint and code entries
        out.append(_vi(view, *view.hint))
    out += [f"Nút {_vi(view, a.text, a.text2)}" for a in view.entries]
    for a in view.actions:
        if a.id == "page":  # "Trang 1/2" is not a button
            out.append(f"Trang {view.page + 1} trên {view.pages}")
        elif a.id in ("prev_page", "next_page") and not a.primary:
            continue  # the first or last page: that arrow does nothing
        else:
            out.append(f"Nút {_vi(view, a.text, a.text2)}")
    return out


class ReadAloud:
    """The speaker: ``read(view)`` from any thread; speech is built and played by a worker."""

    def __init__(self, builder: CallBuilder, audio: AudioOut) -> None:
        self.builder = builder
        self.audio = audio
        self._wanted: queue.Queue[list[str] | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="kiosk-read-aloud", daemon=True)
        self._thread.start()
        #: Called with each spoken list of sentences after it was played (tests, the operator log).
        self.on_spoken: Callable[[list[str]], None] | None = None

    @classmethod
    def for_device(cls, cfg: SiteConfig, device_id: str) -> ReadAloud | None:
        """The speaker of a kiosk whose ``read_aloud`` is on (None when it is off)."""
        dev = cfg.device(device_id)
        if not dev.read_aloud:
            return None
        cache, recorded = voice_dirs(cfg)
        return cls(CallBuilder(ClipLibrary(cache, recorded)), open_audio(dev.audio, data_dir=cfg.data_dir))

    def read(self, view: View) -> None:
        """Read ``view`` aloud (replacing a request that has not started yet)."""
        sentences = screen_speech(view)
        while True:
            try:
                self._wanted.put_nowait(sentences)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._wanted.get_nowait()

    def close(self) -> None:
        """Stop the worker (after what it is playing) and close the audio output."""
        while True:
            try:
                self._wanted.put(None, timeout=0.1)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._wanted.get_nowait()
        self._thread.join(timeout=30)
        self.audio.close()

    def _run(self) -> None:
        while True:
            sentences = self._wanted.get()
            if sentences is None:
                return
            try:
                self.audio.play(self.builder.speech(sentences))
            except Exception:  # a voice that fails must not take the kiosk down
                log.exception("read-aloud failed for %r", sentences[:1])
                continue
            if self.on_spoken is not None:
                self.on_spoken(sentences)


__all__ = ["ReadAloud", "number_speech", "screen_speech"]

"""What the kiosk's and the rating terminal's view-models share: being watched by a screen and by
tests, and the guard that keeps a double tap from acting twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Observable:
    """A view-model whose changes wake waiters and notify listeners. Subclasses hold ``_cond``
    while they change state and call :meth:`_changed` afterwards."""

    device_id: str

    def _init_observable(self) -> None:
        self._cond = threading.Condition()
        self._listeners: list[Callable[[], None]] = []
        #: Bumped on every change (so that a waiter can tell one change from the next).
        self.version = 0

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from any thread) after every change."""
        self._listeners.append(listener)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float) -> bool:
        """Block until ``predicate(self)`` holds or ``timeout`` passes; return whether it holds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def _changed(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("%s: a screen listener failed", self.device_id)


class PressGuard:
    """Touches restart the idle timer; a press is taken only when no request is on its way and the
    previous accepted press is more than ``guard_s`` ago."""

    device_id: str
    clock: Callable[[], float]
    busy: bool
    guard_s: float
    _activity: float
    _guard_until: float

    def touch(self) -> None:
        """Any touch on the screen: the citizen is still there (restarts the idle timer)."""
        self._activity = self.clock()

    def _accept_press(self, too_soon: str = "too soon") -> bool:
        now = self.clock()
        self._activity = now
        if self.busy or now < self._guard_until:
            log.info("%s: press ignored (%s)", self.device_id, "busy" if self.busy else too_soon)
            return False
        self._guard_until = now + self.guard_s
        return True

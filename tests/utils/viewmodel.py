"""Fakes for view-model tests: a clock that moves only when told, a runner that holds worker jobs."""

from __future__ import annotations

from collections.abc import Callable


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


class Runner:
    """Keeps the worker jobs until the test runs them (a request "in flight")."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        while self.jobs:
            self.jobs.pop(0)()

"""The suite's root exception, and errors shared across packages."""

from __future__ import annotations


class OnestopError(Exception):
    """Root of every error the suite raises on purpose."""


class ConfigError(OnestopError, ValueError):
    """A site configuration that cannot be used. ``problems`` lists every finding, one per line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}: {p}" for p in problems)
        super().__init__(f"invalid configuration {path} ({len(problems)} problem(s)):\n{lines}")

    def one_line(self) -> str:
        """The first problem on one line, for command-line tools that exit on it."""
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"{self.path}: {self.problems[0]}{more}"

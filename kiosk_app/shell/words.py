"""What the kiosk's and the rating terminal's view-models say with: the two languages, a text in both,
and a button below a message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["vi", "en"]


@dataclass(frozen=True)
class Words:
    """One text in both languages."""

    vi: str
    en: str

    def pick(self, lang: Lang) -> tuple[str, str]:
        """(text in ``lang``, text in the other language)."""
        return (self.vi, self.en) if lang == "vi" else (self.en, self.vi)


@dataclass(frozen=True)
class Action:
    """A button below a message: what it does (``back``, ``ok``, ``retry``, ``normal``, ``priority``)."""

    id: str
    text: str
    text2: str
    primary: bool = False

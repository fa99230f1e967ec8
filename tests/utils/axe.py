"""axe-core, the accessibility engine, run on a page in a real Chromium.

The axe-core script comes from the ``axe-playwright-python`` wheel (it vendors ``axe.min.js``); only the
script is used, so the check is what axe-core itself reports. The hub's pages forbid inline and injected
scripts (Content-Security-Policy): the context that audits a page is made with ``bypass_csp=True``, and
the pages' own CSP is checked by the other page tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from playwright.sync_api import Page

#: The impacts a page may not have at all (axe-core's scale: minor, moderate, serious, critical).
BLOCKING = ("serious", "critical")

#: Rules of axe's "best-practice" set that our own pages must pass too, whatever their impact: a level-one
#: heading that says what the page is, every content inside a landmark, one main, a language.
OWN_PAGE_RULES = ("page-has-heading-one", "region", "landmark-one-main", "html-has-lang", "heading-order")


@cache
def axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]
    #: axe's explanation for the first element (for colour contrast: the two colours and the ratio).
    why: str = ""

    def __str__(self) -> str:
        return f"{self.impact} {self.rule} ({self.help}): {', '.join(self.targets[:5])} — {self.why}"


def audit(page: Page) -> list[Violation]:
    """Every axe-core violation on the page as it is now (WCAG 2.x A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result: dict[str, Any] = page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa',
                                            'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    return [
        Violation(
            v["id"],
            v.get("impact") or "minor",
            v["help"],
            tuple(" ".join(map(str, n["target"])) for n in v["nodes"]),
            " ".join((v["nodes"][0].get("failureSummary") or "").split())[:300] if v["nodes"] else "",
        )
        for v in result["violations"]
    ]


def failures(page: Page, *, own: bool = True) -> list[str]:
    """What fails the page: serious or critical violations, and on our own pages (``own``) also the
    structure rules of :data:`OWN_PAGE_RULES` whatever axe's impact."""
    return [str(v) for v in audit(page) if v.impact in BLOCKING or (own and v.rule in OWN_PAGE_RULES)]

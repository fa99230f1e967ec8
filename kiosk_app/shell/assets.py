"""The terminals' bundled files: the DejaVu Sans fonts in ``kiosk_app/fonts`` (every Vietnamese letter
and tone mark; the ticket and the kiosk's arrows are drawn with them) and the kiosk's service icons in
``kiosk_app/icons`` (found through :data:`onestop.config.KIOSK_ICONS`, which checks site.toml's
``icon`` names against them). Both folders are package data of ``kiosk_app``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"


def font_path(name: str = FONT_REGULAR) -> Path:
    """Path of a bundled font file (``kiosk_app/fonts``)."""
    return Path(str(resources.files("kiosk_app").joinpath("fonts", name)))

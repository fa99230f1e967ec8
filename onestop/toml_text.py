"""Writing TOML: every file the suite writes goes through tomli-w, the writer that pairs with
Python's own reader (``tomllib``).

Whole documents (test and bench sites) are :func:`dumps`. The commented files a technician reads
(``provision site init``, ``device add``, token files) are templates whose values are each written by
:func:`value`, so escaping is tomli-w's: quotes, backslashes and every control character (U+0000 to
U+001F and U+007F) in a name can never break the file or be read back different.
"""

from __future__ import annotations

from typing import Any

import tomli_w

_KEY = "v"


def dumps(data: dict[str, Any]) -> str:
    """A TOML document."""
    return tomli_w.dumps(data)


def value(v: str | int | float | bool | list[Any]) -> str:
    """One value as TOML, for a ``key = value`` line of a template (a list on one line)."""
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    text = tomli_w.dumps({_KEY: v})
    prefix = f"{_KEY} = "
    if not text.startswith(prefix) or text.count("\n") != 1:  # pragma: no cover - tomli-w's format
        raise ValueError(f"not a one-line TOML value: {v!r}")
    return text[len(prefix) : -1]

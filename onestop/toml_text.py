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


def _is_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def key(k: str) -> str:
    """A key as TOML writes it (bare when it can be, quoted otherwise)."""
    return tomli_w.dumps({k: 0})[: -len(" = 0\n")]


def dumps(data: dict[str, Any]) -> str:
    """A TOML document. Top-level lists of tables are written as ``[[name]]`` blocks (tomli-w writes
    them as inline arrays), as a person writes them and as ``provision device add|revoke`` edit them."""
    rest = {k: v for k, v in data.items() if not _is_tables(v)}
    parts = [tomli_w.dumps(rest)] if rest else []
    for k, items in data.items():
        if _is_tables(items):
            for item in items:
                body = "".join(f"{key(ik)} = {value(iv)}\n" for ik, iv in item.items())
                parts.append(f"[[{key(k)}]]\n{body}")
    return "\n".join(parts)


def value(v: Any) -> str:
    """One value as TOML on one line, for a ``key = value`` line of a template: strings, numbers,
    booleans, dates, lists and (inline) tables."""
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):  # tomli-w writes a table inline only inside a short enough array
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }" if v else "{}"
    text = tomli_w.dumps({_KEY: v})
    prefix = f"{_KEY} = "
    if not text.startswith(prefix) or text.count("\n") != 1:  # pragma: no cover - tomli-w's format
        raise ValueError(f"not a one-line TOML value: {v!r}")
    return text[len(prefix) : -1]

"""Writing TOML: the small subset the suite writes (site files, token files), in one place.

Strings are written with JSON escapes, which are valid TOML basic-string escapes, so quotes,
backslashes and control characters (a newline in a name) can never break the file.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_str(value: str) -> str:
    """A TOML basic string (Vietnamese kept as is)."""
    return json.dumps(value, ensure_ascii=False)


def toml_key(key: str) -> str:
    """A key, bare when it can be."""
    return key if _BARE_KEY.match(key) else toml_str(key)


def toml_value(value: Any) -> str:
    """A value: strings, numbers, booleans, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def _table(header: str, body: dict[str, Any]) -> str:
    return "\n".join([header, *(f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items())])


def to_toml(data: dict[str, Any]) -> str:
    """A document: top-level tables as ``[table]``, lists of tables as ``[[table]]``, deeper inline."""
    head = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not _is_table(v)]
    parts = ["\n".join(head)] if head else []
    for key, value in data.items():
        if isinstance(value, dict):
            parts.append(_table(f"[{toml_key(key)}]", value))
        elif _is_table(value):
            parts.extend(_table(f"[[{toml_key(key)}]]", item) for item in value)
    return "\n\n".join(parts) + "\n"

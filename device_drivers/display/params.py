"""Validation of a display table's parameters into a backend's parameter model."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from device_drivers.display.errors import DisplayConfigError

M = TypeVar("M", bound=BaseModel)


def parse_params(model: type[M], params: dict[str, Any], where: str = "display") -> M:
    """``model`` from ``params``, or a :class:`DisplayConfigError` naming every bad key."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(table)"
            msg = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown parameter for this backend (check its spelling)"
            problems.append(f"{where}.{key}: {msg}")
        raise DisplayConfigError("; ".join(problems)) from None

"""``[citizen_id]`` in site.toml: defaults all off, and every inconsistent setting named by key path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from onestop import config
from onestop.errors import ConfigError
from tests.unit.sites import BASE

BACKEND = {"url": "http://127.0.0.1:9000/onestop"}


def site(citizen_id: dict[str, Any] | None, backend: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    if citizen_id is not None:
        data["citizen_id"] = citizen_id
    if backend:
        data["backend"] = BACKEND
    return data


def test_defaults_are_all_off() -> None:
    cid = config.parse(site(None)).citizen_id
    assert not cid.enabled and cid.priority_age == 0 and not cid.prefill_name
    assert not (cid.find_bookings or cid.find_dossiers or cid.forward) and cid.uses == []


def test_a_valid_setting() -> None:
    cid = config.parse(
        site(
            {
                "enabled": True,
                "priority_age": 75,
                "prefill_name": True,
                "find_dossiers": True,
                "forward": True,
            },
            backend=True,
        )
    ).citizen_id
    assert cid.uses == ["priority_age", "prefill_name", "find_dossiers"]


@pytest.mark.parametrize(
    ("section", "backend", "expected"),
    [
        (
            {"prefill_name": True},
            False,
            "citizen_id.prefill_name: has no effect unless citizen_id.enabled = true",
        ),
        ({"priority_age": 75}, False, "citizen_id.priority_age: has no effect unless"),
        (
            {"enabled": True, "priority_age": 7},
            False,
            "citizen_id.priority_age: expected 0 (off) or an age of 18",
        ),
        ({"enabled": True, "priority_age": 121}, False, "citizen_id.priority_age:"),
        (
            {"enabled": True, "find_bookings": True},
            False,
            "citizen_id.find_bookings: needs citizen_id.forward",
        ),
        (
            {"enabled": True, "find_dossiers": True, "forward": True},
            False,
            "citizen_id.forward: needs a [backend]",
        ),
        ({"enabled": True, "forward": True}, True, "citizen_id.forward: sends nothing unless"),
        ({"enabled": "maybe"}, False, "citizen_id.enabled:"),
        ({"enabled": True, "name": True}, False, "citizen_id.name: unknown key"),
    ],
)
def test_problems_name_the_key(section: dict[str, Any], backend: bool, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        config.parse(site(section, backend), "site.toml")
    assert any(p.startswith(expected) for p in e.value.problems), e.value.problems

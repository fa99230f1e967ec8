"""Bad input never escapes as an exception: random command payloads and random site.toml mutations.

Every payload a device can send ends as a reply with a protocol error code, or is dropped when no id
can be read; every site file either loads or raises ConfigError naming what is wrong.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestop import config
from onestop.clock import ManualClock
from onestop.errors import ConfigError
from onestop.protocol import ALL_OPS, ERROR_CODES, ProtocolError, parse_command
from queue_controller.engine import Engine
from tests.unit.sites import BASE, MONDAY_8AM, site

CFG = site()
DEVICES = [d.id for d in CFG.devices] + ["intruder", ""]

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=80), st.sampled_from(["tuphap", "datdai", "A001", "cb1", "Chờ lâu", "x" * 5000]),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=12,
)
arg_keys = st.sampled_from(
    [
        "service",
        "priority",
        "number",
        "officer",
        "front",
        "score",
        "reasons",
        "comment",
        "from_seq",
        "limit",
        "zz",
    ]
)
args = st.dictionaries(arg_keys, json_value, max_size=5)
command = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=70), st.integers(), st.none()),
        "op": st.one_of(st.sampled_from(sorted(ALL_OPS)), st.text(max_size=20)),
        "args": st.one_of(args, json_value),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), command.map(lambda c: json.dumps(c).encode())))
def test_any_payload_is_parsed_or_refused_with_a_reason(payload: bytes) -> None:
    try:
        cmd = parse_command(payload)
    except ProtocolError as exc:
        assert str(exc)
        assert exc.command_id is None or (isinstance(exc.command_id, str) and 0 < len(exc.command_id) <= 64)
        return
    assert cmd.op in ALL_OPS and 0 < len(cmd.id) <= 64 and isinstance(cmd.args, dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(DEVICES), st.sampled_from(sorted(ALL_OPS)), args), min_size=1, max_size=40
    )
)
def test_any_command_sequence_gets_a_decision_never_an_exception(
    cmds: list[tuple[str, str, dict[str, Any]]],
) -> None:
    engine = Engine(CFG, ManualClock(MONDAY_8AM))
    for device, op, a in cmds:
        d = engine.handle(device, op, a)
        if d.error is not None:
            assert d.error.code in ERROR_CODES and d.error.message
        else:
            assert isinstance(d.result, dict)
        json.dumps(d.result)  # every result can go on the wire


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(BASE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(st.just("__delete__"), json_value)),
        min_size=1,
        max_size=4,
    )
)
def test_any_site_file_mutation_loads_or_names_its_problems(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        node: Any = data
        try:
            for k in path[:-1]:
                node = node[k]
            if value == "__delete__":
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    try:
        cfg = config.parse(data, "fuzz.toml")
    except ConfigError as exc:
        assert exc.problems and all(p for p in exc.problems)
        assert str(exc).startswith("invalid configuration fuzz.toml")
        return
    Engine(cfg, ManualClock(MONDAY_8AM))  # a file that loads also runs

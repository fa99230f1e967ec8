"""Every TOML file the suite writes reads back equal, whatever the text in it (tomli-w writes it).

The home-made writer this replaced left U+007F unescaped: a site named with one gave a site.toml that
nothing could read back.
"""

from __future__ import annotations

import tomllib
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub_api.tokens import Token, digest, parse_tokens, render_tokens
from onestop.toml_text import dumps, value
from provisioning.devices import device_block
from provisioning.site import render_site_skeleton

#: Any text at all, control characters, quotes, backslashes, Vietnamese and surrogate-free Unicode.
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
KEYS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
SCALARS = st.one_of(
    ANY_TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1)),
)
DOCUMENTS = st.dictionaries(
    KEYS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=12,
    ),
    max_size=6,
)


@given(
    DOCUMENTS,
    st.dictionaries(
        KEYS,
        st.lists(
            st.dictionaries(
                KEYS,
                SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=3),
                max_size=4,
            ),
            min_size=1,
            max_size=3,
        ),
        max_size=2,
    ),
)
def test_a_document_reads_back_equal(doc: dict[str, Any], tables: dict[str, Any]) -> None:
    doc = {**doc, **tables}
    assert tomllib.loads(dumps(doc)) == doc


def test_lists_of_tables_are_blocks_a_technician_and_device_add_can_edit() -> None:
    text = dumps(
        {"site": {"id": "x"}, "devices": [{"id": "kiosk-1", "keys": {"backend": "web"}}, {"id": "b"}]}
    )
    assert '[[devices]]\nid = "kiosk-1"\nkeys = { backend = "web" }\n' in text
    assert text.count("[[devices]]") == 2


@given(st.one_of(SCALARS, st.lists(ANY_TEXT, max_size=5), st.dictionaries(KEYS, SCALARS, max_size=4)))
def test_a_template_value_is_one_line_and_reads_back_equal(v: Any) -> None:
    text = value(v)
    assert "\n" not in text
    assert tomllib.loads(f"x = {text}  # a comment after it\n")["x"] == v


@pytest.mark.parametrize("name", ["Trung tâm\x7f", "tên\x00có\x1fký tự", 'a "quoted" \\ name', "dòng\nmới"])
def test_control_characters_in_a_site_name_read_back(name: str) -> None:
    text = render_site_skeleton(
        site_id="x", name=name, agency=name, public_url="https://hub.local:8443",
        local_port=1883, tls_port=8883, data_dir="var",
    )  # fmt: skip
    assert tomllib.loads(text)["site"]["name"] == name


@given(name=ANY_TEXT, agency=ANY_TEXT, url=ANY_TEXT, data_dir=ANY_TEXT)
def test_the_site_skeleton_reads_back_what_was_given(name: str, agency: str, url: str, data_dir: str) -> None:
    doc = tomllib.loads(
        render_site_skeleton(
            site_id="tq-tthc",
            name=name,
            agency=agency,
            public_url=url,
            local_port=1883,
            tls_port=8883,
            data_dir=data_dir,
        )
    )
    assert (doc["site"]["name"], doc["site"]["agency"]) == (name, agency)
    assert (doc["hub"]["public_url"], doc["storage"]["dir"]) == (url, data_dir)


@given(counter=ANY_TEXT, services=st.lists(ANY_TEXT, max_size=4))
def test_a_device_block_reads_back_what_was_given(counter: str, services: list[str]) -> None:
    doc = tomllib.loads(device_block("counter-1", "counter", counter=counter, services=services or None))
    (dev,) = doc["devices"]
    assert dev["counter"] == counter and dev.get("services", []) == services


NAMED_ROLES = st.tuples(ANY_TEXT.filter(str.strip), st.sampled_from(["viewer", "manager", "admin"]))


@given(st.lists(NAMED_ROLES, max_size=4, unique_by=lambda e: e[0]))
def test_a_token_file_reads_back_what_was_given(entries: list[tuple[str, str]]) -> None:
    tokens = [
        Token(name, role, digest(f"token-{i}-of-enough-length")) for i, (name, role) in enumerate(entries)
    ]
    assert parse_tokens(render_tokens(tokens)) == tokens

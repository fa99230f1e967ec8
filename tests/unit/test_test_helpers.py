"""The test helpers themselves: the site file writer, topic matching and the inbox."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from onestop.config import SiteConfig
from tests.conftest import SiteFactory
from tests.utils.mqtt import Inbox, Received, topic_matches
from tests.utils.site import SITE, merged, to_toml


def test_site_toml_round_trips() -> None:
    assert tomllib.loads(to_toml(SITE)) == SITE


def test_default_site_is_the_documented_one(site_cfg: SiteConfig) -> None:
    assert site_cfg.site.id == "t-site"
    assert [s.prefix for s in site_cfg.services] == ["A", "B", "C"]
    assert "ordered" in [c.policy for c in site_cfg.counters]
    assert len(site_cfg.officers) == 3
    assert [d.id for d in site_cfg.devices] == [
        "kiosk-1",
        "counter-1",
        "counter-2",
        "counter-3",
        "rate-1",
        "board-1",
        "announcer-1",
    ]
    assert site_cfg.device("rate-1").counter == "1"
    assert Path(site_cfg.source).parent in site_cfg.data_dir.parents  # inside tmp_path


def test_site_factory_applies_overrides_and_extra_text(site_factory: SiteFactory) -> None:
    cfg = site_factory(
        {"queue": {"priority_streak": 5}, "site": {"name": "Khác"}},
        extra='[backend]\nurl = "http://127.0.0.1:9/x"',
    )
    assert cfg.queue.priority_streak == 5
    assert cfg.site.name == "Khác"
    assert cfg.site.id == "t-site"  # merged, not replaced
    assert cfg.backend is not None and cfg.backend.url == "http://127.0.0.1:9/x"


def test_merged_replaces_lists_and_merges_tables() -> None:
    out = merged({"a": {"x": 1, "y": 2}, "l": [1, 2]}, {"a": {"y": 3}, "l": [9]})
    assert out == {"a": {"x": 1, "y": 3}, "l": [9]}


@pytest.mark.parametrize(
    ("flt", "topic"),
    [
        ("a/#", "a"),
        ("a/#", "a/b/c"),
        ("#", "a/b"),
        ("a/+", "a/b"),
        ("a/+", "a/b/c"),
        ("a/+/c", "a/x/c"),
        ("a/b", "a/b"),
        ("a/b", "a/b/c"),
        ("a/b/c", "a/b"),
        ("+/+", "a"),
        ("a/+/#", "a/b"),
    ],
)
def test_topic_matches_agrees_with_paho(flt: str, topic: str) -> None:
    assert topic_matches(flt, topic) == paho.topic_matches_sub(flt, topic)


def _msg(topic: str, payload: bytes = b"") -> Received:
    return Received(topic, payload, False, 1, time.monotonic())


def test_inbox_finds_a_message_received_earlier() -> None:
    inbox = Inbox()
    inbox.add(_msg("a/b", b"1"))
    inbox.add(_msg("a/c", b"2"))
    assert inbox.wait_for("a/+", lambda m: m.payload == b"2").topic == "a/c"


def test_inbox_wakes_up_for_a_message_from_another_thread() -> None:
    inbox = Inbox()

    def send() -> None:
        for i in range(200):
            inbox.add(_msg(f"t/{i}", b"x"))

    sender = threading.Thread(target=send)
    sender.start()
    assert inbox.wait_for("t/199").topic == "t/199"
    sender.join()
    assert len(inbox.messages("t/+")) == 200


def test_inbox_times_out_with_what_it_saw() -> None:
    inbox = Inbox()
    inbox.add(_msg("a/b", b"seen"))
    with pytest.raises(TimeoutError, match="seen"):
        inbox.wait_for("x/y", timeout=0.01)

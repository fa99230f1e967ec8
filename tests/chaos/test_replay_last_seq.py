"""Found by the chaos day (fixed): a ``replay`` answer must never say the log ends *before* events
that the controller has already published ahead of it.

The controller computes a hub ``replay`` reply while it decides its batch, from the store as it was
before the batch, but it publishes the batch's events before the batch's replies. A hub that is
catching up (after its restart, or after a gap) therefore receives events N+1.. and then a reply
saying ``last_seq`` N: it logs "the controller's log (N) is behind the hub's (N+k): restored from a
backup?" at ERROR, and any buffered event above N is dropped as "never written". The chaos day saw
the ERROR line in the hub's log after every hub kill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from queue_controller.store import Store


def _msg(topic: str, doc: dict[str, Any], mid: int) -> paho.MQTTMessage:
    m = paho.MQTTMessage(mid=mid, topic=topic.encode())
    m.payload = json.dumps(doc).encode()
    m.qos = 1
    return m


def test_a_replay_reply_is_not_older_than_the_events_published_before_it(
    site_cfg: SiteConfig, tmp_path: Path
) -> None:
    topics = Topics(site_cfg.site.id)
    ctl = Controller(site_cfg, "unused", db_path=tmp_path / "controller.db")
    ctl._store = Store(ctl.db_path)
    ctl._restore()
    sent: list[tuple[str, dict[str, Any]]] = []
    ctl.mqtt.publish = lambda topic, payload, qos=1, retain=False, **kw: sent.append((topic, payload))  # type: ignore[method-assign]
    ctl.mqtt.ack = lambda mid, qos: None  # type: ignore[method-assign]
    # One batch: a kiosk's issue and the hub's replay (the hub catching up after a restart).
    issue = _msg(topics.dev_cmd("kiosk-1"), {"id": "i1", "op": "issue", "args": {"service": "tuphap"}}, 1)
    replay = _msg(topics.dev_cmd("hub"), {"id": "r1", "op": "replay", "args": {"from_seq": 1}}, 2)
    try:
        ctl._process([issue, replay])
    finally:
        ctl._store.close()
    order = [(t, p.get("seq") if t == topics.events else p.get("id")) for t, p in sent]
    events_before_reply = [
        s for t, s in order[: order.index((topics.dev_reply("hub"), "r1"))] if t == topics.events
    ]
    reply = next(p for t, p in sent if t == topics.dev_reply("hub"))
    assert events_before_reply == [1]
    # The hub has event 1 when this reply arrives: a log that "ends at 0" reads as a restored backup.
    assert reply["result"]["last_seq"] >= 1, reply["result"]

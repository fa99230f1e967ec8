"""The echo client of the bare-broker floor, as its own process: republish every message it gets.

``python -m bench._echo --host H --port P --user U --in TOPIC --out TOPIC`` with the password in
``$BENCH_ECHO_PASSWORD``. It prints ``ready`` once subscribed and exits when its standard input
closes (its parent stopped or died) or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

PASSWORD_ENV = "BENCH_ECHO_PASSWORD"


def main(argv: list[str] | None = None) -> int:
    """Run the echo until stdin closes or the time is up."""
    p = argparse.ArgumentParser(prog="python -m bench._echo")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--in", dest="topic_in", required=True)
    p.add_argument("--out", dest="topic_out", required=True)
    p.add_argument("--max-seconds", type=float, default=600.0)
    args = p.parse_args(argv)

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-echo-{os.getpid()}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(args.user, os.environ[PASSWORD_ENV])
    client.max_inflight_messages_set(1000)

    def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            print(f"refused: {reason}", flush=True)
            c.disconnect()
            return
        c.subscribe(args.topic_in, qos=1)

    def on_subscribe(_c: paho.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        print("refused" if reasons[0].is_failure else "ready", flush=True)

    def on_message(c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        c.publish(args.topic_out, msg.payload, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns at EOF
        client.disconnect()

    threading.Thread(target=watch_stdin, daemon=True).start()
    timer = threading.Timer(args.max_seconds, client.disconnect)
    timer.daemon = True
    timer.start()
    client.connect(args.host, args.port, keepalive=30)
    client.loop_forever()
    timer.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())

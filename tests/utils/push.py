"""A fake Web Push service and a fake SMS/Zalo gateway: real HTTP servers on loopback that record
what they receive, and a browser's push subscription whose messages the tests can decrypt."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """``with Recorder() as r: ... r.wait(lambda got: len(got) >= 2, 20)``; ``r.status[path] = 410``;
    ``r.answers[path] = [503, 500]``: the next requests to ``path`` get these first, in turn."""

    status: dict[str, int] = field(default_factory=dict)
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(min(n, 1 << 20))
                with recorder._cond:
                    recorder.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    queued = recorder.answers.get(self.path)
                    code = queued.pop(0) if queued else recorder.status.get(self.path, 201)
                    recorder._cond.notify_all()
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait(self, check: Any, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: check(self.received), timeout)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Browser:
    """A browser's push subscription: its P-256 key pair and auth secret, on an endpoint of ours."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)

    def subscription(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> Any:
        import http_ece  # type: ignore[import-untyped]

        return json.loads(
            http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        )


def check_vapid(headers: dict[str, str], public_key: str) -> dict[str, Any]:
    """The VAPID JWT's claims, after checking its ES256 signature against ``public_key`` (RFC 8292)."""
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid", headers["authorization"]
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"].rstrip("=") == public_key, "the JWT names the province's VAPID key"
    head, claims, sig = fields["t"].split(".")
    assert json.loads(unb64url(head)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64url(sig)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, f"{head}.{claims}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AssertionError("the VAPID JWT's signature is wrong") from exc
    out: dict[str, Any] = json.loads(unb64url(claims))
    return out

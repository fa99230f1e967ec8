"""Citizens on 4G: each ticket's public status at the province, and the notifications they asked for.

**Where a link comes from.** The controller gives every ticket an unguessable link token
(:mod:`onestop.ticket_links`: an HMAC of the ticket id under the controller's own key) and puts it in
the ``ticket.issued`` event, which the site's bridge carries to the province. The province learns
each token from that event: it holds no key of any site, and verifies a link by finding it. A token
the province never received (or purged) is simply unknown; with 128 bits nobody finds one by trying.

**The feed** runs on one node at a time (an advisory lock, like the live view): it subscribes to the
province broker's ``+/events`` with a persistent session at QoS 1 (a new leader picks up what the old
one had not read), folds every ticket event into ``public_tickets`` (once: an event at or below the
ticket's ``last_seq`` is a redelivery), and sends notifications:

- "near" once, when at most ``site_notify.near`` (default 3) people are ahead of a subscribed ticket
  (checked after every batch of events and every second, so a subscription made when the line was
  already short is served too);
- "called" at every call of the ticket (a recall after a skip included), once per call event.

A Web Push goes through pywebpush with the province's VAPID key (made once, kept in
``province_secrets``); an SMS/Zalo message through the centre's gateway (a JSON POST with its bearer
token). A phone number is deleted when its ticket is done or expired, and never logged: log lines
name the site and the ticket number only. A push service that answers 404/410 has forgotten the
subscription: it is deleted.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import paho.mqtt.client as mqttc
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import PROTOCOL_VERSION, ROOT_PREFIX
from onestop.ticket_links import looks_like_token
from province.leader import lead

log = logging.getLogger("onestop.province.citizens")

FEED_KEY = 0x6F6E6573_63697479
CLIENT_ID = "province-tickets"
MAX_PAYLOAD = 64 * 1024
DEFAULT_NEAR = 3
STATUSES = ("waiting", "called", "done", "skipped", "expired")
#: Rows older than this are purged even if the site's next day never came (a centre that closed).
KEEP_HOURS = 36
#: Push services a subscription may name (https only): a browser's endpoint is one of these, and
#: nothing else is ever POSTed to (a subscription is untrusted input: no requests into the LAN).
PUSH_HOSTS = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
    "*.push.apple.com",
)
SEND_TIMEOUT_S = 5.0
#: A send that failed for a passing reason (no connection, a timeout, 429, 5xx) is tried again after
#: these delays, while the notice still means something (its push TTL: 10 min near, 5 min called).
RETRY_DELAYS_S = (2.0, 10.0, 30.0)
#: How long a notice is worth sending, by kind (also the push messages' TTL).
NOTICE_TTL_S = {"near": 600, "called": 300}


class Outcome(enum.Enum):
    """How one try of a send ended."""

    SENT = "sent"
    AGAIN = "again"  # a passing failure: try again later
    FAILED = "failed"  # a lasting one (refused, the subscription gone, no gateway)


def outcome_of(status: int) -> Outcome:
    """The outcome of an HTTP answer from a push service or gateway."""
    if 200 <= status < 300:
        return Outcome.SENT
    return Outcome.AGAIN if status == 429 or status >= 500 else Outcome.FAILED


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


# -- VAPID ------------------------------------------------------------------------------------------
def vapid_private_key(conn: psycopg.Connection) -> ec.EllipticCurvePrivateKey:
    """The province's VAPID key (P-256): made by the first node that needs it, then shared by all."""
    row = conn.execute("SELECT value FROM province_secrets WHERE name = 'vapid_key'").fetchone()
    if row is None:
        der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        conn.execute(
            "INSERT INTO province_secrets (name, value) VALUES ('vapid_key', %s) ON CONFLICT DO NOTHING",
            (der,),
        )
        row = conn.execute("SELECT value FROM province_secrets WHERE name = 'vapid_key'").fetchone()
        assert row is not None
    key = serialization.load_der_private_key(bytes(row[0]), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def vapid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The browser's ``applicationServerKey``: the uncompressed point, base64url."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def push_endpoint_allowed(endpoint: str, allowed: tuple[str, ...]) -> bool:
    """True when ``endpoint`` is an https URL of a known push service, or starts with an allowed
    ``http(s)://`` prefix (a province's own push relay; the tests' fake)."""
    if len(endpoint) > 1024:
        return False
    for entry in allowed:
        if "://" in entry:
            if endpoint.startswith(entry):
                return True
            continue
    url = urlsplit(endpoint)
    if url.scheme != "https" or not url.hostname or url.username or url.password:
        return False
    host = url.hostname.lower()
    for entry in allowed:
        if "://" in entry:
            continue
        if (entry.startswith("*.") and host.endswith(entry[1:])) or host == entry:
            return True
    return False


# -- the status page's data ---------------------------------------------------------------------------
def english_counter(label: str, counter: str) -> str:
    """``Quầy 5`` → ``Counter 5``; any other label stays as it is."""
    if label.startswith("Quầy "):
        return "Counter " + label[len("Quầy ") :]
    return label or f"Counter {counter}"


def public_status(conn: psycopg.Connection, token: str) -> dict[str, Any] | None:
    """What the ticket's public page shows (nothing personal), or None for an unknown link."""
    if not looks_like_token(token):
        return None
    row = conn.execute(
        """SELECT t.site, t.number, t.service, t.priority, t.status, t.counter, t.order_key,
                  t.issued_at, t.called_at, s.name, l.state -> 'services' -> t.service,
                  l.state -> 'counters' -> t.counter, n.gateway_url IS NOT NULL, coalesce(n.near, %s)
           FROM public_tickets t JOIN sites s ON s.id = t.site
           LEFT JOIN site_live l ON l.site = t.site LEFT JOIN site_notify n ON n.site = t.site
           WHERE t.token = %s""",
        (DEFAULT_NEAR, token),
    ).fetchone()
    if row is None:
        return None
    site, number, service, priority, status, counter, order_key, issued_at, called_at = row[:9]
    site_name, svc, ctr, phone_ok, near = row[9:]
    svc = svc if isinstance(svc, dict) else {}
    ctr = ctr if isinstance(ctr, dict) else {}
    ahead: int | None = None
    est: int | None = None
    if status == "waiting":
        n = conn.execute(
            """SELECT count(*) FROM public_tickets WHERE site = %s AND service = %s AND status = 'waiting'
               AND (priority > %s OR (priority = %s AND order_key < %s))""",
            (site, service, priority, priority, order_key),
        ).fetchone()
        ahead = int(n[0]) if n else 0
        waiting, est_all = svc.get("waiting"), svc.get("est_wait_s")
        if ahead == 0:
            est = 0
        elif isinstance(waiting, int) and isinstance(est_all, int) and waiting > 0:
            est = round(est_all * ahead / waiting)  # the controller's estimate is linear in people ahead
    label = (
        ctr.get("label") if isinstance(ctr.get("label"), str) else (f"Quầy {counter}" if counter else None)
    )
    return {
        "number": number,
        "service_name": svc.get("name") if isinstance(svc.get("name"), str) else service,
        "service_name_en": svc.get("name_en") if isinstance(svc.get("name_en"), str) else "",
        "priority": priority,
        "status": status,
        "counter_label": label,
        "counter_label_en": english_counter(label, counter or "") if label else None,
        "issued_at": issued_at.isoformat(),
        "called_at": called_at.isoformat() if called_at else None,
        "ahead": ahead,
        "est_wait_s": est,
        "site_name": site_name,
        "near": near,
        "phone": phone_ok,
    }


# -- notifications --------------------------------------------------------------------------------------
@dataclass
class Notice:
    """One message for one subscription (a browser's, or a phone number's)."""

    kind: str  # "near" | "called"
    site: str
    token: str
    number: str
    ahead: int = 0
    counter_label: str = ""
    push: tuple[int, str, str, str] | None = None  # (id, endpoint, p256dh, auth)
    phone: str | None = field(default=None, repr=False)
    seq: int = 0  # a "called" notice: the seq of its call event (a recall is another message)

    @property
    def key(self) -> str:
        """The message's idempotency key for a gateway: the same on every try, another for another
        message; it tells nothing of the ticket's link or the phone number."""
        raw = f"{self.site}\0{self.token}\0{self.kind}\0{self.seq}\0{self.phone or ''}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def texts(self) -> tuple[str, str]:
        """(Vietnamese, English)."""
        if self.kind == "called":
            en = english_counter(self.counter_label, "")
            return f"Mời số {self.number} đến {self.counter_label}", f"{self.number}: please go to {en}"
        if self.ahead == 0:
            return (f"Số {self.number}: sắp đến lượt bạn, xin về gần quầy", f"{self.number}: you are next")
        people = "1 person" if self.ahead == 1 else f"{self.ahead} people"
        return (f"Số {self.number}: trước bạn còn {self.ahead} người, xin quay lại trung tâm",
                f"{self.number}: {people} ahead of you")  # fmt: skip


class Sender:
    """Sends notices on a few threads (a slow push service or gateway never holds the feed); a send
    that failed for a passing reason is tried again later (:data:`RETRY_DELAYS_S`), on a timer, so a
    push service that is down holds no thread either."""

    def __init__(
        self, dsn: str, *, subject: str, workers: int = 4, delays: tuple[float, ...] = RETRY_DELAYS_S
    ) -> None:
        self.dsn = dsn
        self.subject = subject
        self.delays = delays
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="province-notify")
        self._key: Any = None
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self.done = threading.Condition()
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def set_key(self, key: ec.EllipticCurvePrivateKey) -> None:
        from py_vapid import Vapid  # type: ignore[import-untyped]

        self._key = Vapid(key)

    def submit(self, notice: Notice, gateway: tuple[str, str | None, str] | None) -> None:
        stale_at = time.monotonic() + NOTICE_TTL_S.get(notice.kind, 300)
        self._pool.submit(self._send, notice, gateway, 0, stale_at)

    def close(self) -> None:
        with self.done:
            self._closed = True
            timers, self._timers = self._timers, set()
        for t in timers:  # a retry not yet due is dropped: a notice is worth little after a restart
            t.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _count(self, ok: bool) -> None:
        with self.done:
            if ok:
                self.sent += 1
            else:
                self.failed += 1
            self.done.notify_all()

    def _send(
        self, n: Notice, gateway: tuple[str, str | None, str] | None, attempt: int, stale_at: float
    ) -> None:
        try:
            got = self._push(n) if n.push is not None else self._gateway(n, gateway)
        except Exception:  # one failed message must not stop the others
            log.exception("site %s ticket %s: %s notification failed", n.site, n.number, n.kind)
            got = Outcome.FAILED
        if got is Outcome.AGAIN and attempt < len(self.delays):
            delay = self.delays[attempt]
            if time.monotonic() + delay < stale_at and self._later(delay, n, gateway, attempt + 1, stale_at):
                log.info(
                    "site %s ticket %s: %s notification tried again in %.0f s",
                    n.site,
                    n.number,
                    n.kind,
                    delay,
                )
                return
        self._count(got is Outcome.SENT)

    def _later(self, delay: float, *args: Any) -> bool:
        """Submit a send again after ``delay`` seconds (False once closed)."""

        def fire() -> None:
            with self.done:
                self._timers.discard(timer)
                if self._closed:
                    return
                self.retried += 1
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                self._pool.submit(self._send, *args)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self.done:
            if self._closed:
                return False
            self._timers.add(timer)
        timer.start()
        return True

    def _push(self, n: Notice) -> Outcome:
        import requests  # pywebpush's HTTP client
        from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]

        assert n.push is not None
        sub_id, endpoint, p256dh, auth = n.push
        vi, en = n.texts()
        payload = orjson.dumps(
            {"title": vi, "body": en, "url": f"/t/{n.token}", "tag": f"{n.token}-{n.kind}", "kind": n.kind}
        ).decode("utf-8")
        host = urlsplit(endpoint).hostname
        try:
            resp = webpush(
                {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                data=payload,
                vapid_private_key=self._key,
                vapid_claims={"sub": self.subject},
                ttl=NOTICE_TTL_S.get(n.kind, 300),
                timeout=SEND_TIMEOUT_S,
            )
            status = getattr(resp, "status_code", 201)
        except WebPushException as exc:
            if exc.response is None:  # no answer: refused, timed out
                log.warning("site %s ticket %s: push to %s failed: %s", n.site, n.number, host, exc)
                return Outcome.AGAIN
            status = exc.response.status_code
        except Exception as exc:  # no connection or a timeout (again later); bad keys (never)
            log.warning(
                "site %s ticket %s: push to %s failed: %s", n.site, n.number, host, type(exc).__name__
            )
            passing = isinstance(exc, (requests.RequestException, OSError))
            return Outcome.AGAIN if passing else Outcome.FAILED
        if status in (404, 410):  # the browser unsubscribed: forget it
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute("DELETE FROM push_subscriptions WHERE id = %s", (sub_id,))
            log.info("site %s ticket %s: push subscription gone (%d), deleted", n.site, n.number, status)
            return Outcome.FAILED
        got = outcome_of(status)
        if got is Outcome.SENT:
            log.info("site %s ticket %s: %s push sent", n.site, n.number, n.kind)
        else:
            log.warning("site %s ticket %s: push service %s answered %d", n.site, n.number, host, status)
        return got

    def _gateway(self, n: Notice, gateway: tuple[str, str | None, str] | None) -> Outcome:
        if gateway is None or n.phone is None:
            return Outcome.FAILED
        url, token, channel = gateway
        vi, en = n.texts()
        # The same key on every try of one message: a gateway that got the first try but whose answer
        # was lost sends it once (a "called" message is one per call: its event's seq is in the key).
        headers = {"Idempotency-Key": n.key}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = {"to": n.phone, "channel": channel, "text": f"{vi}. {en}.", "site": n.site, "kind": n.kind}
        try:
            r = httpx.post(url, json=body, headers=headers, timeout=SEND_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning(
                "site %s ticket %s: %s gateway failed: %s", n.site, n.number, channel, type(exc).__name__
            )
            return Outcome.AGAIN
        got = outcome_of(r.status_code)
        if got is Outcome.SENT:
            log.info("site %s ticket %s: %s %s sent", n.site, n.number, n.kind, channel)
        else:
            log.warning("site %s ticket %s: %s gateway answered %d", n.site, n.number, channel, r.status_code)
        return got


# -- folding events ---------------------------------------------------------------------------------------
def _text(v: Any, limit: int = 64) -> str | None:
    return v if isinstance(v, str) and 0 < len(v) <= limit else None


def _ts(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def apply_event(conn: psycopg.Connection, site: str, event: dict[str, Any]) -> list[Notice]:
    """Fold one of a site's events into ``public_tickets``; the "called" notices it causes.
    Anything malformed is ignored (False-y result); a site is untrusted input."""
    kind, seq, data = event.get("type"), event.get("seq"), event.get("data")
    if not isinstance(kind, str) or not kind.startswith("ticket.") or not isinstance(data, dict):
        return []
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**62:
        return []
    t = data.get("ticket")
    if not isinstance(t, dict):
        return []
    tid, number, service, status = (
        _text(t.get("id")),
        _text(t.get("number"), 16),
        _text(t.get("service")),
        t.get("status"),
    )
    if tid is None or number is None or service is None or status not in STATUSES:
        return []
    counter = _text(t.get("counter"))
    if kind == "ticket.issued":
        token, issued = t.get("token"), _ts(t.get("issued_at"))
        if not isinstance(token, str) or not looks_like_token(token) or issued is None:
            return []  # a controller older than ticket links: no page for it
        day = tid.split("-", 1)[0][:8]
        with conn.transaction():
            conn.execute(
                """INSERT INTO public_tickets (token, site, ticket_id, day, number, service, priority, status,
                       counter, order_key, issued_at, last_seq)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (token, site, tid, day, number, service, t.get("priority") is True, status, counter, seq,
                 issued, seq),
            )  # fmt: skip
            # A new business day at this site: yesterday's tickets go, with their subscriptions.
            conn.execute("DELETE FROM public_tickets WHERE site = %s AND day < %s", (site, day))
        return []
    with conn.transaction():
        row = conn.execute(
            "SELECT token, last_seq FROM public_tickets WHERE site = %s AND ticket_id = %s FOR UPDATE",
            (site, tid),
        ).fetchone()
        if row is None or row[1] >= seq:
            return []  # unknown (no link), or a redelivery
        token = row[0]
        sets = ["status = %s", "counter = %s", "service = %s", "last_seq = %s", "seen_at = now()"]
        params: list[Any] = [status, counter, service, seq]
        if kind == "ticket.called":
            sets.append("called_at = %s")
            params.append(_ts(t.get("called_at")) or _ts(event.get("ts")))
        if kind == "ticket.transferred":  # waits again in another line: at its end, or at its head
            sets.append("order_key = %s")
            params.append(-seq if data.get("front") is True else seq)
            conn.execute("UPDATE push_subscriptions SET near_sent = false WHERE token = %s", (token,))
            conn.execute("UPDATE phone_subscriptions SET near_sent = false WHERE token = %s", (token,))
        conn.execute(f"UPDATE public_tickets SET {', '.join(sets)} WHERE token = %s", (*params, token))
        if status in ("done", "expired"):  # the ticket ended: its phone number goes now
            conn.execute("DELETE FROM phone_subscriptions WHERE token = %s", (token,))
            conn.execute("DELETE FROM push_subscriptions WHERE token = %s", (token,))
            return []
        if kind != "ticket.called":
            return []
        label = _counter_label(conn, site, counter)
        notices = [
            Notice("called", site, token, number, counter_label=label, push=(r[0], r[1], r[2], r[3]), seq=seq)
            for r in conn.execute(
                """UPDATE push_subscriptions SET called_seq = %s, near_sent = true
                   WHERE token = %s AND called_seq < %s RETURNING id, endpoint, p256dh, auth""",
                (seq, token, seq),
            ).fetchall()
        ]
        notices += [
            Notice("called", site, token, number, counter_label=label, phone=r[0], seq=seq)
            for r in conn.execute(
                """UPDATE phone_subscriptions SET called_seq = %s, near_sent = true
                   WHERE token = %s AND called_seq < %s RETURNING phone""",
                (seq, token, seq),
            ).fetchall()
        ]
        return notices


def _counter_label(conn: psycopg.Connection, site: str, counter: str | None) -> str:
    if not counter:
        return "quầy"
    row = conn.execute(
        "SELECT state -> 'counters' -> %s ->> 'label' FROM site_live WHERE site = %s", (counter, site)
    ).fetchone()
    return row[0] if row and isinstance(row[0], str) and row[0] else f"Quầy {counter}"


def near_notices(conn: psycopg.Connection) -> list[Notice]:
    """Subscribed tickets with at most their site's ``near`` people ahead, not yet told: claimed
    (marked sent) in the same transaction, so each is told once."""
    with conn.transaction():
        rows = conn.execute(
            """WITH waiting_subs AS (  -- from the few unsent subscriptions, not every ticket
                   SELECT token FROM push_subscriptions WHERE NOT near_sent
                   UNION SELECT token FROM phone_subscriptions WHERE NOT near_sent
               ), wanted AS (
                   SELECT DISTINCT t.site, t.service FROM waiting_subs w
                   JOIN public_tickets t ON t.token = w.token WHERE t.status = 'waiting'
               ), line AS (
                   SELECT t.token, t.site, t.number,
                          row_number() OVER (PARTITION BY t.site, t.service
                                             ORDER BY t.priority DESC, t.order_key) - 1 AS ahead
                   FROM public_tickets t JOIN wanted w ON w.site = t.site AND w.service = t.service
                   WHERE t.status = 'waiting'
               )
               SELECT l.token, l.site, l.number, l.ahead FROM line l
               LEFT JOIN site_notify n ON n.site = l.site
               WHERE l.ahead <= coalesce(n.near, %s)""",
            (DEFAULT_NEAR,),
        ).fetchall()
        if not rows:
            return []
        info = {r[0]: (r[1], r[2], int(r[3])) for r in rows}
        tokens = list(info)
        out: list[Notice] = []
        for r in conn.execute(
            """UPDATE push_subscriptions SET near_sent = true WHERE token = ANY(%s) AND NOT near_sent
               RETURNING token, id, endpoint, p256dh, auth""",
            (tokens,),
        ).fetchall():
            site, number, ahead = info[r[0]]
            out.append(Notice("near", site, r[0], number, ahead=ahead, push=(r[1], r[2], r[3], r[4])))
        for r in conn.execute(
            """UPDATE phone_subscriptions SET near_sent = true WHERE token = ANY(%s) AND NOT near_sent
               RETURNING token, phone""",
            (tokens,),
        ).fetchall():
            site, number, ahead = info[r[0]]
            out.append(Notice("near", site, r[0], number, ahead=ahead, phone=r[1]))
        return out


def purge(conn: psycopg.Connection) -> int:
    """Delete tickets not heard of for KEEP_HOURS (subscriptions and phone numbers with them)."""
    cur = conn.execute(
        "DELETE FROM public_tickets WHERE seen_at < now() - make_interval(hours => %s)", (KEEP_HOURS,)
    )
    return cur.rowcount


def gateways(conn: psycopg.Connection) -> dict[str, tuple[str, str | None, str]]:
    rows = conn.execute(
        "SELECT site, gateway_url, gateway_token, gateway_channel FROM site_notify "
        "WHERE gateway_url IS NOT NULL"
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


class TicketFeed:
    """The leader's subscriber to every site's events, and the notifications; ``start()``, ``stop()``."""

    def __init__(
        self, dsn: str, mqtt: MqttSettings, *, subject: str = "mailto:onestop@localhost",
        sweep_s: float = 1.0, poll_s: float = 2.0,
    ) -> None:  # fmt: skip
        self.dsn = dsn
        self.settings = mqtt
        self.settings.subscriptions = [(f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/events", 1)]
        self.settings.manual_ack = True
        self.settings.client_id = CLIENT_ID
        self.settings.session_expiry_s = 3600  # events wait for the next leader
        self.sweep_s = sweep_s
        self.poll_s = poll_s
        self.sender = Sender(dsn, subject=subject)
        self.dropped = 0
        self._inbox: queue.Queue[tuple[str, bytes, int, int]] = queue.Queue(maxsize=100_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MqttClient | None = None

    def start(self) -> TicketFeed:
        self._thread = threading.Thread(target=self._run, name="province-tickets", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sender.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                lead(self.dsn, FEED_KEY, "the ticket pages' feed", self._job, self._stop, poll_s=self.poll_s)
            except Exception:  # anything else than the database gone: log it, and lead again
                log.exception("the ticket pages' feed failed; starting again")
                self._stop.wait(self.poll_s)

    def on_message(self, msg: mqttc.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) != 4 or parts[3] != "events" or len(msg.payload) > MAX_PAYLOAD:
            self.dropped += 1
            self._client_ack(msg.mid, msg.qos)
            return
        # Acknowledged once folded (committed): a leader that dies first gets it again (session).
        self._inbox.put((parts[2], bytes(msg.payload), msg.mid, msg.qos))

    def _job(self, still_leader: Callable[[], None]) -> None:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            self.sender.set_key(vapid_private_key(conn))
            client = self._client = MqttClient(self.settings, self.on_message)
            client.start(wait=None)
            sweeps = 0
            try:
                while not self._stop.is_set():
                    try:
                        first = self._inbox.get(timeout=self.sweep_s)
                    except queue.Empty:
                        first = None
                    still_leader()
                    notices: list[Notice] = []
                    batch = [first] if first else []
                    while len(batch) < 500:
                        try:
                            batch.append(self._inbox.get_nowait())
                        except queue.Empty:
                            break
                    for site, payload, _mid, _qos in batch:
                        notices += self._apply(conn, site, payload)
                    for _site, _payload, mid, qos in batch:
                        client.ack(mid, qos)
                    notices += near_notices(conn)
                    if notices:
                        gw = gateways(conn)
                        for n in notices:
                            if n.push is not None or n.site in gw:
                                self.sender.submit(n, gw.get(n.site))
                    sweeps += 1
                    if sweeps % 600 == 0:
                        purge(conn)
            finally:
                self._client = None
                client.stop()
                while not self._inbox.empty():  # unacknowledged: the broker sends them again
                    self._inbox.get_nowait()

    def _client_ack(self, mid: int, qos: int) -> None:
        client = self._client
        if client is not None:
            client.ack(mid, qos)

    def _apply(self, conn: psycopg.Connection, site: str, payload: bytes) -> list[Notice]:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.dropped += 1
            return []
        if not isinstance(event, dict):
            self.dropped += 1
            return []
        try:
            return apply_event(conn, site, event)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            self.dropped += 1
            log.info("site %s: an event refused by the database: %s", site, type(exc).__name__)
            return []

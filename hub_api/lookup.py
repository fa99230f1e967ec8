"""The hub's relay of kiosks' back-end lookups: bookings, dossiers, a citizen's lists (issue 13).

A kiosk holds no back-end token. It publishes ``{root}/dev/{device}/lookup``
``{"id", "kind", "code"}``; the hub checks it, asks the back end (``GET {backend.url}/bookings/{code}``
and the like, docs/backend.md "Lookups") and answers on ``{root}/dev/{device}/lookup/reply``.

What protects whom:

- **The back end and the hub from a kiosk.** Only devices whose role is ``kiosk`` may look up
  (``forbidden`` otherwise); payloads are small and strictly checked (``bad_request`` when the id can
  be read, logged and dropped otherwise); each device has a token bucket (its ``[limits]`` share);
  at most :data:`QUEUE_MAX` lookups wait for the :data:`WORKERS` worker threads. A repeated id (QoS 1
  redelivery, the kiosk's retry) gets the same answer for :data:`REMEMBER_S` without a second call.
- **The hub from the back end.** Each call ends within ``[backend] lookup_timeout_s`` in all
  (connect, headers, body), and at most :data:`MAX_ANSWER_BYTES` of an answer are read: a slow or
  endless answer is ``backend_unavailable``, and the kiosk offers a normal ticket. Only the documented
  fields of an answer reach the kiosk.
- **The citizen.** ``citizen_*`` lookups carry an id number: refused (``not_configured``) unless
  ``[citizen_id] forward = true`` and the look-up's own switch (``find_bookings``, ``find_dossiers``)
  are on; never logged (only the kind is), not even by httpx's request log,
  which this module redacts.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from hub_api.backends import BackendConfigError, Deadline, read_capped, read_token
from onestop import __version__
from onestop.config import SiteConfig
from onestop.protocol import MAX_COMMAND_ID_LEN, Topics, dumps
from queue_controller.engine import business_day
from queue_controller.limits import TokenBucket

log = logging.getLogger("onestop.hub.lookup")

KINDS = ("booking", "dossier", "citizen_bookings", "citizen_dossiers")
CITIZEN_KINDS = frozenset({"citizen_bookings", "citizen_dossiers"})
LOOKUP_ERRORS = ("not_found", "backend_unavailable", "bad_request", "forbidden", "not_configured")

#: The largest lookup payload read (a real one is under 150 bytes).
MAX_LOOKUP_BYTES = 1024
#: The most of a back end's answer that is read; a bigger one is ``backend_unavailable``.
MAX_ANSWER_BYTES = 64 * 1024
#: Items of a citizen's list passed on to the kiosk.
MAX_LIST_ITEMS = 20
#: A repeated lookup id gets the same answer for this long, without a second back-end call.
REMEMBER_S = 120.0
REMEMBER_MAX = 4096
#: Threads that call the back end, and lookups that may wait for them.
WORKERS = 4
QUEUE_MAX = 64
#: Answers that cost no back-end call (refusals, repeats) a device gets: this many at once, then one a
#: second; a flood beyond that is answered by silence (the kiosk's own deadline then ends its wait).
QUICK_ANSWERS_BURST = 5
QUICK_ANSWERS_PER_MINUTE = 60.0

#: After this many back-end failures in a row, lookups are answered ``backend_unavailable`` without a
#: call for BREAKER_S seconds; then one is let through (and one more failure waits again).
BREAKER_FAILURES = 3
BREAKER_S = 10.0

_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SNIFF_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([A-Za-z0-9._:-]{1,64})"')
#: Codes go into a URL path: letters, digits, dots and dashes, starting with a letter or digit.
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CITIZEN_RE = re.compile(r"^(\d{9}|\d{12})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

BOOKING_FIELDS = ("code", "site", "service", "slot_start", "slot_end", "initials", "status")
DOSSIER_FIELDS = ("code", "site", "title", "status", "ready", "promised_date", "service")
BOOKING_STATUSES = frozenset({"booked", "used", "cancelled"})
DOSSIER_STATUSES = frozenset({"received", "processing", "ready", "returned", "rejected"})


def allowed_citizen_kinds(cfg: SiteConfig) -> frozenset[str]:
    """The citizen look-ups the site allows, i.e. for which the hub may send an id number to the back
    end: ``[citizen_id]`` ``enabled`` and ``forward``, and ``find_bookings`` / ``find_dossiers``."""
    rules = cfg.citizen_id
    if not (rules.enabled and rules.forward):
        return frozenset()
    kinds = {"citizen_bookings"} if rules.find_bookings else set()
    if rules.find_dossiers:
        kinds.add("citizen_dossiers")
    return frozenset(kinds)


# -- privacy: httpx logs each request's URL -----------------------------------------------------

_CITIZEN_PATH = re.compile(r"/citizens/[^/?\s\"']+")


class _RedactCitizenIds(logging.Filter):
    """Rewrites ``/citizens/{id}`` as ``/citizens/***`` in httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "/citizens/" in msg:
            record.msg = _CITIZEN_PATH.sub("/citizens/***", msg)
            record.args = None
        return True


def _redact_httpx_logs() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactCitizenIds) for f in logger.filters):
            logger.addFilter(_RedactCitizenIds())


# -- the back end ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What one back-end call came to: a result, or an error code with a message for the kiosk."""

    result: dict[str, Any] | None = None
    code: str = ""
    message: str = ""
    #: Why the back end could not be used (for the hub's log; never holds an id number).
    why: str = ""

    @property
    def ok(self) -> bool:
        """A result."""
        return self.result is not None

    def reply(self, lookup_id: str) -> dict[str, Any]:
        """The reply payload of INTERFACES-13 / docs/backend.md."""
        if self.result is not None:
            return {"id": lookup_id, "ok": True, "result": self.result}
        return {"id": lookup_id, "ok": False, "error": {"code": self.code, "message": self.message}}


def refuse(code: str, message: str, why: str = "") -> Answer:
    """An error answer."""
    return Answer(None, code, message, why)


UNAVAILABLE = "the back end cannot be asked now; take a normal ticket"


class HttpLookups:
    """``GET {url}/bookings/{code}`` and the like, each within ``timeout_s`` and ``max_bytes``."""

    def __init__(
        self, url: str, token: str, site: str, *, timeout_s: float = 3.0, max_bytes: int = MAX_ANSWER_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        _redact_httpx_logs()
        self.base = url.rstrip("/")
        self.site = site
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Accept-Encoding": "identity",
                "User-Agent": f"onestop-hub/{__version__}",
            },
            transport=transport,
            follow_redirects=False,
            # A new connection per call, so that the deadline can always reach its socket.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def path(self, kind: str, code: str) -> str:
        """The URL path of a lookup (under ``[backend] url``)."""
        q = quote(code, safe="")
        if kind == "booking":
            return f"/bookings/{q}"
        if kind == "dossier":
            return f"/dossiers/{q}"
        return f"/citizens/{q}/{'bookings' if kind == 'citizen_bookings' else 'dossiers'}"

    def get(self, kind: str, code: str, day: str) -> Answer:
        """Ask the back end; never raises for what the back end does."""
        params = {"site": self.site}
        if kind == "citizen_bookings":
            params["date"] = day
        deadline = Deadline(self.timeout_s)
        try:
            with deadline:
                request = self.client.build_request(
                    "GET", self.base + self.path(kind, code), params=params,
                    extensions={"trace": deadline.trace},
                )  # fmt: skip
                r = self.client.send(request, stream=True)
                try:
                    body = read_capped(r, self.max_bytes)
                finally:
                    r.close()
        except httpx.TimeoutException:
            return refuse("backend_unavailable", UNAVAILABLE, f"no answer within {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            if deadline.expired:
                return refuse(
                    "backend_unavailable", UNAVAILABLE, f"no complete answer within {self.timeout_s:g} s"
                )
            return refuse("backend_unavailable", UNAVAILABLE, type(exc).__name__)  # its text may hold the URL
        if body is None:
            return refuse(
                "backend_unavailable",
                UNAVAILABLE,
                f"answer over {self.max_bytes} bytes (HTTP {r.status_code})",
            )
        if r.status_code == 404:
            return refuse("not_found", "the back end does not know this code")
        if r.status_code != 200:
            hint = "; check the token in [backend] token_env" if r.status_code in (401, 403) else ""
            return refuse("backend_unavailable", UNAVAILABLE, f"HTTP {r.status_code}{hint}")
        try:
            doc = json.loads(body)
        except ValueError:
            return refuse("backend_unavailable", UNAVAILABLE, "the answer is not JSON")
        try:
            return Answer(shape(kind, doc))
        except ValueError as exc:
            return refuse("backend_unavailable", UNAVAILABLE, f"malformed answer: {exc}")

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _text(v: Any, name: str, most: int, *, optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str) or len(v) > most:
        raise ValueError(f"{name}: expected text of at most {most} characters")
    return v


def shape_booking(doc: Any) -> dict[str, Any]:
    """A booking as the kiosk gets it: the documented fields only, checked."""
    if not isinstance(doc, dict):
        raise ValueError("a booking is a JSON object")
    out = {
        "code": _text(doc.get("code"), "code", 64),
        "site": _text(doc.get("site"), "site", 64, optional=True),
        "service": _text(doc.get("service"), "service", 64),
        "slot_start": _text(doc.get("slot_start"), "slot_start", 40),
        "slot_end": _text(doc.get("slot_end"), "slot_end", 40),
        "initials": _text(doc.get("initials", ""), "initials", 16),
        "status": doc.get("status"),
    }
    if out["status"] not in BOOKING_STATUSES:
        raise ValueError(f"status: expected one of {sorted(BOOKING_STATUSES)}")
    for k in ("slot_start", "slot_end"):
        try:
            if datetime.fromisoformat(str(out[k])).tzinfo is None:
                raise ValueError
        except ValueError:
            raise ValueError(f"{k}: expected ISO 8601 with an offset") from None
    return out


def shape_dossier(doc: Any) -> dict[str, Any]:
    """A dossier as the kiosk gets it: the documented fields only, checked."""
    if not isinstance(doc, dict):
        raise ValueError("a dossier is a JSON object")
    status = doc.get("status")
    if status not in DOSSIER_STATUSES:
        raise ValueError(f"status: expected one of {sorted(DOSSIER_STATUSES)}")
    promised = _text(doc.get("promised_date"), "promised_date", 10, optional=True)
    if promised is not None and not _DATE_RE.match(promised):
        raise ValueError("promised_date: expected YYYY-MM-DD or null")
    ready = doc.get("ready", status == "ready")
    if not isinstance(ready, bool):
        raise ValueError("ready: expected true or false")
    return {
        "code": _text(doc.get("code"), "code", 64),
        "site": _text(doc.get("site"), "site", 64, optional=True),
        "title": _text(doc.get("title", ""), "title", 300),
        "status": status,
        "ready": ready,
        "promised_date": promised,
        "service": _text(doc.get("service"), "service", 64, optional=True),
    }


def shape(kind: str, doc: Any) -> dict[str, Any]:
    """The result of a lookup from the back end's answer (ValueError when it is not as documented)."""
    if kind == "booking":
        return shape_booking(doc)
    if kind == "dossier":
        return shape_dossier(doc)
    key = "bookings" if kind == "citizen_bookings" else "dossiers"
    items = doc.get(key) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError(f'expected {{"{key}": [...]}}')
    one = shape_booking if key == "bookings" else shape_dossier
    return {key: [one(item) for item in items[:MAX_LIST_ITEMS]]}


# -- the relay -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """A checked lookup request."""

    device: str
    id: str
    kind: str
    code: str

    def shown(self) -> str:
        """How the request appears in the log: an id number never does."""
        if self.kind in CITIZEN_KINDS:
            return f"{self.kind} (id number not logged)"
        return f"{self.kind} {self.code}"


class BadLookup(ValueError):
    """A malformed lookup; ``lookup_id`` is set when the id could be read."""

    def __init__(self, message: str, lookup_id: str | None) -> None:
        super().__init__(message)
        self.lookup_id = lookup_id


def parse_lookup(device: str, payload: bytes) -> Lookup:
    """Check a lookup payload (:class:`BadLookup` saying what is wrong, never quoting the code)."""
    if len(payload) > MAX_LOOKUP_BYTES:
        m = _SNIFF_ID.match(payload[:200])
        raise BadLookup(
            f"payload of {len(payload)} bytes exceeds {MAX_LOOKUP_BYTES}", m and m.group(1).decode()
        )
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadLookup("payload is not UTF-8 JSON", None) from None
    if not isinstance(doc, dict):
        raise BadLookup("payload must be a JSON object", None)
    lid = doc.get("id")
    if not isinstance(lid, str) or not 0 < len(lid) <= MAX_COMMAND_ID_LEN or not _ID_RE.match(lid):
        raise BadLookup("id: expected 1 to 64 letters, digits or ._:-", None)
    extra = set(doc) - {"id", "kind", "code"}
    if extra:
        raise BadLookup(f"unknown field(s) besides id, kind and code ({len(extra)})", lid)
    kind = doc.get("kind")
    if kind not in KINDS:
        raise BadLookup(f"kind: expected one of {', '.join(KINDS)}", lid)
    code = doc.get("code")
    if not isinstance(code, str):
        raise BadLookup("code: expected a string", lid)
    if kind in CITIZEN_KINDS:
        if not _CITIZEN_RE.match(code):
            raise BadLookup("code: an id number has 9 or 12 digits", lid)
    else:
        # typed booking codes ignore case, spaces and dashes
        code = re.sub(r"[\s-]", "", code).upper() if kind == "booking" else code.strip()
        if not _CODE_RE.match(code):
            raise BadLookup("code: expected 1 to 64 letters, digits, dots or dashes", lid)
    return Lookup(device, lid, kind, code)


class LookupRelay:
    """Answers kiosks' lookups: :meth:`submit` from the MQTT thread, back-end calls in worker threads.

    ``publish(topic, payload)`` sends a reply (the hub's MQTT connection). ``lookups`` is the back
    end (None: ``not_configured``); ``citizen_kinds`` (the citizen look-ups allowed) defaults to what
    ``[citizen_id]`` allows (:func:`citizen_kinds`)."""

    def __init__(
        self,
        cfg: SiteConfig,
        publish: Callable[[str, bytes], Any],
        lookups: HttpLookups | None,
        *,
        not_configured: str = "",
        citizen_kinds: frozenset[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        workers: int = WORKERS,
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.site.id)
        self.publish = publish
        self.lookups = lookups
        self.not_configured = not_configured or "this site has no back end for lookups ([backend] url)"
        self.citizen_kinds = allowed_citizen_kinds(cfg) if citizen_kinds is None else citizen_kinds
        self.clock = clock
        self._roles = {d.id: d.role for d in cfg.devices}
        self._limit = cfg.limits.kiosk
        self._buckets: dict[str, TokenBucket] = {}
        self._quick: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._inflight: set[tuple[str, str]] = set()
        self._q: queue.Queue[Lookup | None] = queue.Queue(QUEUE_MAX)
        self._threads: list[threading.Thread] = []
        self._n_workers = workers
        self._failing = ""
        self._failures = 0  # back-end failures in a row
        self._open_until = 0.0  # until then, lookups are answered backend_unavailable without a call
        self._logged_at: dict[str, float] = {}
        outcomes = ("asked", "answered", "backend_calls", "short_circuited", "repeats", "bad", "dropped",
                    "forbidden", "rate_limited", "busy")  # fmt: skip
        self.stats = dict.fromkeys(outcomes, 0)

    @classmethod
    def for_site(cls, cfg: SiteConfig, publish: Callable[[str, bytes], Any]) -> LookupRelay:
        """The relay of ``[backend]`` (``not_configured`` answers without one, or without its token)."""
        if cfg.backend is None:
            return cls(cfg, publish, None)
        try:
            token = read_token(cfg.backend)
        except BackendConfigError as exc:
            log.error("lookups are answered not_configured: %s", exc)
            return cls(cfg, publish, None, not_configured="the hub has no token for the back end")
        lookups = HttpLookups(cfg.backend.url, token, cfg.site.id, timeout_s=cfg.backend.lookup_timeout_s)
        return cls(cfg, publish, lookups)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self._n_workers):
            th = threading.Thread(target=self._work, name=f"hub-lookup-{i}", daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self) -> None:
        """Stop the workers (a call in progress ends by its deadline) and close the client."""
        for _ in self._threads:
            self._q.put(None)
        for th in self._threads:
            th.join(10)
        self._threads.clear()
        if self.lookups is not None:
            self.lookups.close()

    # -- the MQTT side (network thread: nothing here waits) ------------------------------------------
    def submit(self, topic: str, payload: bytes) -> None:
        """One message on ``{root}/dev/{device}/lookup``: answer it now, or queue it for a worker."""
        where = self.topics.parse_dev(topic)
        if where is None or where[1] != "lookup":
            return
        device = where[0]
        self.stats["asked"] += 1
        try:
            req = parse_lookup(device, payload)
        except BadLookup as exc:
            self.stats["bad"] += 1
            if exc.lookup_id is None:
                self.stats["dropped"] += 1
                self._say(f"bad:{device}", "%s: malformed lookup dropped (no readable id): %s", device, exc)
                return
            self._say(f"bad:{device}", "%s: malformed lookup %s: %s", device, exc.lookup_id, exc)
            self._quick_reply(device, exc.lookup_id, refuse("bad_request", str(exc)))
            return
        if self._roles.get(device) != "kiosk":
            self.stats["forbidden"] += 1
            self._say(f"forbidden:{device}", "%s is not a kiosk: lookup refused", device)
            self._quick_reply(
                device, req.id, refuse("forbidden", "only kiosks may look bookings and dossiers up")
            )
            return
        key = (device, req.id)
        with self._lock:
            known = self._answers.get(key)
            if known is not None and known[0] > self.clock():
                self.stats["repeats"] += 1
                if self._may_answer(device):
                    self.publish(self.topics.dev_lookup_reply(device), known[1])
                return
            if key in self._inflight:  # redelivered while the first is being answered: that answer will do
                self.stats["repeats"] += 1
                return
        if self.lookups is None:
            self._quick_reply(device, req.id, refuse("not_configured", self.not_configured))
            return
        if req.kind in CITIZEN_KINDS and req.kind not in self.citizen_kinds:
            self._quick_reply(
                device,
                req.id,
                refuse("not_configured", f"this site does not send id numbers for {req.kind} ([citizen_id])"),
            )
            return
        if not self._take(device):
            self.stats["rate_limited"] += 1
            self._say(f"limit:{device}", "%s: too many lookups; refused for now", device)
            self._quick_reply(
                device,
                req.id,
                refuse("backend_unavailable", "too many lookups from this kiosk; take a normal ticket"),
            )
            return
        with self._lock:
            self._inflight.add(key)
        try:
            self._q.put_nowait(req)
        except queue.Full:
            with self._lock:
                self._inflight.discard(key)
            self.stats["busy"] += 1
            self._say("busy", "lookups are %d deep: answering backend_unavailable", QUEUE_MAX)
            self._reply(
                device, req.id, refuse("backend_unavailable", "the hub is busy; take a normal ticket")
            )

    def _may_answer(self, device: str) -> bool:
        """Take a token of the device's budget of answers that cost no back-end call."""
        now = self.clock()
        bucket = self._quick.get(device)
        if bucket is None:
            bucket = self._quick[device] = TokenBucket(QUICK_ANSWERS_BURST, QUICK_ANSWERS_PER_MINUTE, now)
        return bucket.take(now)

    def _quick_reply(self, device: str, lookup_id: str, answer: Answer) -> None:
        """A refusal, within the device's budget of quick answers (beyond it: silence)."""
        if self._may_answer(device):
            self._reply(device, lookup_id, answer)
        else:
            self.stats["dropped"] += 1

    def _take(self, device: str) -> bool:
        now = self.clock()
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = TokenBucket(self._limit.burst, self._limit.per_minute, now)
        return bucket.take(now)

    # -- workers -----------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            req = self._q.get()
            if req is None:
                return
            try:
                answer = self._ask(req)
            except Exception:  # a bug must not leave the kiosk waiting or kill the worker
                log.exception("lookup %s from %s failed", req.kind, req.device)
                answer = refuse("backend_unavailable", UNAVAILABLE, "internal error")
            try:
                self._remember(req, answer)
            except Exception:  # e.g. the hub's connection is being stopped: the kiosk asks again
                log.exception("lookup %s from %s: the answer could not be sent", req.kind, req.device)

    def _ask(self, req: Lookup) -> Answer:
        assert self.lookups is not None
        if self.clock() < self._open_until:
            # The back end failed the last lookups: citizens get their normal ticket at once instead
            # of each waiting out the timeout. One lookup goes through again after BREAKER_S.
            self.stats["short_circuited"] += 1
            return refuse("backend_unavailable", UNAVAILABLE, "the back end failed the last lookups")
        self.stats["backend_calls"] += 1
        day = business_day(self.cfg, datetime.now(UTC)).isoformat()
        t0 = time.monotonic()
        answer = self.lookups.get(req.kind, req.code, day)
        took = time.monotonic() - t0
        if answer.code == "backend_unavailable":
            with self._lock:
                self._failures += 1
                tripped = self._failures >= BREAKER_FAILURES
                if tripped:
                    self._open_until = self.clock() + BREAKER_S
            if self._failing != answer.why or self._failures == BREAKER_FAILURES:
                log.warning(
                    "back end unavailable for lookups: %s (%s from %s)%s", answer.why, req.kind, req.device,
                    f"; answering without asking it for {BREAKER_S:g} s at a time" if tripped else "",
                )  # fmt: skip
            self._failing = answer.why
        else:
            with self._lock:
                self._failures = 0
                self._open_until = 0.0
            if self._failing:
                log.info("the back end answers lookups again")
            self._failing = ""
            log.debug("%s: %s → %s in %.3f s", req.device, req.shown(), answer.code or "ok", took)
        return answer

    def _remember(self, req: Lookup, answer: Answer) -> None:
        key = (req.device, req.id)
        payload = dumps(answer.reply(req.id))
        with self._lock:
            self._inflight.discard(key)
            self._answers[key] = (self.clock() + REMEMBER_S, payload)
            self._answers.move_to_end(key)
            now = self.clock()
            while self._answers and (
                len(self._answers) > REMEMBER_MAX or next(iter(self._answers.values()))[0] <= now
            ):
                self._answers.popitem(last=False)
        self.stats["answered"] += 1
        self.publish(self.topics.dev_lookup_reply(req.device), payload)

    def _reply(self, device: str, lookup_id: str, answer: Answer) -> None:
        self.stats["answered"] += 1
        self.publish(self.topics.dev_lookup_reply(device), dumps(answer.reply(lookup_id)))

    def _say(self, kind: str, msg: str, *args: Any) -> None:
        """A warning at most every 10 s per kind (a flood must not flood the log)."""
        now = time.monotonic()
        if now - self._logged_at.get(kind, -1e9) >= 10.0:
            if len(self._logged_at) > 10_000:
                self._logged_at.clear()
            self._logged_at[kind] = now
            log.warning(msg, *args)

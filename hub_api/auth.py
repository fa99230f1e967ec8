"""Sign-in of clerks to the soft caller: PIN checks with a lock-out, and signed session cookies.

A session is a cookie ``{counter}.{expiry}.{mac}`` where ``mac`` is an HMAC-SHA256, under a key kept in
``{data_dir}/secrets/hub-web.key``, over the counter, the expiry and the counter's current PIN. So a
cookie only works for the counter it was issued for, until it expires, and changing a PIN signs out
every browser of that counter. Nothing is stored server side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from onestop.config import SiteConfig
from onestop.credentials import ensure_secret_file, generate_secret, secrets_dir

#: The session cookie of the soft caller.
COOKIE = "onestop_caller"
#: How long a sign-in lasts (a working day and some).
SESSION_S = 12 * 3600
#: Wrong PINs allowed in a row, from one client for one counter, before that client is locked out.
MAX_TRIES = 5
#: How long the first lock-out lasts; each further one in a row lasts twice as long, up to MAX_LOCK_S.
LOCK_S = 60.0
#: The longest lock-out (a client that keeps guessing waits this long between rounds of tries).
MAX_LOCK_S = 15 * 60.0
#: Clients x counters remembered at most (the oldest are forgotten first): memory stays bounded.
MAX_ENTRIES = 10_000


def web_key_path(cfg: SiteConfig) -> Path:
    """Where the hub's cookie-signing key lives."""
    return secrets_dir(cfg) / "hub-web.key"


class SessionSigner:
    """Issues and checks session tokens bound to one counter and its PIN."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 16:
            raise ValueError("the session key is too short")
        self._key = key
        self._clock = clock

    @classmethod
    def for_site(cls, cfg: SiteConfig) -> SessionSigner:
        """The signer of a site, its key created on first use (0600, like the passwords)."""
        key = ensure_secret_file(web_key_path(cfg), generate_secret)
        return cls(key.encode("utf-8"))

    def _mac(self, counter: str, expiry: int, pin: str) -> str:
        msg = f"caller\x00{counter}\x00{expiry}\x00{pin}".encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, counter: str, pin: str, ttl_s: int = SESSION_S) -> str:
        """A token for ``counter`` valid for ``ttl_s`` seconds while its PIN stays ``pin``."""
        expiry = int(self._clock()) + ttl_s
        return f"{counter}.{expiry}.{self._mac(counter, expiry, pin)}"

    def verify(self, token: str | None, counter: str, pin: str) -> bool:
        """True when ``token`` was issued for ``counter`` under ``pin`` and has not expired."""
        if not token:
            return False
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != counter or not parts[1].isdigit():
            return False
        expiry = int(parts[1])
        if expiry < self._clock():
            return False
        return hmac.compare_digest(parts[2], self._mac(counter, expiry, pin))


@dataclass(frozen=True)
class Verdict:
    """The outcome of one sign-in attempt."""

    ok: bool
    #: Seconds until the counter may try again (0 when not locked).
    locked_for: float = 0.0
    #: Wrong tries left before the lock (after a wrong PIN).
    tries_left: int = MAX_TRIES
    #: This very attempt started the lock-out (the one worth a log line).
    just_locked: bool = False


@dataclass
class _Tries:
    failures: int = 0
    #: Lock-outs in a row (a success resets it): the next one lasts ``lock_s · 2^locks``.
    locks: int = 0
    locked_until: float = 0.0


class PinGuard:
    """Checks PINs per client address and counter: ``max_tries`` wrong ones in a row lock that client out
    of that counter for ``lock_s``, doubled for each further lock-out in a row up to ``max_lock_s``.

    Only the guessing client waits: the clerk's own browser (another address) still signs in with the
    right PIN. At most ``max_entries`` (client, counter) pairs are remembered, the least recently tried
    forgotten first."""

    def __init__(
        self, max_tries: int = MAX_TRIES, lock_s: float = LOCK_S, clock: Callable[[], float] = time.monotonic,
        *, max_lock_s: float = MAX_LOCK_S, max_entries: int = MAX_ENTRIES,
    ) -> None:  # fmt: skip
        self.max_tries = max_tries
        self.lock_s = lock_s
        self.max_lock_s = max(max_lock_s, lock_s)
        self.max_entries = max_entries
        self._clock = clock
        self._tries: OrderedDict[tuple[str, str], _Tries] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tries)

    def check(self, counter: str, given: str, expected: str, client: str = "") -> Verdict:
        """Compare ``given`` with ``expected`` (in constant time) unless ``client`` is locked out of
        ``counter``."""
        now = self._clock()
        key = (client, counter)
        with self._lock:
            tries = self._tries.get(key)
            if tries is not None and tries.locked_until > now:
                return Verdict(False, locked_for=tries.locked_until - now, tries_left=0)
            if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
                self._tries.pop(key, None)
                return Verdict(True)
            if tries is None:
                tries = self._tries[key] = _Tries()
                while len(self._tries) > self.max_entries:
                    self._tries.popitem(last=False)
            self._tries.move_to_end(key)
            tries.failures += 1
            if tries.failures >= self.max_tries:
                lock = min(self.max_lock_s, self.lock_s * 2 ** min(tries.locks, 30))
                tries.failures = 0
                tries.locks += 1
                tries.locked_until = now + lock
                return Verdict(False, locked_for=lock, tries_left=0, just_locked=True)
            return Verdict(False, tries_left=self.max_tries - tries.failures)

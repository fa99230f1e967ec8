"""Bearer tokens with roles for the hub's REST API, reports, dashboard and metrics.

Tokens live in ``{data_dir}/secrets/hub-tokens.toml`` (0600), one ``[[tokens]]`` table each with a
``name``, a ``role`` (``viewer`` < ``manager`` < ``admin``) and the token's SHA-256 (``sha256``), never
the token itself. On the hub's first start the file is created with one ``admin`` token whose value
goes to ``hub-admin.token`` next to it (0600, for the administrator to read and then delete); the log
names the files, never the value. ``python -m hub_api.tokens add --config site.toml --name NAME --role
viewer`` adds a token and prints it once. A technician may also write ``token = "..."`` (plain) in an
entry; placeholder values ("changeme", ...) and values shorter than 16 characters stop the hub.

The file is re-read when it changes, so adding or removing a token needs no restart. A file that has
become invalid while the hub runs rejects every token (fail closed) until it is fixed.

The dashboard signs in once with a token and then holds a session cookie ``{name}.{expiry}.{mac}``:
an HMAC-SHA256 over the token's name, the expiry and the token's hash, under the hub's web key. It
works until it expires or the token is removed or changed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import secrets
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from onestop.config import SiteConfig
from onestop.credentials import ensure_secret_file, generate_secret, secrets_dir
from onestop.durable import atomic_write
from onestop.errors import OnestopError
from onestop.toml_text import value as toml_value

log = logging.getLogger("onestop.hub.tokens")

Role = Literal["viewer", "manager", "admin"]
#: Roles from least to most powerful: a role may do everything the roles before it may.
ROLES: tuple[Role, ...] = ("viewer", "manager", "admin")
#: Values that are never accepted as tokens (case-insensitive), however they are written.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "token",
        "admin",
        "test",
        "example",
        "xxx",
        "todo",
        "replace-me",
        "replaceme",
        "your-token-here",
        "default",
    }
)
MIN_TOKEN_LEN = 16
#: The dashboard's session cookie.
SESSION_COOKIE = "onestop_session"
SESSION_S = 12 * 3600
_HEADER = """\
# onestop hub API tokens (Authorization: Bearer <token>).
# Each entry: name, role (viewer | manager | admin) and sha256 = the token's SHA-256 in hex.
# Add one with: python -m hub_api.tokens add --config site.toml --name NAME --role viewer
# This file is re-read when it changes; keep it 0600.
"""


class TokenConfigError(OnestopError, ValueError):
    """The token file is unreadable, malformed or holds a placeholder token."""


def tokens_path(cfg: SiteConfig) -> Path:
    """Where the hub's API tokens are kept."""
    return secrets_dir(cfg) / "hub-tokens.toml"


def admin_token_path(cfg: SiteConfig) -> Path:
    """Where the first admin token is written for the administrator to read (then delete)."""
    return secrets_dir(cfg) / "hub-admin.token"


def digest(token: str) -> str:
    """The SHA-256 of a token, in hex (what the file stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def role_at_least(role: str, needed: str) -> bool:
    """True when ``role`` may do what ``needed`` may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def new_token() -> str:
    """A new random token (``ostk_`` and 32 URL-safe characters)."""
    return "ostk_" + secrets.token_urlsafe(24)


_PLACEHOLDER_DIGESTS = {digest(p) for p in PLACEHOLDERS} | {digest(p.upper()) for p in PLACEHOLDERS}


@dataclass(frozen=True)
class Token:
    """One entry of the token file (the token's hash, never the token)."""

    name: str
    role: Role
    sha256: str


def parse_tokens(text: str, source: str = "<memory>") -> list[Token]:
    """The entries of a token file; raise :class:`TokenConfigError` naming the entry that is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TokenConfigError(f"{source}: not valid TOML: {exc}") from None
    entries = data.get("tokens", [])
    if not isinstance(entries, list):
        raise TokenConfigError(f"{source}: expected [[tokens]] tables")
    out: list[Token] = []
    names: set[str] = set()
    for i, e in enumerate(entries):
        where = f"{source}: tokens[{i}]"
        if not isinstance(e, dict):
            raise TokenConfigError(f"{where}: expected a table")
        unknown = set(e) - {"name", "role", "sha256", "token"}
        if unknown:
            raise TokenConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        name, role = e.get("name"), e.get("role")
        if not isinstance(name, str) or not name.strip():
            raise TokenConfigError(f"{where}.name: expected a non-empty string")
        if name in names:
            raise TokenConfigError(f"{where}.name: {name!r} is listed twice")
        names.add(name)
        if role not in ROLES:
            raise TokenConfigError(f"{where}.role: expected one of {', '.join(ROLES)}, got {role!r}")
        plain, hashed = e.get("token"), e.get("sha256")
        if (plain is None) == (hashed is None):
            raise TokenConfigError(f"{where}: give exactly one of sha256 (recommended) or token")
        if plain is not None:
            if not isinstance(plain, str) or plain.strip().lower() in PLACEHOLDERS:
                raise TokenConfigError(f"{where}.token: a placeholder; generate a real token")
            if len(plain.strip()) < MIN_TOKEN_LEN:
                raise TokenConfigError(f"{where}.token: shorter than {MIN_TOKEN_LEN} characters")
            hashed = digest(plain.strip())
        if (
            not isinstance(hashed, str)
            or len(hashed) != 64
            or not all(c in "0123456789abcdef" for c in hashed)
        ):
            raise TokenConfigError(f"{where}.sha256: expected 64 lowercase hex digits")
        if hashed in _PLACEHOLDER_DIGESTS:
            raise TokenConfigError(f"{where}: the hash of a placeholder token; generate a real token")
        out.append(Token(name, role, hashed))
    return out


def render_tokens(tokens: list[Token]) -> str:
    """The text of a token file holding ``tokens`` (hashes only)."""
    parts = [_HEADER]
    for t in tokens:
        parts.append(f"\n[[tokens]]\nname = {toml_value(t.name)}\nrole = {toml_value(t.role)}\n")
        parts.append(f"sha256 = {toml_value(t.sha256)}\n")
    return "".join(parts)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"), mode=0o600)


class TokenStore:
    """The token file, re-read when it changes: ``check(token)`` gives the entry or None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._tokens: list[Token] = []
        self._broken: str | None = None
        self._tokens = parse_tokens(self._read(), str(path))  # fail fast at start
        self._stamp = self._stat()

    @classmethod
    def for_site(cls, cfg: SiteConfig) -> TokenStore:
        """The site's token file, created with one admin token on first start."""
        path = tokens_path(cfg)
        if not path.exists():
            token = new_token()
            _write_private(admin_token_path(cfg), token + "\n")
            _write_private(path, render_tokens([Token("admin", "admin", digest(token))]))
            log.warning(
                "created the hub's API token file %s with one admin token; read the token in %s "
                "(then delete that file)",
                path,
                admin_token_path(cfg),
            )
        return cls(path)

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenConfigError(f"cannot read the token file {self.path}: {exc}") from None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _fresh(self) -> list[Token]:
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._tokens = parse_tokens(self._read(), str(self.path))
                    self._broken = None
                except TokenConfigError as exc:
                    self._tokens, self._broken = [], str(exc)
                    log.error("%s; every API token is refused until it is fixed", exc)
            return list(self._tokens)

    def tokens(self) -> list[Token]:
        """The current entries."""
        return self._fresh()

    def check(self, token: str) -> Token | None:
        """The entry whose hash matches ``token`` (compared in constant time), or None."""
        if not token:
            return None
        h = digest(token)
        found = None
        for t in self._fresh():
            if hmac.compare_digest(h, t.sha256):
                found = t
        return found

    def by_name(self, name: str) -> Token | None:
        """The entry called ``name``, or None."""
        return next((t for t in self._fresh() if t.name == name), None)

    def add(self, name: str, role: Role, token: str | None = None) -> str:
        """Add (or replace) the token called ``name``; return the token's value (shown once)."""
        if role not in ROLES:
            raise TokenConfigError(f"unknown role {role!r}")
        value = token or new_token()
        with self._lock:
            kept = [t for t in parse_tokens(self._read(), str(self.path)) if t.name != name]
            kept.append(Token(name, role, digest(value)))
            parse_tokens(render_tokens(kept))  # refuses a placeholder value
            _write_private(self.path, render_tokens(kept))
            self._stamp = None
        return value

    def remove(self, name: str) -> bool:
        """Remove the token called ``name``; False when there is none."""
        with self._lock:
            tokens = parse_tokens(self._read(), str(self.path))
            kept = [t for t in tokens if t.name != name]
            if len(kept) == len(tokens):
                return False
            _write_private(self.path, render_tokens(kept))
            self._stamp = None
        return True


class SessionSigner:
    """Signs the dashboard's session cookies: bound to a token's name and hash, with an expiry."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 16:
            raise ValueError("the session key is too short")
        self._key = key
        self._clock = clock

    @classmethod
    def for_site(cls, cfg: SiteConfig) -> SessionSigner:
        """The signer of a site, under the hub's web key (shared with the soft caller's cookies)."""
        key = ensure_secret_file(secrets_dir(cfg) / "hub-web.key", generate_secret)
        return cls(key.encode("utf-8"))

    def _mac(self, name: str, expiry: int, sha256: str) -> str:
        msg = f"dashboard\x00{name}\x00{expiry}\x00{sha256}".encode()
        return (
            base64.urlsafe_b64encode(hmac.new(self._key, msg, hashlib.sha256).digest()).rstrip(b"=").decode()
        )

    def issue(self, token: Token, ttl_s: int = SESSION_S) -> str:
        """A session value for ``token``, valid ``ttl_s`` seconds."""
        expiry = int(self._clock()) + ttl_s
        name = base64.urlsafe_b64encode(token.name.encode()).decode()
        return f"{name}.{expiry}.{self._mac(token.name, expiry, token.sha256)}"

    def verify(self, value: str | None, store: TokenStore) -> Token | None:
        """The token a session value was issued for, while it is valid; else None."""
        if not value:
            return None
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        try:
            name = base64.urlsafe_b64decode(parts[0].encode()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        expiry = int(parts[1])
        if expiry < self._clock():
            return None
        tok = store.by_name(name)
        if tok is None or not hmac.compare_digest(parts[2], self._mac(name, expiry, tok.sha256)):
            return None
        return tok


# -- command line: python -m hub_api.tokens ------------------------------------------------------
_USES: dict[str, str] = {
    "viewer": "read-only API calls and /metrics (Prometheus)",
    "manager": "the dashboard (/dashboard asks for it once) and reports",
    "admin": "everything, token management in the API included",
}


def _added_text(name: str, role: str, value: str) -> str:
    """What ``add`` prints for a person: what the value is, where it goes, and that it is shown once."""
    return (
        f"API token {name!r} (role {role}); shown once, the hub keeps only its hash:\n"
        f"\n    {value}\n\n"
        f"Use it for {_USES.get(role, role)}:\n"
        f"    HTTP header  Authorization: Bearer <token>\n"
        f"Keep it in the centre's password safe. Scripts: add --bare to print the token alone."
    )


def main(argv: list[str] | None = None) -> int:
    """``add``, ``remove`` or ``list`` the hub's API tokens."""
    from onestop.config import load

    p = argparse.ArgumentParser(prog="python -m hub_api.tokens", description="Manage the hub's API tokens.")
    p.add_argument("--config", default="site.toml")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add", help="add or replace a token and print it once")
    a.add_argument("--name", required=True)
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--bare", action="store_true", help="print only the token (for scripts)")
    r = sub.add_parser("remove", help="remove a token")
    r.add_argument("--name", required=True)
    sub.add_parser("list", help="list token names and roles")
    args = p.parse_args(argv)
    try:
        store = TokenStore.for_site(load(args.config))
        if args.cmd == "add":
            value = store.add(args.name, args.role)
            print(value if args.bare else _added_text(args.name, args.role, value))
        elif args.cmd == "remove":
            if not store.remove(args.name):
                print(f"no token called {args.name!r}", file=sys.stderr)
                return 1
        else:
            for t in store.tokens():
                print(f"{t.name}\t{t.role}")
    except OnestopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

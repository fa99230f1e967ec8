"""``onestop provision site check``: the configuration, certificates, broker accounts and secrets.

Every check gives one checklist line (✓ good, ! warning, ✗ problem). The site is well only when no
line is ✗; warnings (a certificate ending within 60 days) are shown but do not fail the check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from onestop.broker import CLIENTID_BINDING, account_roles, conf_listener, demo_broker_dir
from onestop.config import SiteConfig, is_loopback, split_listen
from onestop.credentials import secret_path, secrets_dir
from onestop.protocol import Topics, acl_rules
from onestop.text import plural
from provisioning import pki
from provisioning.errors import ProvisionError
from provisioning.files import Layout

OK, WARN, FAIL = "✓", "!", "✗"


@dataclass
class Checklist:
    """The lines of a check, in order."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, mark: str, text: str) -> None:
        """Record one line."""
        self.lines.append((mark, text))

    @property
    def problems(self) -> list[str]:
        """The ✗ lines."""
        return [text for mark, text in self.lines if mark == FAIL]

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.problems

    def render(self) -> str:
        """The checklist as text: with problems, a one-line reason comes first."""
        body = [f"{mark} {text}" for mark, text in self.lines]
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            body.insert(0, f"{FAIL} NOT OK: {self.problems[0]}{more}")
        else:
            body.append(f"{OK} all is well")
        return "\n".join(body) + "\n"


def parse_acl(text: str) -> dict[str, set[tuple[str, str]]]:
    """A Mosquitto ACL file as ``{account: {(access, topic)}}`` (rules before any ``user`` under "")."""
    out: dict[str, set[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "user":
            current = rest.strip()
            out.setdefault(current, set())
        elif word == "topic":
            parts = rest.split(None, 1)
            access, topic = (
                (parts[0], parts[1])
                if len(parts) == 2 and parts[0] in ("read", "write", "readwrite", "deny")
                else ("readwrite", rest.strip())
            )
            out.setdefault(current, set()).add((access, topic))
        else:
            out.setdefault(current, set()).add((word, rest))
    return out


def parse_password_file(text: str) -> dict[str, str]:
    """A Mosquitto password file as ``{account: hash}``."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            account, _, digest = line.partition(":")
            out[account] = digest.strip()
    return out


def password_matches(password: str, digest: str) -> bool:
    """True when ``password`` fits a Mosquitto ``$7$`` (PBKDF2-SHA512) or ``$6$`` (SHA512) hash."""
    parts = digest.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt, want = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=len(want))
            return hmac.compare_digest(got, want)
        if len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            return hmac.compare_digest(hashlib.sha512(password.encode() + salt).digest(), want)
    except ValueError:
        return False
    return False


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _certificates(layout: Layout, out: Checklist, now: datetime | None) -> None:
    try:
        ca = pki.load_cert(layout.ca_cert)
    except ProvisionError as exc:
        out.add(FAIL, f"site CA: {exc} (run `onestop provision site init`)")
        return
    for label, cert_path in (("site CA", layout.ca_cert), ("broker certificate", layout.broker_cert)):
        try:
            cert = pki.load_cert(cert_path)
        except ProvisionError as exc:
            out.add(FAIL, f"{label}: {exc}")
            continue
        v = pki.validity(cert, now)
        end = v.not_after.date().isoformat()
        if v.expired:
            out.add(FAIL, f"{label} expired on {end} ({cert_path})")
        elif v.ending_soon:
            out.add(
                WARN,
                f"{label} ends on {end}, in {v.days_left} days: renew it (site init --renew-broker-cert)",
            )
        else:
            out.add(OK, f"{label} valid until {end}")
        if label == "broker certificate":
            if pki.issued_by(cert, ca):
                out.add(OK, f"broker certificate is signed by the site CA ({', '.join(pki.san_hosts(cert))})")
            else:
                out.add(
                    FAIL, f"broker certificate {cert_path} was not signed by the site CA {layout.ca_cert}"
                )
            try:
                key = pki.load_key(layout.broker_key)
            except ProvisionError as exc:
                out.add(FAIL, f"broker key: {exc}")
            else:
                if pki.same_public_key(key, cert):
                    out.add(OK, "broker key matches its certificate")
                else:
                    out.add(FAIL, f"broker key {layout.broker_key} does not match {cert_path}")
    if layout.broker_ca.exists() and layout.broker_ca.read_bytes() != layout.ca_cert.read_bytes():
        out.add(FAIL, f"{layout.broker_ca} differs from the site CA {layout.ca_cert}")


def _hub_certificate(cfg: SiteConfig, layout: Layout, out: Checklist, now: datetime | None) -> None:
    """The hub's HTTPS: on, with a certificate of the site CA that is current and names public_url's host."""
    hub = cfg.hub
    if hub.tls_listen is None:
        out.add(
            WARN,
            "hub serves plain HTTP on the LAN (no [hub] tls_listen): PINs and tokens cross it in clear "
            "(docs/deployment.md, HTTPS)",
        )
        return
    cert_path, key_path = cfg.site_path(hub.tls_cert), cfg.site_path(hub.tls_key)
    try:
        cert = pki.load_cert(cert_path)
    except ProvisionError as exc:
        out.add(FAIL, f"hub certificate: {exc} (run `onestop provision site init`)")
        return
    try:
        ca = pki.load_cert(layout.ca_cert)
    except ProvisionError:
        ca = None  # already reported by the CA's line
    if ca is not None and not pki.issued_by(cert, ca):
        out.add(FAIL, f"hub certificate {cert_path} was not signed by the site CA {layout.ca_cert}")
    elif ca is not None:
        out.add(OK, f"hub certificate is signed by the site CA ({', '.join(pki.san_hosts(cert))})")
    v = pki.validity(cert, now)
    end = v.not_after.date().isoformat()
    if v.expired:
        out.add(FAIL, f"hub certificate expired on {end} ({cert_path}): site init --renew-hub-cert")
    elif v.ending_soon:
        out.add(WARN, f"hub certificate ends on {end}, in {v.days_left} days: site init --renew-hub-cert")
    else:
        out.add(OK, f"hub certificate valid until {end}")
    host = urlsplit(hub.public_url).hostname or ""
    if pki.names_host(cert, host):
        out.add(OK, f"hub certificate names {host} (hub.public_url)")
    else:
        out.add(
            FAIL,
            f"hub certificate {cert_path} does not name {host} of hub.public_url "
            "(site init --lan-host HOST --renew-hub-cert)",
        )
    try:
        key = pki.load_key(key_path)
    except ProvisionError as exc:
        out.add(FAIL, f"hub key: {exc}")
    else:
        if not pki.same_public_key(key, cert):
            out.add(FAIL, f"hub key {key_path} does not match {cert_path}")
    where = split_listen(hub.listen)
    if where is not None and not is_loopback(where[0]):
        out.add(
            WARN,
            f"hub.listen {hub.listen} serves plain HTTP beyond this machine while HTTPS is on: "
            "set it to 127.0.0.1:PORT",
        )


def _broker_files(cfg: SiteConfig, layout: Layout, out: Checklist, *, demo: bool = False) -> None:
    redo = "run `onestop up` again" if demo else "run `onestop provision site init` again"
    try:
        conf = layout.broker_conf.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.add(FAIL, f"{layout.broker_conf} is missing (run `onestop provision site init`)")
    else:
        listeners = [line.split() for line in conf.splitlines() if line.startswith("listener ")]
        tls_ok = "certfile " in conf and "tls_version tlsv1.2" in conf
        if demo:
            where = conf_listener(conf)
            loopback = all(len(w) > 2 and is_loopback(w[2]) for w in listeners)
            if "allow_anonymous false" in conf.splitlines() and where is not None and loopback:
                out.add(OK, f"demo broker config: loopback only (port {where[1]}), no anonymous")
            else:
                out.add(
                    FAIL,
                    f"{layout.broker_conf} listens beyond loopback or allows anonymous clients ({redo})",
                )
        elif "allow_anonymous false" in conf and tls_ok and len(listeners) >= 2:
            out.add(
                OK,
                f"broker config: TLS on {cfg.broker.tls_port}, loopback on {cfg.broker.port}, no anonymous",
            )
        else:
            out.add(FAIL, f"{layout.broker_conf} lacks the TLS listener or allows anonymous clients")
        if CLIENTID_BINDING in conf.splitlines():
            out.add(OK, "broker binds every client id to its account")
        else:
            out.add(
                FAIL,
                f"{layout.broker_conf} lacks `{CLIENTID_BINDING}`: any device could take the "
                f"controller's or the hub's client id ({redo})",
            )
    topics = Topics(cfg.site.id)
    want = {a: {(r.access, r.topic) for r in acl_rules(topics, a, role)} for a, role in account_roles(cfg)}
    try:
        have = parse_acl(layout.acl_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        out.add(FAIL, f"{layout.acl_file} is missing")
        have = {}
    else:
        stale = sorted(set(have) - set(want) - {""})
        wrong = sorted(a for a in want if a in have and have[a] != want[a])
        missing = sorted(set(want) - set(have))
        if have.get(""):
            out.add(FAIL, "ACL has rules for every client (outside any `user` block)")
        if missing:
            out.add(FAIL, f"ACL has no rules for {', '.join(missing)}")
        if stale:
            out.add(FAIL, f"ACL has stale accounts not in site.toml: {', '.join(stale)}")
        if wrong:
            out.add(FAIL, f"ACL rules differ from the protocol for {', '.join(wrong)}")
        if not (missing or stale or wrong or have.get("")):
            out.add(
                OK,
                f"ACL covers exactly the {len(want)} accounts "
                f"(controller, hub, monitor, {plural(len(cfg.devices), 'device')})",
            )
    try:
        hashes = parse_password_file(layout.password_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        out.add(FAIL, f"{layout.password_file} is missing")
        return
    stale = sorted(set(hashes) - set(want))
    if stale:
        out.add(FAIL, f"password file has stale accounts not in site.toml: {', '.join(stale)}")
    no_secret, mismatched, no_hash = [], [], []
    for account in want:
        path = secret_path(cfg, account)
        secret = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        if not secret:
            no_secret.append(account)
        elif account not in hashes:
            no_hash.append(account)
        elif not password_matches(secret, hashes[account]):
            mismatched.append(account)
    if no_secret:
        out.add(FAIL, f"no secret file for {', '.join(no_secret)} in {secrets_dir(cfg)} ({redo})")
    if no_hash:
        out.add(FAIL, f"password file lacks {', '.join(no_hash)} ({redo})")
    if mismatched:
        out.add(FAIL, f"password file and secret differ for {', '.join(mismatched)} ({redo})")
    if not (stale or no_secret or no_hash or mismatched):
        out.add(OK, f"every account has a secret, and the password file matches them ({len(want)})")


def _modes(cfg: SiteConfig, layout: Layout, out: Checklist) -> None:
    bad: list[str] = []
    for folder in (secrets_dir(cfg), layout.pki, layout.broker, layout.hub):
        if folder.is_dir() and _mode(folder) != 0o700:
            bad.append(f"{folder} is {_mode(folder):04o}, expected 0700")
    private = [layout.ca_key, layout.broker_key, layout.password_file, layout.acl_file, layout.broker_conf]
    private.append(cfg.site_path(cfg.hub.tls_key))
    if secrets_dir(cfg).is_dir():
        private += sorted(p for p in secrets_dir(cfg).iterdir() if p.is_file())
    for path in private:
        if path.exists() and _mode(path) != 0o600:
            bad.append(f"{path} is {_mode(path):04o}, expected 0600")
    if bad:
        for line in bad:
            out.add(FAIL, line)
    else:
        out.add(OK, "secret files and keys are 0600, their folders 0700")


def check_site(cfg: SiteConfig, *, now: datetime | None = None) -> Checklist:
    """Check a loaded site: certificates, broker config, ACL, password file, secrets and their modes."""
    out = Checklist()
    layout = Layout.of(cfg)
    out.add(OK, f"{cfg.source} is valid (site {cfg.site.id}, {plural(len(cfg.devices), 'device')})")
    _displays(cfg, out)
    demo = demo_layout(cfg)
    if demo is not None:
        # `onestop up` (`make up`): a private broker on loopback, its files under [storage] dir.
        out.add(
            WARN,
            f"a demo run by `onestop up` (broker files in {demo.broker}): no site CA and no TLS "
            "listener, so no device on another machine can join; a real site: `onestop provision site init`",
        )
        cfg = _with_demo_twins(cfg, demo, out)
        _broker_files(cfg, demo, out, demo=True)
        _modes(cfg, demo, out)
        _backend(cfg, out, demo=True)
        return out
    _certificates(layout, out, now)
    _hub_certificate(cfg, layout, out, now)
    _broker_files(cfg, layout, out)
    _modes(cfg, layout, out)
    _backend(cfg, out)
    return out


def _with_demo_twins(cfg: SiteConfig, demo: Layout, out: Checklist) -> SiteConfig:
    """``cfg`` with the traffic simulator's twin accounts when the demo ran with ``--traffic`` (what
    ``make up`` does): its broker then has an account ``sim-ID`` per simulated device."""
    from onestop.simulate import TWIN_PREFIX, with_twins

    try:
        accounts = parse_acl(demo.acl_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return cfg
    if not any(a.startswith(TWIN_PREFIX) for a in accounts):
        return cfg
    twins = with_twins(cfg)
    n = len(twins.devices) - len(cfg.devices)
    out.add(
        OK, f"the demo ran with --traffic: the simulator has {plural(n, 'twin account')} ({TWIN_PREFIX}…)"
    )
    return twins


def demo_layout(cfg: SiteConfig) -> Layout | None:
    """The layout of a demo site that ``onestop up`` has run (None for a provisioned site).

    ``up`` writes its broker's ``mosquitto.conf``, ``passwd`` and ``acl`` to ``{[storage] dir}/broker``
    (:func:`~onestop.broker.demo_broker_dir`), and the secrets next to it, but no certificate: a site
    folder with neither ``pki/`` nor ``broker/`` and with those files is such a demo."""
    site = Layout.of(cfg)
    demo = Layout(demo_broker_dir(cfg).parent)
    if site.broker_conf.exists() or site.ca_cert.exists() or not demo.broker_conf.exists():
        return None
    return demo


def _displays(cfg: SiteConfig, out: Checklist) -> None:
    """What the counters' displays cannot show (``onestop config check``): warnings, or a display
    table its driver refuses."""
    from onestop.config_check import display_problems

    warnings, problems = display_problems(cfg)
    for text in problems:
        out.add(FAIL, text)
    for text in warnings:
        out.add(WARN, text)


def _backend(cfg: SiteConfig, out: Checklist, *, demo: bool = False) -> None:
    import os

    from provisioning.backend import check_backend, token_file

    backend = cfg.backend
    no_token = backend is not None and not os.environ.get(backend.token_env)
    if demo and backend is not None and no_token and not token_file(Layout.of(cfg)).exists():
        out.add(
            WARN,
            f"back end {backend.url}: `onestop up` gives its reference back end a new token at "
            f"each start (${backend.token_env}); nothing to check while the demo is stopped",
        )
        return
    found = check_backend(cfg)
    if found is not None:
        out.add(OK if found.ok else WARN if found.warn else FAIL, found.line)

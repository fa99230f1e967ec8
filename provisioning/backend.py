"""The province's back end for the hub: where it is (``[backend] url``), the token it gave this site,
and whether it answers.

The token is a secret of the hub machine: ``secrets/backend.token`` beside ``site.toml``, 0600 and
owned by root. The hub's unit hands it to the service through systemd's ``LoadCredential=`` (the hub
reads ``$CREDENTIALS_DIRECTORY/backend-token``), so the ``onestop`` user never reads the file and the
token is in no environment a ``ps`` can show. A token in the variable named by ``[backend] token_env``
still wins (``onestop up`` and tests use it).

``provision site check`` asks the back end whether it knows the token with an **empty batch**: a POST
of ``{"site": ..., "records": []}`` to ``{url}/queue-records``. It stores nothing: a back end of the
contract authenticates first (401/403: the token is refused) and then refuses the empty body (400/422)
or accepts it (2xx, 409); anything else, a timeout or no answer means it is not reachable now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub_api.backends import looks_like_placeholder
from onestop.config import SiteConfig, load
from provisioning.errors import ProvisionError
from provisioning.files import Layout, private_dir, write_private, write_public

#: The name of the hub's systemd credential (``LoadCredential=backend-token:...``).
CREDENTIAL = "backend-token"
#: The stream the check posts its empty batch to.
STREAM = "queue-records"
#: How long the check waits for the back end.
CHECK_TIMEOUT_S = 5.0
WAIT = "records wait in the outbox"
_URL = re.compile(r"^https?://[^\s/]+")


def token_file(layout: Layout) -> Path:
    """Where the back end's token is kept on the hub machine (0600, root's)."""
    return layout.root / "secrets" / "backend.token"


def read_token_file(path: Path) -> str:
    """A token from a file (``-``: standard input), checked to be usable."""
    import sys

    try:
        token = (sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")).strip()
    except OSError as exc:
        raise ProvisionError(f"--backend-token-file {path}: {exc.strerror or exc}") from None
    return check_token(token, str(path))


def check_token(token: str, where: str) -> str:
    """``token`` when it can be a real token; else a clear :class:`ProvisionError`."""
    if not token:
        raise ProvisionError(f"{where}: empty; put the token the back end gave this site in it")
    if looks_like_placeholder(token):
        raise ProvisionError(f"{where}: a placeholder ({token!r}), not the back end's token")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ProvisionError(f"{where}: not a token (one line of printable characters, no spaces)")
    return token


def _set_backend_table(text: str, url: str) -> str:
    """``site.toml``'s text with ``[backend] url`` set (the table added when missing; other keys kept)."""
    from onestop.toml_text import value

    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "[backend]"), None)
    if start is None:
        sep = "" if text.endswith("\n") or not text else "\n"
        return (
            f"{text}{sep}\n# Hệ thống một cửa của tỉnh (the province's one-stop back end): "
            f"`onestop provision backend set`\n[backend]\nurl = {value(url)}\n"
        )
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(r"^\s*url\s*=", lines[i]):
            lines[i] = f"url = {value(url)}\n"
            return "".join(lines)
    lines.insert(start + 1, f"url = {value(url)}\n")
    return "".join(lines)


def set_backend(
    config: Path, *, url: str | None, token: str | None, prefix: Path = Path("/opt/onestop")
) -> list[str]:
    """Set the back end's URL in ``site.toml`` and/or store its token; rewrite the hub's units so the
    hub gets the token. Returns what was written."""
    from provisioning.units import write_hub_units

    layout = Layout(config.resolve().parent)
    done = []
    if url is not None:
        if not _URL.match(url):
            raise ProvisionError(f"--backend-url: expected http(s)://host[:port]/path, got {url!r}")
        text = config.read_text(encoding="utf-8")
        write_public(config, _set_backend_table(text, url.rstrip("/")), config.stat().st_mode & 0o777)
        done.append(f"{config}: [backend] url = {url.rstrip('/')}")
    cfg = load(config)
    if cfg.backend is None:
        raise ProvisionError(f"{config}: no [backend] table; give --backend-url too")
    if token is not None:
        path = token_file(layout)
        private_dir(path.parent)
        write_private(path, token + "\n")
        done.append(f"{path} (0600: the back end's token; the hub gets it as a systemd credential)")
    write_hub_units(cfg, layout, prefix=prefix)
    done.append(f"{layout.systemd}/onestop-hub.service (LoadCredential={CREDENTIAL}:...)")
    return done


@dataclass(frozen=True)
class BackendCheck:
    """What the check found: ``ok``, one line saying it, and whether a problem is only a warning: the
    site works without its back end (records wait in the outbox), so a back end that is down now or
    a token not given yet warn; a token the back end refuses is an error."""

    ok: bool
    line: str
    warn: bool = False


def check_backend(cfg: SiteConfig, *, environ: dict[str, str] | None = None) -> BackendCheck | None:
    """Whether the configured back end is reachable and accepts the site's token (None: no back end)."""
    import os

    backend = cfg.backend
    if backend is None:
        return None
    env = dict(os.environ if environ is None else environ)
    path = token_file(Layout.of(cfg))
    token = env.get(backend.token_env, "").strip()
    where = f"${backend.token_env}"
    if not token:
        if not path.exists():
            return BackendCheck(
                False,
                warn=True,
                line=f"back end {backend.url}: nothing is forwarded, no token ({path} is missing and "
                f"{backend.token_env} is unset): onestop provision backend set --config {cfg.source} "
                "--token-file FILE",
            )
        try:
            token, where = path.read_text(encoding="utf-8").strip(), str(path)
        except OSError as exc:
            return BackendCheck(False, f"back end: cannot read {path}: {exc.strerror or exc}")
    try:
        check_token(token, where)
    except ProvisionError as exc:
        return BackendCheck(False, f"back end {backend.url}: {exc}")
    url = f"{backend.url.rstrip('/')}/{STREAM}"
    try:
        r = httpx.post(
            url,
            json={"site": cfg.site.id, "records": []},
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": f"{cfg.site.id}:queue-records:0-0",
            },
            timeout=CHECK_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return BackendCheck(
            False, f"back end {url} is not reachable now ({exc}): records wait in the outbox", True
        )
    if r.status_code in (401, 403):
        return BackendCheck(False, f"back end {url} refuses the token from {where} (HTTP {r.status_code})")
    if r.status_code < 300 or r.status_code in (400, 409, 422):
        return BackendCheck(True, f"back end {backend.url} is reachable and accepts the token (from {where})")
    return BackendCheck(
        False, f"back end {url} answered HTTP {r.status_code}: records wait in the outbox", True
    )

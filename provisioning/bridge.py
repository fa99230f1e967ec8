"""At a site: install (or remove) the bridge to the province broker from the bundle the province
made with ``onestop province bridge add`` (``onestop-bridge.conf`` and ``province-ca.crt``).

The CA goes into the broker's folder, the bridge section into ``province-bridge.conf`` beside the
generated ``mosquitto.conf``, which every ``onestop provision`` run appends to the broker's
configuration (:func:`provisioning.site.render_broker_conf`), so regenerating the site's files keeps
the bridge. A bundle made for another site is refused: the province broker's ACL would drop
everything it carries.
"""

from __future__ import annotations

import re
from pathlib import Path

from onestop.config import SiteConfig
from onestop.durable import atomic_write
from onestop.errors import OnestopError
from provisioning import pki
from provisioning.files import Layout

CONF_NAME = "province-bridge.conf"
CA_NAME = "province-ca.crt"


class BridgeBundleError(OnestopError, ValueError):
    """The bundle cannot be installed at this site."""


def bridge_conf_path(layout: Layout) -> Path:
    return layout.broker / CONF_NAME


def installed_bridge(layout: Layout) -> str:
    """The bridge section to append to ``mosquitto.conf`` ("" when none is installed)."""
    path = bridge_conf_path(layout)
    return path.read_text(encoding="utf-8") if path.exists() else ""


MARKER = "# -- bridge to the province (onestop provision bridge) --"


def with_bridge(conf: str, bridge: str) -> str:
    """``conf`` without any bridge section it had, plus ``bridge`` (when not empty) at its end."""
    base = conf.split(f"\n{MARKER}\n", 1)[0].rstrip("\n") + "\n"
    return base + (f"\n{MARKER}\n{bridge.strip()}\n" if bridge.strip() else "")


def install_bridge(cfg: SiteConfig, layout: Layout, bundle: Path) -> list[str]:
    """Check and install a province bundle; returns what was done (the caller rewrites the conf)."""
    conf_src, ca_src = bundle / "onestop-bridge.conf", bundle / CA_NAME
    for f in (conf_src, ca_src):
        if not f.is_file():
            raise BridgeBundleError(f"{bundle}: no {f.name} (made by `onestop province bridge add`)")
    text = conf_src.read_text(encoding="utf-8")
    if not re.search(r"^connection onestop-province$", text, re.M):
        raise BridgeBundleError(f"{conf_src}: not an onestop province bridge")
    user = re.search(r"^remote_username (\S+)$", text, re.M)
    if user is None or user.group(1) != cfg.site.id:
        who = user.group(1) if user else "nobody"
        raise BridgeBundleError(f"{conf_src} was made for site {who!r}, this is site {cfg.site.id!r}")
    try:
        pki.load_cert(ca_src)
    except Exception as exc:  # any unreadable certificate: one clear line
        raise BridgeBundleError(f"{ca_src}: not a certificate ({exc})") from None
    layout.broker.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = layout.broker / CA_NAME
    atomic_write(ca, ca_src.read_bytes(), mode=0o644)
    text = re.sub(r"^bridge_cafile .*$", f"bridge_cafile {ca}", text, flags=re.M)
    atomic_write(bridge_conf_path(layout), text.encode("utf-8"), mode=0o600)
    return [f"bridge to the province installed: {bridge_conf_path(layout)}, CA {ca}"]


def remove_bridge(layout: Layout) -> list[str]:
    path = bridge_conf_path(layout)
    if not path.exists():
        return ["no bridge to the province was installed"]
    path.unlink()
    (layout.broker / CA_NAME).unlink(missing_ok=True)
    return [f"bridge to the province removed ({path})"]

"""Release manifests, signatures and what a bundle carries for updates (no network, no build)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from provisioning.devices import add_device, bundle_device
from provisioning.release import (
    MAX_FILE_BYTES,
    FileEntry,
    Manifest,
    ReleaseError,
    decode_signature,
    keygen,
    load_private_key,
    load_public_key,
    parse_version,
    verify,
)
from provisioning.reload import no_reload
from provisioning.site import init_site
from provisioning.units import update_units

WHEEL = "onestop_queue-9.0.1-py3-none-any.whl"


def _manifest(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "format": 1, "name": "onestop-queue", "version": "9.0.1", "created": "2026-12-04T03:00:00+00:00",
        "complete": True, "files": [{"name": WHEEL, "size": 10, "sha256": "a" * 64}],
    }  # fmt: skip
    body.update(kw)
    return body


def _raw(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


def test_a_manifest_round_trips_and_versions_compare_as_numbers() -> None:
    m = Manifest(
        "onestop-queue", "9.0.10", "t", (FileEntry("onestop_queue-9.0.10-py3-none-any.whl", 5, "b" * 64),)
    )
    assert Manifest.parse(m.to_bytes()) == m
    assert parse_version("9.0.10") > parse_version("9.0.9") and parse_version("9.1") == parse_version("9.1.0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "onestop"}, "is not onestop-queue"),
        ({"version": "9.0.1rc1"}, "dotted numbers"),
        ({"version": "9.0.2"}, "not of version 9.0.2"),
        ({"files": []}, "1 to 500 entries"),
        ({"files": [{"name": "../../etc/passwd.whl", "size": 1, "sha256": "a" * 64}]}, "not a wheel's name"),
        ({"files": [{"name": ".hidden.whl", "size": 1, "sha256": "a" * 64}]}, "not a wheel's name"),
        ({"files": [{"name": WHEEL, "size": MAX_FILE_BYTES + 1, "sha256": "a" * 64}]}, "size"),
        ({"files": [{"name": WHEEL, "size": True, "sha256": "a" * 64}]}, "size"),
        ({"files": [{"name": WHEEL, "size": 1, "sha256": "A" * 64}]}, "64 hex digits"),
        ({"files": [{"name": WHEEL, "size": 1, "sha256": "a" * 64}] * 2}, "listed twice"),
        ({"format": 2}, "format 1"),
    ],
)
def test_a_bad_manifest_is_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    with pytest.raises(ReleaseError, match=message.replace(".", r"\.").replace("(", r"\(")):
        Manifest.parse(_raw(_manifest(**change)))


def test_only_our_key_over_these_exact_bytes_verifies(tmp_path: Path) -> None:
    key_path, pub_path = keygen(tmp_path / "keys")
    assert key_path.stat().st_mode & 0o777 == 0o600
    raw = _raw(_manifest())
    sig = load_private_key(key_path).sign(raw)
    assert verify(raw, sig, load_public_key(pub_path)).version == "9.0.1"
    with pytest.raises(ReleaseError, match="signature does not match"):
        verify(raw + b" ", sig, load_public_key(pub_path))
    _other, other_pub = keygen(tmp_path / "other")
    with pytest.raises(ReleaseError, match="signature does not match"):
        verify(raw, sig, load_public_key(other_pub))
    with pytest.raises(ReleaseError, match="exists"):
        keygen(tmp_path / "keys")  # a key devices trust is never overwritten
    assert decode_signature(base64.b64encode(sig)) == sig
    for bad in (b"not base64!", base64.b64encode(b"short")):
        with pytest.raises(ReleaseError):
            decode_signature(bad)


def test_the_update_timer_runs_apply_daily_at_a_quiet_hour_and_after_boot() -> None:
    from onestop.config import DeviceConfig

    dev = DeviceConfig.model_validate({"id": "counter-1", "role": "counter", "counter": "1"})
    units = update_units(dev)
    service, timer = units["onestop-update.service"], units["onestop-update.timer"]
    assert (
        "ExecStart=/opt/onestop/.venv/bin/onestop update apply --config /etc/onestop/site.toml "
        "--device counter-1 --prefix /opt/onestop" in service
    )
    assert "Type=oneshot" in service
    assert "OnCalendar=*-*-* 03:30:00" in timer and "Persistent=true" in timer and "OnBootSec=" in timer


def test_a_bundle_carries_the_release_public_key_and_the_update_timer(tmp_path: Path) -> None:
    site = tmp_path / "site"
    init_site(site, site_id="t", lan_hosts=["192.168.1.10"])
    config = site / "site.toml"
    add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    keygen(tmp_path / "laptop")
    (site / "release.pub").write_bytes((tmp_path / "laptop" / "release.pub").read_bytes())
    root = bundle_device(config, "counter-1", tmp_path / "usb")
    assert (root / "etc" / "release.pub").read_bytes() == (site / "release.pub").read_bytes()
    assert (root / "systemd" / "onestop-update.timer").exists()
    assert not any(p.name == "release.key" for p in root.rglob("*"))
    script = root / "install.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert 'mv -T "$PREFIX/.venv.new" "$PREFIX/.venv"' in text and "onestop-update.timer" in text

"""``onestop provision``: site init, device add/revoke/bundle, site check (no broker needed)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from onestop.cli import main
from onestop.config import load
from onestop.credentials import secret_path
from provisioning import pki
from provisioning.check import check_site
from provisioning.devices import add_device, bundle_device, revoke_device
from provisioning.errors import ProvisionError
from provisioning.files import Layout
from provisioning.reload import no_reload
from provisioning.site import init_site


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    d = tmp_path / "site"
    init_site(d, site_id="hg-tthc", lan_hosts=["192.168.1.10"], broker_user="nobody")
    return d


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# -- site init -----------------------------------------------------------------------------------


def test_init_makes_a_valid_commented_site_and_a_ca(site_dir: Path) -> None:
    text = (site_dir / "site.toml").read_text()
    assert "ĐIỀN" in text and "# " in text
    cfg = load(site_dir / "site.toml")
    assert cfg.site.id == "hg-tthc" and cfg.broker.tls_port == 8883
    layout = Layout.of(cfg)
    ca, cert = pki.load_cert(layout.ca_cert), pki.load_cert(layout.broker_cert)
    assert pki.issued_by(cert, ca)
    assert {"localhost", "127.0.0.1", "192.168.1.10"} <= set(pki.san_hosts(cert))
    assert 3640 <= pki.validity(ca).days_left <= 3650
    assert 730 <= pki.validity(cert).days_left <= 1095
    conf = layout.broker_conf.read_text()
    assert "listener 1883 127.0.0.1\n" in conf and "listener 8883\n" in conf
    assert f"certfile {layout.broker_cert}" in conf and "tls_version tlsv1.2" in conf
    assert conf.count("allow_anonymous false") == 1 and "per_listener_settings false" in conf
    # Every client id bound to its account: a device cannot connect as `controller` or `hub`.
    assert "use_username_as_clientid true" in conf.splitlines()


def test_init_again_keeps_the_ca_site_file_and_secrets(site_dir: Path) -> None:
    layout = Layout(site_dir.resolve())
    site_dir.joinpath("site.toml").write_text(site_dir.joinpath("site.toml").read_text() + "# my note\n")
    before = {p: p.read_bytes() for p in [layout.ca_key, layout.ca_cert, layout.broker_key, layout.site_toml]}
    secrets = {p: p.read_bytes() for p in (site_dir / "var" / "secrets").iterdir()}
    report = init_site(site_dir, site_id="hg-tthc", lan_hosts=["192.168.1.10"], broker_user="nobody")
    assert {p: p.read_bytes() for p in before} == before
    assert {p: p.read_bytes() for p in secrets} == secrets
    kept = "\n".join(report.kept)
    assert "site CA" in kept and "site.toml" in kept and "secrets of 3 account(s)" in kept
    assert not report.created


def test_init_warns_when_the_broker_certificate_lacks_a_new_address(site_dir: Path) -> None:
    report = init_site(site_dir, lan_hosts=["10.0.0.5"], broker_user="nobody")
    assert any("10.0.0.5" in n for n in report.notes)
    report = init_site(site_dir, lan_hosts=["10.0.0.5"], broker_user="nobody", renew_broker_cert=True)
    assert "10.0.0.5" in pki.san_hosts(pki.load_cert(Layout(site_dir.resolve()).broker_cert))


def test_private_files_and_folders(site_dir: Path) -> None:
    layout = Layout(site_dir.resolve())
    for folder in (layout.pki, layout.broker, site_dir / "var" / "secrets"):
        assert _mode(folder) == 0o700
    for f in (layout.ca_key, layout.broker_key, layout.password_file, layout.acl_file):
        assert _mode(f) == 0o600
    assert {_mode(p) for p in (site_dir / "var" / "secrets").iterdir()} == {0o600}


# -- device add / revoke -------------------------------------------------------------------------


def test_add_appends_a_block_and_keeps_comments(site_dir: Path) -> None:
    config = site_dir / "site.toml"
    before = config.read_text()
    cfg, report = add_device(config, "kiosk-01", "kiosk", services=["tuphap"], reload=no_reload)
    after = config.read_text()
    assert after.startswith(before)
    assert '[[devices]]\nid = "kiosk-01"\nrole = "kiosk"\nservices = ["tuphap"]\n' in after
    assert cfg.device("kiosk-01").services == ["tuphap"]
    assert secret_path(cfg, "kiosk-01").exists()
    acl = Layout.of(cfg).acl_file.read_text()
    assert "user kiosk-01\n" in acl
    assert "kiosk-01:" in Layout.of(cfg).password_file.read_text()
    assert any("not reloaded" in n for n in report.notes)


def test_add_rolls_back_an_invalid_device_and_says_why(site_dir: Path) -> None:
    config = site_dir / "site.toml"
    before = config.read_text()
    acl_before = (site_dir / "broker" / "acl").read_text()
    with pytest.raises(ProvisionError, match=r'counter-9 was not added.*unknown counter "9"'):
        add_device(config, "counter-9", "counter", counter="9", reload=no_reload)
    with pytest.raises(ProvisionError, match="must name its counter"):
        add_device(config, "rate-1", "rating", reload=no_reload)
    assert config.read_text() == before
    assert (site_dir / "broker" / "acl").read_text() == acl_before


def test_add_refuses_a_duplicate_and_a_reserved_id(site_dir: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    with pytest.raises(ProvisionError, match="already"):
        add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    with pytest.raises(ProvisionError, match="reserved"):
        add_device(config, "hub", "board", reload=no_reload)


def test_revoke_comments_the_block_out_and_removes_the_account(site_dir: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "kiosk-01", "kiosk", reload=no_reload)
    cfg, _ = add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    secret = secret_path(cfg, "kiosk-01")
    calls: list[str] = []

    def reload() -> str:
        calls.append("hup")
        return "reloaded"

    cfg, _ = revoke_device(config, "kiosk-01", reload=reload)
    assert calls == ["hup"]
    text = config.read_text()
    assert '# id = "kiosk-01"' in text and "# revoked by" in text
    assert [d.id for d in cfg.devices] == ["counter-1"]
    layout = Layout.of(cfg)
    assert "kiosk-01" not in layout.acl_file.read_text()
    assert "kiosk-01" not in layout.password_file.read_text()
    assert not secret.exists()
    assert check_site(cfg).ok
    # the same id can be enrolled again: a new device, a new password
    cfg, _ = add_device(config, "kiosk-01", "kiosk", reload=no_reload)
    assert secret_path(cfg, "kiosk-01").exists()


# -- site check ----------------------------------------------------------------------------------


def test_check_passes_on_a_fresh_site_and_cli_exits_0(
    site_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_device(site_dir / "site.toml", "board-1", "board", reload=no_reload)
    assert main(["provision", "site", "check", "--config", str(site_dir / "site.toml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "✓ all is well" and "✗" not in out


def test_check_fails_on_a_stale_acl_account(site_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acl = site_dir / "broker" / "acl"
    acl.write_text(acl.read_text() + "\nuser kiosk-old\ntopic write onestop/v1/hg-tthc/dev/kiosk-old/#\n")
    assert main(["provision", "site", "check", "--config", str(site_dir / "site.toml")]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("✗ NOT OK:") and "stale accounts" in first and "kiosk-old" in first


def test_check_fails_on_a_broker_conf_without_the_client_id_binding(
    site_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = site_dir / "broker" / "mosquitto.conf"
    conf.write_text(conf.read_text().replace("use_username_as_clientid true\n", ""))
    assert main(["provision", "site", "check", "--config", str(site_dir / "site.toml")]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("✗ NOT OK:") and "use_username_as_clientid" in first


def test_check_fails_when_a_device_has_no_rules_or_no_secret(site_dir: Path) -> None:
    cfg, _ = add_device(site_dir / "site.toml", "board-1", "board", reload=no_reload)
    acl = Layout.of(cfg).acl_file
    acl.write_text(acl.read_text().split("user board-1")[0])
    secret_path(cfg, "hub").unlink()
    problems = check_site(cfg).problems
    assert any("no rules for board-1" in p for p in problems)
    assert any("no secret file for hub" in p for p in problems)


def test_check_fails_on_loose_modes(site_dir: Path) -> None:
    cfg = load(site_dir / "site.toml")
    secret_path(cfg, "controller").chmod(0o644)
    Layout.of(cfg).ca_key.chmod(0o640)
    problems = check_site(cfg).problems
    assert any("controller.secret is 0644" in p for p in problems)
    assert any("ca.key is 0640" in p for p in problems)


def test_check_warns_before_expiry_and_fails_after(site_dir: Path) -> None:
    cfg = load(site_dir / "site.toml")
    end = pki.load_cert(Layout.of(cfg).broker_cert).not_valid_after_utc
    soon = check_site(cfg, now=end - timedelta(days=30))
    assert soon.ok and any(mark == "!" and "ends on" in text for mark, text in soon.lines)
    late = check_site(cfg, now=end + timedelta(days=1))
    assert not late.ok and any("broker certificate expired" in p for p in late.problems)


def test_check_fails_when_the_broker_certificate_is_from_another_ca(site_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    init_site(other, broker_user="nobody")
    layout = Layout(site_dir.resolve())
    shutil.copy(other / "broker" / "broker.crt", layout.broker_cert)
    problems = check_site(load(layout.site_toml)).problems
    assert any("not signed by the site CA" in p for p in problems)
    assert any("does not match" in p for p in problems)


def test_check_on_an_invalid_site_file_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text('[site]\nid = "Bad Id"\n')
    assert main(["provision", "site", "check", "--config", str(bad)]) == 2
    assert "site.id" in capsys.readouterr().err.splitlines()[0]


# -- bundles -------------------------------------------------------------------------------------


def test_bundle_has_what_a_kiosk_needs_and_not_the_ca_key(site_dir: Path, tmp_path: Path) -> None:
    """A kiosk on a desktop (``--screen x11``): a user unit started with the desktop session."""
    config = site_dir / "site.toml"
    add_device(config, "kiosk-01", "kiosk", printer_usb=(0x04B8, 0x0202), screen="x11", reload=no_reload)
    root = bundle_device(config, "kiosk-01", tmp_path / "usb")
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {
        "etc/site.toml", "etc/ca.crt", "secrets/kiosk-01.secret", "install.sh", "README.txt",
        "systemd/user/onestop-kiosk-01.service", "autostart/onestop-kiosk-01.desktop",
        "udev/60-onestop-kiosk-01-printer.rules",
    } <= files  # fmt: skip
    assert not any("key" in f for f in files)
    for p in root.rglob("*"):
        assert b"PRIVATE KEY" not in (p.read_bytes() if p.is_file() else b"")
    assert _mode(root / "secrets" / "kiosk-01.secret") == 0o600
    device_cfg = load(root / "etc" / "site.toml")
    assert (
        device_cfg.broker.tls and device_cfg.broker.host == "192.168.1.10" and device_cfg.broker.port == 8883
    )
    assert device_cfg.storage.dir == "/var/lib/onestop"
    assert "# Cấu hình điểm Một cửa" in (root / "etc" / "site.toml").read_text()  # comments kept
    rule = (root / "udev" / "60-onestop-kiosk-01-printer.rules").read_text()
    assert (
        'ATTRS{idVendor}=="04b8", ATTRS{idProduct}=="0202"' in rule and 'GROUP="onestop", MODE="0660"' in rule
    )
    unit = (root / "systemd" / "user" / "onestop-kiosk-01.service").read_text()
    assert (
        "ExecStart=/opt/onestop/.venv/bin/onestop kiosk run --config /etc/onestop/site.toml --device kiosk-01"
        in unit
    )
    script = (root / "install.sh").read_text()
    assert "set -euo pipefail" in script and _mode(root / "install.sh") == 0o755
    subprocess.run(["bash", "-n", str(root / "install.sh")], check=True)
    # The kiosk is a user unit: `journalctl -u` finds nothing for it, --user-unit does.
    assert "sudo journalctl --user-unit onestop-kiosk-01 -n 20" in (root / "README.txt").read_text()
    assert "journalctl --user-unit $UNIT" in script


def test_bundle_of_a_kiosk_without_a_desktop(site_dir: Path, tmp_path: Path) -> None:
    """The default screen, KMS: a system service, a udev rule for hotplug, no desktop, no blanking."""
    config = site_dir / "site.toml"
    add_device(config, "kiosk-02", "kiosk", printer_usb=(0x04B8, 0x0202), reload=no_reload)
    root = bundle_device(config, "kiosk-02", tmp_path / "usb")
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {"systemd/onestop-kiosk-02.service", "udev/70-onestop-kiosk-02-screen.rules",
            "udev/60-onestop-kiosk-02-printer.rules"} <= files  # fmt: skip
    assert not any(f.startswith(("autostart/", "systemd/user/")) for f in files)
    unit = (root / "systemd" / "onestop-kiosk-02.service").read_text()
    assert "Environment=SDL_VIDEODRIVER=kmsdrm" in unit and "User=onestop" in unit
    rule = (root / "udev" / "70-onestop-kiosk-02-screen.rules").read_text()
    restart = 'RUN+="/usr/bin/systemctl --no-block try-restart onestop-kiosk-02.service"'
    assert f'ACTION=="change", SUBSYSTEM=="drm", ENV{{HOTPLUG}}=="1", {restart}' in rule
    assert 'SUBSYSTEM=="input", KERNEL=="event*", ENV{ID_INPUT_TOUCHSCREEN}=="1"' in rule
    script = (root / "install.sh").read_text()
    subprocess.run(["bash", "-n", str(root / "install.sh")], check=True)
    assert "KMS_SCREEN=1" in script and "SCREEN=0" in script.splitlines()  # no desktop autologin
    assert "consoleblank=0" in script and "libgbm1" in script and "evtest" in script
    assert 'systemctl restart --no-block "$UNIT"' in script  # it may wait for a display
    assert "sudo journalctl -u onestop-kiosk-02 -n 20" in (root / "README.txt").read_text()


def test_the_blanking_lines_are_added_to_cmdline_once(site_dir: Path, tmp_path: Path) -> None:
    """The install script's cmdline.txt edit, run for real on a copy: added once, never twice."""
    config = site_dir / "site.toml"
    add_device(config, "rate-9", "rating", counter="1", reload=no_reload)
    script = (bundle_device(config, "rate-9", tmp_path / "usb") / "install.sh").read_text()
    start = script.index("        for opt in consoleblank=0")
    loop = script[start : script.index("        done\n", start) + len("        done\n")]
    cmdline = tmp_path / "cmdline.txt"
    cmdline.write_text("console=serial0,115200 console=tty1 root=PARTUUID=1 rootfstype=ext4 rootwait quiet\n")
    for _ in range(2):
        subprocess.run(["bash", "-c", f"set -euo pipefail\ncmdline={cmdline}\n{loop}"], check=True)
    line = cmdline.read_text()
    assert line.endswith(" quiet consoleblank=0 vt.global_cursor_default=0\n") and line.count("\n") == 1


def test_only_screens_take_a_screen_option(site_dir: Path) -> None:
    with pytest.raises(ProvisionError, match="--screen: only kiosks and rating terminals"):
        add_device(
            site_dir / "site.toml", "counter-8", "counter", counter="1", screen="kms", reload=no_reload
        )


def test_the_bundle_readme_of_a_system_service_reads_its_system_log(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "counter-9", "counter", counter="1", reload=no_reload)
    root = bundle_device(config, "counter-9", tmp_path / "usb")
    assert "sudo journalctl -u onestop-counter-9 -n 20" in (root / "README.txt").read_text()


def test_bundle_of_a_tv_board_opens_the_board_page(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "tv-1", "board", reload=no_reload)
    root = bundle_device(config, "tv-1", tmp_path / "usb")
    unit = (root / "systemd" / "user" / "onestop-tv-1.service").read_text()
    assert "ExecStart=/opt/onestop/bin/onestop-tv-board https://192.168.1.10:8443/board" in unit
    assert "--kiosk" in (root / "bin" / "onestop-tv-board").read_text()
    script = (root / "install.sh").read_text()  # Chromium trusts the site CA the hub's certificate comes from
    assert 'certutil -d "sql:$nssdb" -A -t "C,," -n "onestop site CA" -i "$CONF_DIR/ca.crt"' in script
    subprocess.run(["bash", "-n", str(root / "install.sh")], check=True)


def test_a_grid_tv_board_opens_the_grid_layout(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "tv-2", "board", reload=no_reload)
    config.write_text(config.read_text().replace('id = "tv-2"\n', 'id = "tv-2"\nlayout = "grid"\n'))
    root = bundle_device(config, "tv-2", tmp_path / "usb")
    unit = (root / "systemd" / "user" / "onestop-tv-2.service").read_text()
    assert "onestop-tv-board https://192.168.1.10:8443/board?layout=grid" in unit


def test_bundle_tarball_is_private_and_keeps_the_secret_mode(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    archive = bundle_device(config, "counter-1", tmp_path / "usb", tar=True)
    assert archive.name == "onestop-counter-1.tar.gz" and _mode(archive) == 0o600
    with tarfile.open(archive) as tf:
        member = tf.getmember("onestop-counter-1/secrets/counter-1.secret")
        assert member.mode & 0o777 == 0o600 and member.uid == 0
        unit = tf.extractfile("onestop-counter-1/systemd/onestop-counter-1.service")
        assert unit is not None and b"Type=notify" in unit.read()


def test_bundle_of_an_unknown_device_says_so(site_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="no device 'nope'"):
        bundle_device(site_dir / "site.toml", "nope", tmp_path)


def test_cli_add_bundle_revoke(site_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(site_dir / "site.toml")
    base = ["provision", "device"]
    assert main([*base, "add", "--config", config, "--role", "rating", "--id", "rate-1", "--counter", "1",
                 "--reload", "none"]) == 0  # fmt: skip
    assert main([*base, "bundle", "rate-1", "--config", config, "--out", str(tmp_path / "usb"), "--tar"]) == 0
    assert main([*base, "revoke", "rate-1", "--config", config, "--reload", "none"]) == 0
    assert main([*base, "revoke", "rate-1", "--config", config, "--reload", "none"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"onestop provision: no device 'rate-1' in {config}"


# -- time ----------------------------------------------------------------------------------------


def test_the_hub_serves_time_and_devices_take_it_and_wait_for_it(site_dir: Path, tmp_path: Path) -> None:
    chrony = (site_dir / "chrony" / "onestop.conf").read_text()
    assert "allow 192.168.0.0/16" in chrony and "local stratum 10 orphan" in chrony
    assert "makestep 1 3" in chrony  # steps only at start-up: a later step is an alarm
    config = site_dir / "site.toml"
    add_device(config, "voice-9", "announcer", reload=no_reload)
    root = bundle_device(config, "voice-9", tmp_path / "usb")
    timesyncd = (root / "etc" / "timesyncd.conf").read_text()
    assert "[Time]" in timesyncd and "NTP=192.168.1.10" in timesyncd
    script = (root / "install.sh").read_text()
    assert "/etc/systemd/timesyncd.conf.d/onestop.conf" in script
    assert "systemctl enable systemd-time-wait-sync.service" in script
    unit = next((root / "systemd").rglob("*.service")).read_text()
    assert "time-sync.target" in unit


# -- the distribution a bundle installs ------------------------------------------------------------


@pytest.mark.parametrize("role", ["kiosk", "counter", "rating", "board", "announcer"])
def test_install_script_installs_this_project_from_its_wheels_only(role: str) -> None:
    from onestop.config import DeviceConfig
    from provisioning.install_script import render_install_sh

    dev = DeviceConfig(id="d-1", role=role, counter="1" if role in ("counter", "rating") else None)
    script = render_install_sh(dev)
    installs = [line for line in script.splitlines() if 'bin/pip" install' in line]
    assert installs, "the script installs the software"
    for line in installs:
        # "onestop" on PyPI is an unrelated project: never install a package of that name, never from an index
        assert "--no-index" in line and '--find-links "$HERE/wheels"' in line, line
        assert line.rstrip().endswith(" onestop-queue"), line
    assert "ONESTOP_PACKAGE" not in script


def _fake_wheel(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: enough to be copied
    return path


def test_install_sh_refuses_an_empty_wheels_folder(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    root = bundle_device(config, "counter-1", tmp_path / "usb")
    assert not list((root / "wheels").iterdir())
    # Only the harmless tools on PATH: whatever the script would do after its checks cannot run here.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "id"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    run = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(root / "install.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": str(tools), "LANG": "C.UTF-8"},
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "install.sh: wheels/ holds no onestop_queue-*.whl: nothing to install. Write the bundle again with "
        "--wheels DIR (a folder made by 'make wheels', see docs/deployment.md), "
        "or copy the wheels into wheels/"
    ]
    assert "==" not in run.stdout  # it stopped before its first step


def test_bundle_carries_the_wheels_of_a_wheels_folder(site_dir: Path, tmp_path: Path) -> None:
    config = site_dir / "site.toml"
    add_device(config, "counter-1", "counter", counter="1", reload=no_reload)
    wheels = tmp_path / "wheels"
    _fake_wheel(wheels, "paho_mqtt-2.1.0-py3-none-any.whl")
    with pytest.raises(ProvisionError, match=r"no onestop_queue-\*\.whl in it"):
        bundle_device(config, "counter-1", tmp_path / "usb", wheels=wheels)
    with pytest.raises(ProvisionError, match="no such folder"):
        bundle_device(config, "counter-1", tmp_path / "usb", wheels=tmp_path / "nope")
    _fake_wheel(wheels, "onestop_queue-0.1.0-py3-none-any.whl")
    root = bundle_device(config, "counter-1", tmp_path / "usb", wheels=wheels)
    assert sorted(p.name for p in (root / "wheels").iterdir()) == [
        "onestop_queue-0.1.0-py3-none-any.whl",
        "paho_mqtt-2.1.0-py3-none-any.whl",
    ]


def test_the_distribution_is_not_the_pypi_name_of_another_project() -> None:
    import tomllib

    from provisioning.install_script import DISTRIBUTION

    meta = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == DISTRIBUTION == "onestop-queue"
    assert meta["project"]["scripts"]["onestop"] == "onestop.cli:main"  # the command keeps its name


# -- the hub's HTTPS ---------------------------------------------------------------------------------


def test_init_sets_up_https_for_the_hub_with_a_certificate_of_the_site_ca(site_dir: Path) -> None:
    cfg = load(site_dir / "site.toml")
    assert (cfg.hub.listen, cfg.hub.tls_listen) == ("127.0.0.1:8080", "0.0.0.0:8443")
    assert cfg.hub.public_url == "https://192.168.1.10:8443"
    layout = Layout.of(cfg)
    cert = pki.load_cert(cfg.site_path(cfg.hub.tls_cert))
    assert cfg.site_path(cfg.hub.tls_cert) == layout.hub / "hub.crt"
    assert pki.issued_by(cert, pki.load_cert(layout.ca_cert))
    assert set(pki.san_hosts(cert)) == {"localhost", "127.0.0.1", "::1", "192.168.1.10"}
    assert pki.names_host(cert, "192.168.1.10") and not pki.names_host(cert, "192.168.1.11")
    assert pki.same_public_key(pki.load_key(layout.hub / "hub.key"), cert)
    assert _mode(layout.hub) == 0o700 and _mode(layout.hub / "hub.key") == 0o600
    result = check_site(cfg)
    assert result.ok, result.render()
    assert "✓ hub certificate names 192.168.1.10 (hub.public_url)" in result.render()


def _set_public_url(site_dir: Path, url: str, *, tls: bool = True) -> None:
    path = site_dir / "site.toml"
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("public_url"):
            line = f'public_url = "{url}"'
        elif line.startswith("tls_listen") and not tls:
            continue
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


def test_check_reports_the_hub_certificates_problems(site_dir: Path) -> None:
    cfg = load(site_dir / "site.toml")
    cert_path, key_path = cfg.site_path(cfg.hub.tls_cert), cfg.site_path(cfg.hub.tls_key)
    # expired
    late = check_site(cfg, now=pki.validity(pki.load_cert(cert_path)).not_after + timedelta(days=1))
    assert any(p.startswith("hub certificate expired on") for p in late.problems)
    # the public URL names a host the certificate does not
    _set_public_url(site_dir, "https://10.9.9.9:8443")
    moved = check_site(load(site_dir / "site.toml"))
    assert any("does not name 10.9.9.9 of hub.public_url" in p for p in moved.problems), moved.render()
    _set_public_url(site_dir, "https://192.168.1.10:8443")
    # signed by another CA
    other_key, other_ca = pki.make_ca("elsewhere")
    key, cert = pki.make_hub_cert("elsewhere", other_key, other_ca, ["192.168.1.10"])
    cert_path.write_bytes(pki.cert_pem(cert))
    key_path.write_bytes(pki.key_pem(key))
    forged = check_site(load(site_dir / "site.toml"))
    assert any("was not signed by the site CA" in p for p in forged.problems), forged.render()
    # missing
    cert_path.unlink()
    gone = check_site(load(site_dir / "site.toml"))
    assert any(p.startswith("hub certificate: ") and "is missing" in p for p in gone.problems)
    # site init makes it again (and --renew-hub-cert replaces a foreign one)
    init_site(site_dir, lan_hosts=["192.168.1.10"], broker_user="nobody")
    assert check_site(load(site_dir / "site.toml")).ok


def test_check_warns_when_the_hub_is_plain_http_on_the_lan(site_dir: Path) -> None:
    _set_public_url(site_dir, "http://192.168.1.10:8080", tls=False)
    result = check_site(load(site_dir / "site.toml"))
    assert result.ok  # a warning, not a failure: sites upgraded from before HTTPS keep working
    assert "! hub serves plain HTTP on the LAN (no [hub] tls_listen)" in result.render()


def test_a_read_only_root_needs_the_data_folder_on_its_own_partition(site_dir: Path, tmp_path: Path) -> None:
    """ONESTOP_READ_ONLY_ROOT=1 turns raspi-config's overlay on, but never while /var/lib/onestop is
    on the root file system (its data would then live in RAM and vanish at each reboot)."""
    config = site_dir / "site.toml"
    add_device(config, "led-9", "board", reload=no_reload)
    script = (bundle_device(config, "led-9", tmp_path / "usb") / "install.sh").read_text()
    assert "raspi-config nonint do_overlayfs 0" in script and "Storage=volatile" in script
    start = script.index('if [ "${ONESTOP_READ_ONLY_ROOT:-0}" = 1 ]; then')
    block = script[start : script.index("\nfi\n", start) + 4]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "mountpoint").write_text("#!/bin/sh\nexit 1\n")  # /var/lib/onestop: not a mount point
    (stubs / "mountpoint").chmod(0o755)
    prelude = (
        'DATA_DIR=/var/lib/onestop\nstep() { :; }\nfail() { printf "install.sh: %s\\n" "$*" >&2; exit 1; }\n'
    )
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + prelude + block],
        env={"PATH": f"{stubs}:/usr/bin:/bin", "ONESTOP_READ_ONLY_ROOT": "1"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "/var/lib/onestop is not a partition of its own" in done.stderr
    without = subprocess.run(["bash", "-c", "set -euo pipefail\n" + prelude + block],
                             env={"PATH": f"{stubs}:/usr/bin:/bin"}, capture_output=True, text=True,
                             timeout=30, check=False)  # fmt: skip
    assert without.returncode == 0  # not asked for: nothing happens

"""`onestop up --ignore-hours`: a demo tried by hand outside opening hours answers taps with tickets,
while the controller's default (what a real site runs) still refuses them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestop.broker import Broker
from onestop.cli import build_parser
from onestop.config import SiteConfig
from onestop.device import CommandFailed
from onestop.up import _plan
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.site import SITE

pytestmark = pytest.mark.integration


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """The test site with every service closed on every day: what a demo meets at night."""
    return site_factory({"services": [{**s, "days": []} for s in SITE["services"]]})


@pytest.fixture
def run_controller(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        p.wait(10)


def controller_argv(site_cfg: SiteConfig, broker: Broker, tmp_path: Path, *up_args: str) -> list[str]:
    """The controller child that `onestop up` would start with ``up_args``."""
    args = build_parser().parse_args(["up", "--config", site_cfg.source, *up_args])
    children = _plan(args, site_cfg, broker.port)
    (ctl,) = [c for c in children if c.name == "controller"]
    return [*ctl.argv, "--db", str(tmp_path / f"controller{len(up_args)}.db")]


def issue(device: DeviceFactory) -> str:
    """The answer to a kiosk tap: the ticket's number or the refusal's code."""
    kiosk = device("kiosk-1")
    try:
        return str(kiosk.request("issue", {"service": "tuphap"}, timeout=5, retries=3)["ticket"]["number"])
    except CommandFailed as exc:
        return exc.code
    finally:
        kiosk.stop()


def test_up_closes_the_site_by_default_and_opens_it_with_ignore_hours(
    site_cfg: SiteConfig,
    broker: Broker,
    credentials: dict[str, str],
    device: DeviceFactory,
    run_controller: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    log = (tmp_path / "controller.log").open("ab")
    plain = controller_argv(site_cfg, broker, tmp_path)
    assert "--ignore-hours" not in plain  # the real site's default: hours apply
    run_controller.append(subprocess.Popen(plain, stdout=log, stderr=subprocess.STDOUT))
    assert issue(device) == "service_closed"
    first = run_controller.pop()
    first.terminate()
    assert first.wait(10) == 0

    demo = controller_argv(site_cfg, broker, tmp_path, "--ignore-hours")
    run_controller.append(subprocess.Popen(demo, stdout=log, stderr=subprocess.STDOUT))
    assert issue(device) == "A001"

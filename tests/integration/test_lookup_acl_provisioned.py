"""The lookup ACL tests of test_lookup_acl.py, run again against the broker files ``onestop provision
site init`` generated, over the TLS listener devices use on the LAN (imported, not copied; the
provisioned broker and TLS clients come from test_security_acl.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.config import SiteConfig
from tests.integration.test_lookup_acl import (  # noqa: F401 - collected here with the fixtures below
    test_a_kiosk_cannot_read_another_kiosks_lookup_reply,
    test_kiosks_publish_their_own_lookups_and_the_hub_reads_them,
    test_only_the_hub_answers_lookups,
)
from tests.integration.test_security_acl import broker, mqtt  # noqa: F401 - the provisioned broker
from tests.utils.provisioned import provision_site
from tests.utils.site import SITE

pytestmark = pytest.mark.integration


@pytest.fixture
def site_cfg(tmp_path: Path) -> SiteConfig:
    """The test site with a second kiosk, provisioned with ``site init``."""
    return provision_site(tmp_path, {"devices": [*SITE["devices"], {"id": "kiosk-2", "role": "kiosk"}]})

"""pytest plugin: fixtures to test a site's dialplan against a real local Asterisk.

Loaded automatically (entry point `pytest11: telephony`) wherever telephony is installed.

Fixtures:
- `pbx_site` (session): the Site under test: `--telephony-site FILE`, else the ini option
  `telephony_site` (relative to the rootdir), else $TELEPHONY_SITE, else the bundled demo.
- `pbx` (session): the local PBX started with that site (`LocalPbx().up(site)`); stopped
  at the end of the session unless it was already running before. A PBX that cannot
  start fails the tests; outside CI, TELEPHONY_ALLOW_SKIP=1 skips them instead.
- `ami` (function): a connected `telephony.asterisk.ami.AmiClient`, closed afterwards.
- `phones` (function): a `PhoneKit`; every SIPp it started is stopped afterwards.

Tests using these fixtures get the `pbx` marker, so `-m "not pbx"` leaves them out.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from telephony.asterisk.ami import AmiClient
    from telephony.config import Site
    from telephony.pbx import LocalPbx, PbxInfo
    from telephony.testing.phones import PhoneKit

_PBX_FIXTURES = frozenset({"pbx", "ami", "phones"})


async def _until_no_channels(pbx: PbxHandle, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while True:
            if await asyncio.to_thread(pbx.active_calls) == 0:
                return
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"calls still up on the PBX {timeout}s after the test") from None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "telephony_site",
        "site file the telephony fixtures test against (relative to the rootdir)",
        default="",
    )
    group = parser.getgroup("telephony", "telephony PBX test kit")
    group.addoption(
        "--telephony-site",
        dest="telephony_site",
        default=None,
        metavar="FILE",
        help="site file the telephony fixtures test against (overrides the ini option)",
    )


def pytest_configure(config: pytest.Config) -> None:
    declared = config.getini("markers")
    if not any(str(line).split(":", 1)[0].strip() == "pbx" for line in declared):
        config.addinivalue_line(
            "markers", "pbx: needs the real local Asterisk (fails, never skips, in CI)"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if _PBX_FIXTURES.intersection(names) and item.get_closest_marker("pbx") is None:
            item.add_marker(pytest.mark.pbx)


def site_path(config: pytest.Config) -> Path | None:
    """The configured site file, or None for the bundled demo site."""
    option = config.getoption("telephony_site")
    if option:
        return Path(option).resolve()
    ini = str(config.getini("telephony_site") or "")
    if ini:
        return (config.rootpath / ini).resolve()
    env = os.environ.get("TELEPHONY_SITE")
    if env:
        return Path(env).resolve()
    return None


@pytest.fixture(scope="session")
def pbx_site(pytestconfig: pytest.Config) -> Site:
    """The site under test (see the module docstring for where it comes from)."""
    from telephony.config import ConfigError, demo_site_path, load_site

    path = site_path(pytestconfig)
    try:
        return load_site(path if path is not None else demo_site_path())
    except (ConfigError, OSError) as exc:
        pytest.fail(f"cannot load the site for the telephony fixtures ({path or 'demo'}):\n{exc}")


class PbxHandle:
    """The running local PBX of the test session."""

    def __init__(self, local: LocalPbx, info: PbxInfo, site: Site) -> None:
        self._local = local
        self.info = info
        self.site = site

    def __repr__(self) -> str:
        return f"<PbxHandle {self.info.backend} sip={self.info.sip_port} ami={self.info.control_port}>"

    def kill(self) -> None:
        """SIGKILL Asterisk (for restart tests); `start_again()` brings it back."""
        self._local.kill()

    def start_again(self) -> PbxInfo:
        """Start Asterisk again with the same config and wait until AMI answers."""
        self.info = self._local.start_again()
        return self.info

    def hangup_all(self) -> None:
        """Hang up every call on the PBX."""
        self._local.hangup_all()

    def active_calls(self) -> int:
        """How many channels are up on the PBX."""
        return self._local.active_calls()

    def cli(self, command: str) -> str:
        """Output of an Asterisk CLI command, e.g. `pjsip show contacts`."""
        return self._local.cli(command)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"the local PBX is required in CI: {reason}", pytrace=False)
    if os.environ.get("TELEPHONY_ALLOW_SKIP") == "1":
        pytest.skip(f"local PBX unavailable (TELEPHONY_ALLOW_SKIP=1): {reason}")
    pytest.fail(
        f"the local PBX could not start: {reason}\n"
        "(set TELEPHONY_ALLOW_SKIP=1 to skip PBX tests instead on this machine)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def pbx(pbx_site: Site) -> Iterator[PbxHandle]:
    """The local PBX running `pbx_site` for the whole session (sync: session scope)."""
    from telephony.pbx import LocalPbx, PbxError

    local = LocalPbx()
    problem: str | None = None
    try:
        was_running = local.status() is not None
        info = local.up(pbx_site)
    except (PbxError, OSError) as exc:
        problem = str(exc)
    if problem is not None:
        # Outside the except block, so the report is not "during handling of ...".
        _unavailable(problem)
    handle = PbxHandle(local, info, pbx_site)
    try:
        yield handle
    finally:
        if not was_running:
            local.down()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures below then explain themselves

    @pytest.fixture(name="ami")
    def _ami_needs_pytest_asyncio() -> NoReturn:
        pytest.fail("the `ami` fixture needs pytest-asyncio (pip install pytest-asyncio)")

    @pytest.fixture(name="phones")
    def _phones_need_pytest_asyncio() -> NoReturn:
        pytest.fail("the `phones` fixture needs pytest-asyncio (pip install pytest-asyncio)")

else:

    @pytest_asyncio.fixture
    async def ami(pbx: PbxHandle, pbx_site: Site) -> AsyncIterator[AmiClient]:
        """An AMI client logged in with the site's credentials; closed after the test."""
        from telephony.asterisk.ami import AmiClient

        client = AmiClient(
            pbx.info.control_host,
            pbx.info.control_port,
            pbx_site.pbx.control_username,
            pbx_site.pbx.control_secret,
        )
        await client.connect()
        try:
            yield client
        finally:
            await client.close()

    @pytest_asyncio.fixture
    async def phones(
        pbx: PbxHandle, pbx_site: Site, tmp_path: Path
    ) -> AsyncIterator[PhoneKit]:
        """SIP phones for the site's devices; all SIPp processes stop after the test.

        SIPp's scenarios and message traces stay in the test's tmp_path/sipp.
        """
        from telephony.testing.phones import PhoneKit

        kit = PhoneKit(
            pbx_site, tmp_path / "sipp", sip_host=pbx.info.sip_host, sip_port=pbx.info.sip_port
        )
        try:
            yield kit
        finally:
            await kit.close()
            # A SIPp process stopped mid-call sends no BYE, and a call without media
            # stays up in Asterisk forever, leaving its agent "in use" for the next
            # test. Every test starts with no calls on the PBX.
            await asyncio.to_thread(pbx.hangup_all)
            await _until_no_channels(pbx)

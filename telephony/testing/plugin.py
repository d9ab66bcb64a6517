"""pytest plugin: fixtures to test a site's dialplan against a real local PBX.

Loaded automatically (entry point `pytest11: telephony`) wherever telephony is installed.

Fixtures:
- `pbx_kind` (session): which PBX the test runs on. By default the site file's own
  `pbx.kind`; the ini option `telephony_pbx_kinds` (or `--telephony-pbx-kinds`, or
  $TELEPHONY_PBX_KINDS), e.g. "asterisk freeswitch", runs every PBX test once per
  kind. `@pytest.mark.pbx_kinds("asterisk")` keeps a test to the kinds it names.
- `pbx_site` (session): the Site under test, read as that kind: `--telephony-site FILE`,
  else the ini option `telephony_site` (relative to the rootdir), else $TELEPHONY_SITE,
  else the bundled demo.
- `pbx` (session): the local PBX started with that site (`LocalPbx().up(site)`); stopped
  at the end (or when the next kind's tests start) unless it was already running
  before. A PBX that cannot start fails the tests; outside CI,
  TELEPHONY_ALLOW_SKIP=1 skips them instead.
- `port` (function): a connected `telephony.port.PbxPort` onto that PBX (what the
  engine drives), closed afterwards.
- `ami` (function): a connected `telephony.asterisk.ami.AmiClient` (Asterisk only).
- `phones` (function): a `PhoneKit`; every SIPp it started is stopped afterwards.
- `subscribers` (function): a `SubscriberKit` of presence watchers; every subscription
  is ended and its SIPp stopped afterwards.

Tests using these fixtures get the `pbx` marker, so `-m "not pbx"` leaves them out.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from telephony.config.models import PbxKind

if TYPE_CHECKING:
    from telephony.asterisk.ami import AmiClient
    from telephony.config import Site
    from telephony.pbx import LocalPbx, PbxInfo
    from telephony.port import PbxPort
    from telephony.testing.phones import PhoneKit
    from telephony.testing.subscriber import SubscriberKit

_PBX_FIXTURES = frozenset({"pbx", "ami", "phones", "port", "subscribers"})
_KINDS_ENV = "TELEPHONY_PBX_KINDS"


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
    parser.addini(
        "telephony_pbx_kinds",
        "PBX kinds every PBX test runs on, e.g. 'asterisk freeswitch' (default: the site's)",
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
    group.addoption(
        "--telephony-pbx-kinds",
        dest="telephony_pbx_kinds",
        default=None,
        metavar="KINDS",
        help="PBX kinds to run the PBX tests on, comma or space separated "
        "(overrides the ini option and $TELEPHONY_PBX_KINDS)",
    )


def pytest_configure(config: pytest.Config) -> None:
    declared = {str(line).split(":", 1)[0].strip() for line in config.getini("markers")}
    if "pbx" not in declared:
        config.addinivalue_line(
            "markers", "pbx: needs the real local PBX (fails, never skips, in CI)"
        )
    if "pbx_kinds" not in declared:
        config.addinivalue_line(
            "markers", "pbx_kinds(*kinds): run this PBX test only on these kinds of PBX"
        )
    configured_kinds(config)  # a misspelt kind is a usage error before anything runs


def configured_kinds(config: pytest.Config) -> list[PbxKind]:
    """The kinds every PBX test runs on (option, ini, environment, else the site's own)."""
    text = (
        config.getoption("telephony_pbx_kinds")
        or os.environ.get(_KINDS_ENV)
        or str(config.getini("telephony_pbx_kinds") or "")
    )
    words = text.replace(",", " ").split()
    if not words:
        return [_site_kind(config)]
    kinds: list[PbxKind] = []
    for word in words:
        try:
            kind = PbxKind(word)
        except ValueError:
            known = ", ".join(k.value for k in PbxKind)
            raise pytest.UsageError(f"telephony_pbx_kinds: unknown PBX kind {word!r} ({known})")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _site_kind(config: pytest.Config) -> PbxKind:
    from telephony.config import ConfigError, demo_site_path, load_site

    path = site_path(config)
    try:
        return load_site(path if path is not None else demo_site_path()).pbx.kind
    except (ConfigError, OSError):
        return PbxKind.ASTERISK  # the pbx_site fixture reports the problem itself


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pbx_kind" in metafunc.fixturenames:
        kinds = configured_kinds(metafunc.config)
        metafunc.parametrize(
            "pbx_kind", kinds, scope="session", indirect=True, ids=[k.value for k in kinds]
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        names = getattr(item, "fixturenames", ())
        if _PBX_FIXTURES.intersection(names) and item.get_closest_marker("pbx") is None:
            item.add_marker(pytest.mark.pbx)
        marker = item.get_closest_marker("pbx_kinds")
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("pbx_kind") if callspec is not None else None
        if marker is not None and kind is not None and kind.value not in marker.args:
            dropped.append(item)  # not applicable to this kind: deselected, not skipped
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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
def pbx_kind(request: pytest.FixtureRequest) -> PbxKind:
    """The kind of PBX this test runs on."""
    param = getattr(request, "param", None)
    return param if isinstance(param, PbxKind) else _site_kind(request.config)


@pytest.fixture(scope="session")
def pbx_site(pytestconfig: pytest.Config, pbx_kind: PbxKind) -> Site:
    """The site under test, read as `pbx_kind` (see the module docstring)."""
    from telephony.config import ConfigError, demo_site_path, load_site

    path = site_path(pytestconfig)
    try:
        return load_site(path if path is not None else demo_site_path(), kind=pbx_kind)
    except (ConfigError, OSError) as exc:
        pytest.fail(
            f"cannot load the site for the telephony fixtures ({path or 'demo'}) "
            f"as {pbx_kind.value}:\n{exc}"
        )


class PbxHandle:
    """The running local PBX of the test session."""

    def __init__(self, local: LocalPbx, info: PbxInfo, site: Site) -> None:
        self._local = local
        self.info = info
        self.site = site

    def __repr__(self) -> str:
        return (
            f"<PbxHandle {self.info.kind.value} ({self.info.backend}) sip={self.info.sip_port}"
            f" control={self.info.control_port}>"
        )

    @property
    def kind(self) -> PbxKind:
        """Which PBX runs."""
        return self.info.kind

    def kill(self) -> None:
        """SIGKILL the PBX (for restart tests); `start_again()` brings it back."""
        self._local.kill()

    def start_again(self) -> PbxInfo:
        """Start the PBX again with the same config and wait until it answers."""
        self.info = self._local.start_again()
        return self.info

    def hangup_all(self) -> None:
        """Hang up every call on the PBX."""
        self._local.hangup_all()

    def active_calls(self) -> int:
        """How many channels are up on the PBX."""
        return self._local.active_calls()

    def contact(self, device_id: str) -> str | None:
        """Where a device is registered on the PBX (`sip:user@host:port`), or None."""
        return self._local.contact(self.site, device_id)

    def cli(self, command: str) -> str:
        """Output of one of the PBX's own console commands (Asterisk CLI, fs_cli)."""
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

    @pytest.fixture(name="subscribers")
    def _subscribers_need_pytest_asyncio() -> NoReturn:
        pytest.fail("the `subscribers` fixture needs pytest-asyncio (pip install pytest-asyncio)")

else:

    @pytest_asyncio.fixture
    async def port(pbx: PbxHandle, pbx_site: Site) -> AsyncIterator[PbxPort]:
        """A connected port onto the session's PBX (what the engine drives); closed after."""
        from telephony.engine.run import open_port

        connected = await open_port(pbx_site)
        try:
            yield connected
        finally:
            await connected.close()

    @pytest_asyncio.fixture
    async def ami(pbx: PbxHandle, pbx_site: Site) -> AsyncIterator[AmiClient]:
        """An AMI client logged in with the site's credentials; closed after the test."""
        from telephony.asterisk.ami import AmiClient

        if pbx.kind is not PbxKind.ASTERISK:
            pytest.fail(
                f"the ami fixture needs Asterisk, and this test runs on {pbx.kind.value}: "
                "mark it @pytest.mark.pbx_kinds(\"asterisk\")", pytrace=False,
            )

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

    @pytest_asyncio.fixture
    async def subscribers(
        pbx: PbxHandle, pbx_site: Site, tmp_path: Path
    ) -> AsyncIterator[SubscriberKit]:
        """Presence watchers (SUBSCRIBE dialogs) as the site's devices; every subscription
        is ended (Expires: 0) and its SIPp stopped after the test, so the PBX keeps none.
        """
        from telephony.testing.subscriber import SubscriberKit

        kit = SubscriberKit(
            pbx_site, tmp_path / "sipp-sub", sip_host=pbx.info.sip_host,
            sip_port=pbx.info.sip_port,
        )
        try:
            yield kit
        finally:
            await kit.close()

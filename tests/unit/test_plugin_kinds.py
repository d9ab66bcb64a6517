"""The pytest plugin runs each PBX test once per configured kind of PBX."""

from __future__ import annotations

import pytest

SITE = """\
site: kinds
pbx: {control_secret: a-long-secret}
agents:
  - id: asa
    name: Asa
    extension: "1001"
    direct_line: "+46855501001"
    devices: [{id: asa-soft, kind: softphone, password: a-long-password}]
"""

TESTS = """\
import pytest

def test_any_kind(pbx_site, pbx_kind):
    assert pbx_site.pbx.kind is pbx_kind

@pytest.mark.pbx_kinds("asterisk")
def test_asterisk_only(pbx_site):
    assert pbx_site.pbx.kind.value == "asterisk"
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makefile(".yaml", site=SITE)
    pytester.makepyfile(test_kinds=TESTS)
    return pytester


def test_by_default_tests_run_on_the_sites_own_kind(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--telephony-site", "site.yaml", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_any_kind?asterisk? PASSED*"])


def test_every_configured_kind_gets_its_own_run_of_each_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest(
        "--telephony-site", "site.yaml", "--telephony-pbx-kinds", "asterisk,freeswitch", "-v",
    )
    result.assert_outcomes(passed=3, deselected=1)
    # Grouped by kind, so each kind's PBX starts once and the next kind's after it.
    result.stdout.fnmatch_lines([
        "*test_any_kind?asterisk? PASSED*",
        "*test_asterisk_only?asterisk? PASSED*",
        "*test_any_kind?freeswitch? PASSED*",
    ])


def test_an_unknown_kind_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--telephony-site", "site.yaml", "--telephony-pbx-kinds", "yate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown PBX kind 'yate'*"])

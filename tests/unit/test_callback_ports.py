"""What each PBX is told to place a callback: the rendered dial-out pieces, the Asterisk
Originate and the FreeSWITCH originate (no PBX here: tests/pbx/test_callbacks.py
proves them on the real ones)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asterisk_conf import sections
from callback_sites import TEXT, site, without_dial_out

from telephony.asterisk import names as asterisk_names
from telephony.asterisk.ami.events import Message, Response, parse_response
from telephony.asterisk.callback import call_back as asterisk_call_back
from telephony.asterisk.callback import originate as asterisk_originate
from telephony.asterisk.render import render as render_asterisk
from telephony.freeswitch import names as freeswitch_names
from telephony.freeswitch.callback import FREE, LEGS_REALM, ON_CALLBACK, Callbacks
from telephony.freeswitch.callback import originate as freeswitch_originate
from telephony.port import PbxRefused
from telephony.routing.callback import CALLER_RING_SECONDS, outbound

SITE = site()


def section(text: str, name: str, kind: str) -> list[str]:
    [found] = [s for s in sections(text) if s.name == name and f"type={kind}" in s.lines]
    return found.lines


# ---- Asterisk: the trunk's far end, and the context that dials out


def test_a_trunk_with_a_dial_host_gets_an_aor_with_its_contact() -> None:
    pjsip = render_asterisk(SITE)["pjsip.conf"]
    assert "aors=pstn" in section(pjsip, "pstn", "endpoint")
    assert "contact=sip:127.0.0.3:5070" in section(pjsip, "pstn", "aor")


def test_an_inbound_only_trunk_gets_no_aor() -> None:
    pjsip = render_asterisk(without_dial_out())["pjsip.conf"]
    assert not any(ln.startswith("aors=") for ln in section(pjsip, "pstn", "endpoint"))
    assert [s for s in sections(pjsip) if s.name == "pstn" and "type=aor" in s.lines] == []


def test_an_ipv6_dial_host_is_bracketed() -> None:
    trunk = site(TEXT.replace("dial_host: 127.0.0.3", 'dial_host: "2001:db8::7"')).trunks[0]
    assert asterisk_names.trunk_contact(trunk) == "sip:[2001:db8::7]:5070"
    assert freeswitch_names.trunk_dial_string(trunk, "+4670111") == (
        "sofia/telephony/+4670111@[2001:db8::7]:5070"
    )


def test_the_dial_out_context_dials_the_target_with_the_queue_number_as_caller_id() -> None:
    extensions = render_asterisk(SITE)["extensions.conf"]
    [context] = [s for s in sections(extensions) if s.name == asterisk_names.DIAL_OUT]
    assert context.lines == [
        "exten => s,1,Set(CALLERID(num)=${TEL_DIAL_FROM})",
        " same => n,Set(CALLERID(name)=${TEL_DIAL_FROM})",
        (" same => n,Dial(${TEL_DIAL_TARGET},${TEL_DIAL_RING},"
         "U(tel-dial-answered^${TEL_DIAL_REQUEST}))"),
        " same => n,Hangup()",
    ]


def test_the_caller_answering_deletes_their_request() -> None:
    extensions = render_asterisk(SITE)["extensions.conf"]
    [context] = [s for s in sections(extensions) if s.name == asterisk_names.DIAL_ANSWERED]
    assert context.lines == [
        "exten => s,1,Set(TEL_SERVED=${DB_DELETE(${ARG1})})",
        " same => n,Return()",
    ]


def test_no_phone_or_trunk_context_reaches_the_dial_out_context() -> None:
    extensions = render_asterisk(SITE)["extensions.conf"]
    assert asterisk_names.DIAL_OUT not in {
        line.split("=>", 1)[1].strip()
        for s in sections(extensions) for line in s.lines if line.startswith("include")
    }


def test_originate_rings_a_single_device_agent_on_that_device() -> None:
    headers = asterisk_originate(SITE, "asa", "+46701111111", "pension")
    assert headers == [
        ("Channel", "PJSIP/asa-soft"),
        ("Context", "tel-dial-out"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", "10000"),
        ("CallerID", '"Callback pension" <+46701111111>'),
        ("Async", "true"),
        ("Variable", "TEL_DIAL_TARGET=PJSIP/+46701111111@pstn"),
        ("Variable", "TEL_DIAL_FROM=3001"),
        ("Variable", f"TEL_DIAL_RING={CALLER_RING_SECONDS}"),
        ("Variable", "TEL_DIAL_REQUEST=telephony/callback/pension/+46701111111"),
    ]


def test_originate_rings_every_device_of_an_agent_with_several() -> None:
    headers = dict(asterisk_originate(SITE, "bjorn", "+46701111111", "pension"))
    assert headers["Channel"] == "Local/1002@tel-member/n"
    assert headers["Timeout"] == str(SITE.agents[1].ring_timeout * 1000)


class FakeAmi:
    """Answers every action with one response; records what was sent."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self.sent: list[tuple[str, Any]] = []

    async def send(self, action: str, headers: Any = ()) -> Response:
        self.sent.append((action, headers))
        return self.response


def ami_response(success: bool, message: str) -> Response:
    status = "Success" if success else "Error"
    return parse_response(Message((f"Response: {status}", "ActionID: 1", f"Message: {message}")))


async def test_asterisk_call_back_returns_once_the_originate_is_queued() -> None:
    ami = FakeAmi(ami_response(True, "Originate successfully queued"))
    await asterisk_call_back(ami, SITE, "asa", "+46701111111", "pension")  # type: ignore[arg-type]
    assert [action for action, _ in ami.sent] == ["ExtensionState", "Originate"]


async def test_asterisk_call_back_to_an_agent_with_nothing_registered_is_refused() -> None:
    unavailable = parse_response(Message((
        "Response: Success", "ActionID: 1", "Message: Extension Status",
        "Exten: 1001", "Context: tel-state", "Hint: PJSIP/asa-soft", "Status: 4",
    )))
    ami = FakeAmi(unavailable)
    with pytest.raises(PbxRefused, match="no device of theirs is registered"):
        await asterisk_call_back(ami, SITE, "asa", "+46701111111", "pension")  # type: ignore[arg-type]
    assert [action for action, _ in ami.sent] == ["ExtensionState"]


async def test_asterisk_call_back_refused_by_the_pbx_is_pbx_refused() -> None:
    ami = FakeAmi(ami_response(False, "Originate failed"))
    with pytest.raises(PbxRefused, match="Originate failed"):
        await asterisk_call_back(ami, SITE, "asa", "+46701111111", "pension")  # type: ignore[arg-type]


async def test_a_bad_callback_is_refused_before_the_pbx_hears_of_it() -> None:
    ami = FakeAmi(ami_response(True, "queued"))
    with pytest.raises(PbxRefused, match="caller: "):
        await asterisk_call_back(ami, SITE, "asa", "+4670,x", "pension")  # type: ignore[arg-type]
    assert ami.sent == []


# ---- FreeSWITCH: one originate, bridged to the trunk on answer


def test_freeswitch_originate_rings_every_device_then_bridges_to_the_trunk() -> None:
    call = outbound(SITE, "bjorn", "+46701111111", "pension")
    command = freeswitch_originate(SITE, call, ["LEG1", "LEG2"])
    assert command == (
        "originate {origination_caller_id_number=+46701111111,"
        "origination_caller_id_name=Callback-pension,"
        f"originate_timeout={SITE.agents[1].ring_timeout}}}"
        "[origination_uuid=LEG1]user/bjorn-soft@cb-site,"
        "[origination_uuid=LEG2]user/bjorn-desk@cb-site "
        "&bridge({origination_caller_id_number=3001,origination_caller_id_name=3001,"
        f"originate_timeout={CALLER_RING_SECONDS},"
        "api_on_answer_1='db delete/telephony_callback/pension.+46701111111',"
        "api_on_answer_2='group delete:telephony_callback.pension:+46701111111',"
        "api_on_answer_3='db insert/telephony_meta/version/LEG1'}"
        "sofia/telephony/+46701111111@127.0.0.3:5070)"
    )


class FakeEsl:
    """A FreeSWITCH that answers api commands from a table and runs one originate job."""

    def __init__(self, job_result: str, *, leg_appears: bool) -> None:
        self.job_result = job_result
        self.leg_appears = leg_appears
        self.api_calls: list[str] = []
        self.jobs: list[str] = []
        self.release = asyncio.Event()

    async def api(self, command: str, check: bool = True) -> str:
        self.api_calls.append(command)
        if command.startswith("uuid_exists"):
            return "true" if self.leg_appears and self.jobs else "false"
        return "+OK"

    async def bgapi(self, command: str, *, timeout: float | None = None,
                    check: bool = True) -> str:
        self.jobs.append(command)
        if self.leg_appears:
            await self.release.wait()  # the agent's phone rings until the test says
        return self.job_result


def states(esl: FakeEsl) -> list[str]:
    return [c.rsplit(" ", 1)[1] for c in esl.api_calls
            if c.startswith("callcenter_config agent set state")]


async def until_job_done(callbacks: Callbacks) -> None:
    async with asyncio.timeout(2):
        while repr(callbacks) != "<Callbacks jobs=0>":
            await asyncio.sleep(0.01)


async def test_freeswitch_call_back_returns_once_the_agents_leg_exists() -> None:
    esl = FakeEsl("+OK leg", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    assert states(esl) == [ON_CALLBACK]  # offered no queue call meanwhile
    assert esl.jobs and esl.jobs[0].startswith("originate ")
    esl.release.set()
    await callbacks.close()


async def test_freeswitch_answered_leg_alone_frees_the_agent_when_it_hangs_up() -> None:
    esl = FakeEsl("+OK answered-leg\n", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    esl.release.set()  # the agent answers
    await until_job_done(callbacks)
    hooks = [c for c in esl.api_calls if c.startswith("uuid_setvar")]
    assert hooks == [
        "uuid_setvar answered-leg api_hangup_hook callcenter_config agent set state asa Waiting"
    ]
    assert states(esl) == [ON_CALLBACK]  # busy until that hook runs


async def test_freeswitch_agent_whose_answered_leg_is_gone_already_is_set_free() -> None:
    esl = FakeEsl("+OK answered-leg\n", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    esl.leg_appears = False  # the call was over before the hook was set
    esl.release.set()
    await until_job_done(callbacks)
    assert states(esl) == [ON_CALLBACK, FREE]


async def test_freeswitch_port_closing_while_the_agent_rings_sets_them_free() -> None:
    esl = FakeEsl("-ERR NO_ANSWER\n", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    await callbacks.close()  # the job never ends on its own here
    assert states(esl) == [ON_CALLBACK, FREE]


async def test_freeswitch_call_back_that_fails_before_ringing_is_refused() -> None:
    esl = FakeEsl("-ERR USER_NOT_REGISTERED\n", leg_appears=False)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    with pytest.raises(PbxRefused, match="USER_NOT_REGISTERED"):
        await callbacks.call_back("asa", "+46701111111", "pension")
    assert states(esl) == [ON_CALLBACK, FREE]  # free again at once
    await callbacks.close()


async def test_freeswitch_agent_who_does_not_answer_is_set_free_again() -> None:
    esl = FakeEsl("-ERR NO_ANSWER\n", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    esl.release.set()
    async with asyncio.timeout(2):
        while states(esl) != [ON_CALLBACK, FREE]:
            await asyncio.sleep(0.01)
    await callbacks.close()


class OrphanEsl:
    """A FreeSWITCH holding a callback note an engine left behind."""

    def __init__(self, note: str, alive: set[str], state: str = ON_CALLBACK) -> None:
        self.note = note
        self.alive = alive
        self.state = state
        self.api_calls: list[str] = []

    async def api(self, command: str, check: bool = True) -> str:
        self.api_calls.append(command)
        if command == f"group call:{LEGS_REALM}":
            return "asa" if self.note else "-ERR no reply"
        if command == f"db select/{LEGS_REALM}/asa":
            return self.note
        if command.startswith("uuid_exists "):
            return "true" if command.split()[1] in self.alive else "false"
        if command.startswith("callcenter_config agent get state"):
            return self.state
        return "+OK"


async def test_an_orphaned_callback_whose_legs_are_gone_frees_its_agent() -> None:
    esl = OrphanEsl(f"{int(time.time()) - 5};LEG1,LEG2", alive=set())
    assert await Callbacks(esl, SITE).release_orphans() == ["asa"]  # type: ignore[arg-type]
    assert states(esl) == [FREE]  # type: ignore[arg-type]
    assert f"db delete/{LEGS_REALM}/asa" in esl.api_calls


async def test_an_orphaned_callback_still_ringing_is_left_for_the_next_read() -> None:
    esl = OrphanEsl(f"{int(time.time())};LEG1,LEG2", alive={"LEG1", "LEG2"})
    assert await Callbacks(esl, SITE).release_orphans() == []  # type: ignore[arg-type]
    assert states(esl) == []  # type: ignore[arg-type]


async def test_an_orphaned_callback_answered_gets_the_hook_on_the_leg_left() -> None:
    esl = OrphanEsl(f"{int(time.time()) - 600};LEG1,LEG2", alive={"LEG2"})
    assert await Callbacks(esl, SITE).release_orphans() == ["asa"]  # type: ignore[arg-type]
    assert [c for c in esl.api_calls if c.startswith("uuid_setvar")] == [
        "uuid_setvar LEG2 api_hangup_hook callcenter_config agent set state asa Waiting"
    ]
    assert states(esl) == []  # type: ignore[arg-type]  # busy until that call ends


async def test_an_orphaned_agent_taken_by_a_queue_call_since_is_left_alone() -> None:
    esl = OrphanEsl(f"{int(time.time()) - 600};LEG1", alive=set(), state="In a queue call")
    assert await Callbacks(esl, SITE).release_orphans() == ["asa"]  # type: ignore[arg-type]
    assert states(esl) == []  # type: ignore[arg-type]


async def test_a_callback_notes_its_legs_until_it_ends() -> None:
    esl = FakeEsl("-ERR NO_ANSWER\n", leg_appears=True)
    callbacks = Callbacks(esl, SITE)  # type: ignore[arg-type]
    await callbacks.call_back("asa", "+46701111111", "pension")
    noted = [c for c in esl.api_calls if c.startswith(f"db insert/{LEGS_REALM}/asa/")]
    assert len(noted) == 1
    esl.release.set()
    await until_job_done(callbacks)
    assert esl.api_calls[-2:] == [f"db delete/{LEGS_REALM}/asa", f"group delete:{LEGS_REALM}:asa"]

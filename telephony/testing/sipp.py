"""Run SIPp as a child process and follow what it sends and receives."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

from telephony.testing.trace import SipMessage, TraceParser

T = TypeVar("T")

LOCALHOST = "127.0.0.1"
# Short enough that waits feel instant, long enough not to spin: the trace file is local.
POLL_INTERVAL = 0.02

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


class SipTestError(AssertionError):
    """A SIP expectation of a test was not met (timeout, wrong status, failed phone).

    An AssertionError, so pytest shows it as a failed expectation rather than a crash.
    """


class SippError(RuntimeError):
    """SIPp could not be started or was misused (a problem of the test kit, not the PBX)."""


def sipp_binary() -> str:
    """The SIPp executable: $TELEPHONY_SIPP, else `sipp` on PATH."""
    configured = os.environ.get("TELEPHONY_SIPP")
    found = configured or shutil.which("sipp")
    if not found:
        raise SippError(
            "SIPp is not installed: install the `sip-tester` package (Debian/Ubuntu) "
            "or set TELEPHONY_SIPP to the sipp binary"
        )
    return found


def free_udp_port(host: str = LOCALHOST) -> int:
    """A UDP port on `host` (127.0.0.1) that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# SIPp's -mp P binds four UDP ports: audio RTP P, RTCP P+1, video RTP P+2, RTCP P+3.
MEDIA_PORTS = 4


def free_media_port(attempts: int = 50, host: str = LOCALHOST) -> int:
    """A base port P for SIPp's -mp with P..P+3 all free on `host` (127.0.0.1) right now.

    A port that is merely free itself is not enough: with dozens of phones one of
    its neighbours is soon another SIPp's, and SIPp then exits at start ("Unable
    to bind video RTP socket").
    """
    for _ in range(attempts):
        socks: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(first)
            first.bind((host, 0))
            base: int = first.getsockname()[1]
            if base + MEDIA_PORTS - 1 > 65535:
                continue
            for offset in range(1, MEDIA_PORTS):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((host, base + offset))
            return base
        except OSError:
            continue  # a neighbour is taken: try another base
        finally:
            for sock in socks:
                sock.close()
    raise SippError(f"no {MEDIA_PORTS} consecutive free UDP ports found for SIPp media")


def render_scenario(name: str, values: dict[str, str]) -> str:
    """Fill `{{NAME}}` placeholders of a bundled scenario.

    A placeholder alone on its line whose value is empty removes the line, so optional
    headers leave no blank line behind (a blank line would end the SIP headers).
    """
    template = resources.files("telephony.testing").joinpath("scenarios", name).read_text()
    out: list[str] = []
    for line in template.splitlines(keepends=True):
        stripped = line.strip()
        whole = _PLACEHOLDER.fullmatch(stripped)
        if whole and not values.get(whole.group(1), "x"):
            continue
        out.append(line)
    text = "".join(out)

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SippError(f"scenario {name} needs a value for {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(substitute, text)


@dataclass(frozen=True, slots=True)
class SippRun:
    """What to run: a scenario text and the SIPp options around it."""

    name: str
    scenario: str
    local_port: int
    remote: str | None = None  # host:port for a UAC; None for a UAS waiting for requests
    service: str | None = None
    calls: int | None = None  # -m: stop after this many calls
    auth_user: str | None = None
    auth_password: str | None = None
    media_port: int | None = None
    # Scenario for requests that belong to no call of `scenario` (-oocsf): a phone's
    # incoming INVITEs while its main scenario holds the registration.
    out_of_call_scenario: str | None = None
    # -inf: CSV text with a line per call ([field0] ...), for a UAC placing many calls.
    injection: str | None = None
    # Further SIPp options, e.g. ("-l", "1", "-r", "100") for call limits and rates.
    extra_args: tuple[str, ...] = ()
    # The address SIPp binds (-i), signalling and media: a loopback address of its own
    # for a caller the PBX must recognise as a trunk by address.
    local_host: str = LOCALHOST


class SippProcess:
    """One SIPp child process with its message trace, read as it grows.

    Python learns what SIPp saw by parsing `-trace_msg`: every SIP message SIPp sent or
    received, in order. Reads happen on demand (`messages()`, `wait_for`): the trace is a
    local file, so a read is a few microseconds and needs no thread.
    """

    def __init__(self, run: SippRun, workdir: Path) -> None:
        self.run = run
        stem = f"{run.name}-{run.local_port}-{uuid.uuid4().hex[:6]}"
        self._scenario_path = workdir / f"{stem}.xml"
        self._ooc_path = workdir / f"{stem}.ooc.xml"
        self._injection_path = workdir / f"{stem}.csv"
        self._trace_path = workdir / f"{stem}.messages.log"
        self._errors_path = workdir / f"{stem}.errors.log"
        self._output_path = workdir / f"{stem}.out"
        self._process: asyncio.subprocess.Process | None = None
        self._parser = TraceParser()
        self._messages: list[SipMessage] = []
        self._offset = 0

    def __repr__(self) -> str:
        state = "new" if self._process is None else (
            "running" if self._process.returncode is None else f"exited {self._process.returncode}"
        )
        return f"<SippProcess {self.run.name} {self.run.local_host}:{self.run.local_port} {state}>"

    def argv(self) -> list[str]:
        run = self.run
        argv = [sipp_binary()]
        if run.remote:
            argv.append(run.remote)
        argv += ["-sf", str(self._scenario_path), "-i", run.local_host, "-p", str(run.local_port)]
        if run.out_of_call_scenario is not None:
            argv += ["-oocsf", str(self._ooc_path)]
        argv += ["-nostdin", "-aa"]
        argv += ["-trace_msg", "-message_file", str(self._trace_path)]
        argv += ["-trace_err", "-error_file", str(self._errors_path)]
        if run.media_port is not None:
            argv += ["-mp", str(run.media_port)]
        if run.service is not None:
            argv += ["-s", run.service]
        if run.calls is not None:
            argv += ["-m", str(run.calls)]
        if run.auth_user is not None:
            argv += ["-au", run.auth_user]
        if run.auth_password is not None:
            argv += ["-ap", run.auth_password]
        if run.injection is not None:
            argv += ["-inf", str(self._injection_path)]
        return argv + list(run.extra_args)

    def describe(self) -> str:
        """The command line with the password masked, for error messages."""
        argv = self.argv()
        if "-ap" in argv:
            argv[argv.index("-ap") + 1] = "***"
        return " ".join(argv)

    async def start(self) -> None:
        self._scenario_path.write_text(self.run.scenario)
        if self.run.out_of_call_scenario is not None:
            self._ooc_path.write_text(self.run.out_of_call_scenario)
        if self.run.injection is not None:
            self._injection_path.write_text(self.run.injection)
        with self._output_path.open("wb") as output:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                # Own process group: a Ctrl-C in the terminal must not reach SIPp before
                # we have un-registered the phones.
                start_new_session=True,
            )

    @property
    def trace_path(self) -> Path:
        """SIPp's -trace_msg file: every message sent and received."""
        return self._trace_path

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def messages(self) -> list[SipMessage]:
        """Every SIP message SIPp has traced so far, oldest first."""
        try:
            with self._trace_path.open("rb") as trace:
                trace.seek(self._offset)
                data = trace.read()
        except FileNotFoundError:
            data = b""
        self._offset += len(data)
        if data:
            self._messages.extend(self._parser.feed(data))
        return list(self._messages)

    def diagnostics(self) -> str:
        """SIPp's own complaints (error file, screen output tail) for failure messages."""
        parts: list[str] = []
        for path in (self._errors_path, self._output_path):
            try:
                text = path.read_text(errors="replace").strip()
            except FileNotFoundError:
                continue
            if text:
                parts.append(f"{path.name}:\n{text[-1500:]}")
        return "\n".join(parts)

    async def wait_for(
        self,
        probe: Callable[[list[SipMessage]], T | None],
        timeout: float,
        what: str,
    ) -> T:
        """Poll the trace until `probe(messages)` returns something other than None.

        Raises SipTestError naming `what` on timeout, or as soon as SIPp has exited
        without the probe succeeding (after one last look at the trace).
        """

        async def poll() -> T:
            while True:
                found = probe(self.messages())
                if found is not None:
                    return found
                if not self.running:
                    if self._process is not None:
                        # Let the last trace bytes land after the exit is noticed.
                        await asyncio.sleep(POLL_INTERVAL)
                    found = probe(self.messages())
                    if found is not None:
                        return found
                    raise SipTestError(
                        f"{what}: SIPp ({self.run.name}) exited with code {self.returncode} "
                        f"first\n{self.trace_summary()}\n{self.diagnostics()}"
                    )
                await asyncio.sleep(POLL_INTERVAL)

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise SipTestError(
                f"{what}: not within {timeout:g} s\nSIP seen by {self.run.name}:\n"
                f"{self.trace_summary()}"
            ) from None

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait for SIPp to finish on its own; None if it is still running after timeout."""
        if self._process is None:
            return None
        try:
            return await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            return None

    async def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps the process."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
                return
            except TimeoutError:
                pass
            process.kill()
        except ProcessLookupError:
            pass
        await process.wait()

    def trace_summary(self, limit: int = 30) -> str:
        lines = [
            f"  {m.timestamp[-15:]} {'->' if m.direction.value == 'sent' else '<-'} {m.start_line}"
            for m in self.messages()[-limit:]
        ]
        return "\n".join(lines) or "  (nothing)"


def send_control(port: int, call_id: str, command: str, host: str = LOCALHOST) -> None:
    """Ask a running scenario to act now: a MESSAGE request in its call (by Call-ID), to
    the SIPp at host:port.

    The scenarios treat an in-call MESSAGE as "hang up now". It goes over UDP from a
    throw-away socket; SIPp's 200 reply to it goes to that closed port, which is harmless.
    """
    branch = f"z9hG4bK-testkit-{uuid.uuid4().hex[:12]}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        own_port = sock.getsockname()[1]
        request = (
            f"MESSAGE sip:testkit@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{own_port};branch={branch}\r\n"
            f"From: <sip:testkit@{LOCALHOST}>;tag=testkit\r\n"
            f"To: <sip:testkit@{LOCALHOST}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Max-Forwards: 70\r\n"
            f"X-Testkit: {command}\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        # A datagram to loopback does not block.
        sock.sendto(request.encode(), (host, port))

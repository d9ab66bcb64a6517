"""Pydantic models of a site file: agents, devices, hunt groups, skill queues, trunks."""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

_ID_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
NUMBER_RE = re.compile(r"^\+?[0-9]{1,20}$")
# Characters that could end a value early or start a new one in pjsip.conf,
# extensions.conf (argument lists, `${...}` expansion) or queues.conf.
_NAME_FORBIDDEN = set(';[],"()\\$')
_SECRET_FORBIDDEN = set(';"\\[],()$')


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid id: use 1-40 of a-z, 0-9, '_' and '-'"
        )
    return value


def _check_number(value: str) -> str:
    if not NUMBER_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a number: use digits, with an optional leading '+'")
    return value


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    for ch in value:
        if ch in _NAME_FORBIDDEN:
            raise ValueError(f"must not contain {ch!r}: it would break out of the generated config")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ValueError("must not contain control characters such as a newline")
    return value


def _check_secret(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if len(raw) < 8:
        raise ValueError("must be at least 8 characters (SIP and AMI secrets are attacked)")
    # The messages never say which character offended: that would leak part of it.
    if any(ch in _SECRET_FORBIDDEN for ch in raw):
        forbidden = " ".join(sorted(_SECRET_FORBIDDEN))
        raise ValueError(f"must not contain any of {forbidden}: they would break the generated config")
    if any(ord(ch) <= 0x20 or ord(ch) >= 0x7F for ch in raw):
        raise ValueError("must be printable ASCII without spaces")
    return value


Id = Annotated[str, AfterValidator(_check_id)]
Number = Annotated[str, AfterValidator(_check_number)]
Text = Annotated[str, Field(max_length=80), AfterValidator(_check_text)]
Secret = Annotated[SecretStr, AfterValidator(_check_secret)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceKind(StrEnum):
    SOFTPHONE = "softphone"
    DESKPHONE = "deskphone"


class Device(_Model):
    """One SIP device of an agent; it registers with its own credentials."""

    id: Id
    kind: DeviceKind
    password: Secret

    @property
    def username(self) -> str:
        # The SIP user name is the device id: PJSIP identifies phones by user name.
        return self.id


class RingStrategy(StrEnum):
    RINGALL = "ringall"
    RRMEMORY = "rrmemory"
    RRORDERED = "rrordered"
    LEASTRECENT = "leastrecent"
    FEWESTCALLS = "fewestcalls"
    LINEAR = "linear"
    RANDOM = "random"
    WRANDOM = "wrandom"


class VoicemailStep(_Model):
    voicemail: Literal[True] = True


class ColleagueStep(_Model):
    colleague: Id


class HuntGroupStep(_Model):
    hunt_group: Id


class QueueStep(_Model):
    queue: Id


FallbackStep = VoicemailStep | ColleagueStep | HuntGroupStep | QueueStep


def _normalise_steps(value: object) -> object:
    # Lets a site file say `- voicemail` instead of `- voicemail: true`.
    if isinstance(value, list):
        return [{"voicemail": True} if step == "voicemail" else step for step in value]
    return value


class Agent(_Model):
    """A person: one extension, one direct line, devices that all ring together."""

    id: Id
    name: Text
    extension: Number
    direct_line: Number
    devices: list[Device] = Field(min_length=1)
    skills: dict[Id, Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=dict)
    focus_allow: list[Number] = Field(default_factory=list)
    ring_timeout: Annotated[int, Field(ge=5, le=300)] = 20
    fallback: list[FallbackStep] = Field(default_factory=list)

    _fallback_words = field_validator("fallback", mode="before")(_normalise_steps)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_RANGE_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")


class TimeRange(_Model):
    """A duty range within one day, `HH:MM-HH:MM`; `24:00` ends at midnight."""

    start: time
    end_minutes: int

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            parsed = cls.parse(value)
            return {"start": parsed.start, "end_minutes": parsed.end_minutes}
        return value

    @property
    def start_minutes(self) -> int:
        return self.start.hour * 60 + self.start.minute

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end_minutes // 60:02d}:{self.end_minutes % 60:02d}"

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = _RANGE_RE.fullmatch(text.replace(" ", ""))
        if not match:
            raise ValueError(f"{text!r} is not a time range: write it as HH:MM-HH:MM")
        sh, sm, eh, em = (int(g) for g in match.groups())
        end = eh * 60 + em
        if end > 24 * 60:
            raise ValueError(f"{text!r} ends after 24:00")
        if end <= sh * 60 + sm:
            raise ValueError(f"{text!r} ends before it starts (split a night shift at 24:00)")
        return cls(start=time(sh, sm), end_minutes=end)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone (e.g. Europe/Stockholm)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_zone)]

WeekRoster = dict[Weekday, list[TimeRange]]


class HuntGroup(_Model):
    """A shared inbound line staffed from a weekly duty roster."""

    id: Id
    name: Text | None = None
    number: Number
    strategy: RingStrategy = RingStrategy.RRMEMORY
    ring_timeout: Annotated[int, Field(ge=5, le=300)] = 15
    max_wait: Annotated[int, Field(ge=0, le=3600)] = 300
    wrapup_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    timezone: TimeZoneName | None = None
    roster: dict[Id, WeekRoster] = Field(default_factory=dict)
    fallback: list[FallbackStep] = Field(default_factory=list)

    _fallback_words = field_validator("fallback", mode="before")(_normalise_steps)


class SkillQueue(_Model):
    """A queue that reaches agents with a skill at or above a minimum level."""

    id: Id
    name: Text | None = None
    number: Number
    skill: Id
    min_level: Annotated[int, Field(ge=1, le=5)] = 1
    strategy: RingStrategy = RingStrategy.RRMEMORY
    ring_timeout: Annotated[int, Field(ge=5, le=300)] = 15
    max_wait: Annotated[int, Field(ge=0, le=3600)] = 300
    wrapup_seconds: Annotated[int, Field(ge=0, le=3600)] = 0


class Trunk(_Model):
    """An inbound trunk; calls from it may reach direct lines, hunt groups and queues."""

    id: Id
    match_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}: [A-Za-z0-9._-]{1,60}$")] | None = None
    match_ip: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F.:]+(/[0-9]{1,3})?$")]] = Field(
        default_factory=list
    )


class Pbx(_Model):
    """How the engine reaches the PBX and how the PBX listens."""

    sip_host: Annotated[str, Field(pattern=r"^[0-9a-fA-F.:]+$")] = "127.0.0.1"
    sip_port: Annotated[int, Field(ge=1, le=65535)] = 5060
    qualify_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    ami_port: Annotated[int, Field(ge=1, le=65535)] = 5038
    ami_username: Id = "telephony"
    ami_secret: Secret
    urgent_prefix: Annotated[str, Field(pattern=r"^\*[0-9]{1,3}$")] = "*9"


class Api(_Model):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080


class Site(_Model):
    """A whole site: everything one PBX needs to know."""

    site: Id
    timezone: TimeZoneName = "UTC"
    pbx: Pbx
    api: Api = Api()
    agents: list[Agent] = Field(default_factory=list)
    hunt_groups: list[HuntGroup] = Field(default_factory=list)
    queues: list[SkillQueue] = Field(default_factory=list)
    trunks: list[Trunk] = Field(default_factory=list)

    def agent(self, agent_id: str) -> Agent:
        for agent in self.agents:
            if agent.id == agent_id:
                return agent
        raise KeyError(agent_id)

    def hunt_group(self, group_id: str) -> HuntGroup:
        for group in self.hunt_groups:
            if group.id == group_id:
                return group
        raise KeyError(group_id)

    def zone(self, group: HuntGroup) -> ZoneInfo:
        return ZoneInfo(group.timezone or self.timezone)

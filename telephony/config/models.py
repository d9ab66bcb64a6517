"""Pydantic models of a site file: agents, devices, hunt groups, skill queues, trunks."""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    Tag,
    field_validator,
    model_validator,
)

from telephony.config import fields
from telephony.config.fields import (
    CallbackKey,
    HeaderMatch,
    Id,
    IpAddress,
    IpMatch,
    Level,
    Number,
    Port,
    RingSeconds,
    Seconds,
    Secret,
    Text,
    TimeZoneName,
    UrgentPrefix,
    shown,
)
from telephony.config.tokens import HashedToken, PlainToken, TokenDigest

NUMBER_RE = fields.NUMBER_RE  # the API checks caller numbers with it


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


def _exactly_true(value: object) -> object:
    # Literal[True] alone would take 1 and 1.0 as well.
    if value is not True:
        raise ValueError("write `- voicemail` (or voicemail: true)")
    return value


class VoicemailStep(_Model):
    voicemail: Annotated[Literal[True], BeforeValidator(_exactly_true)] = True


class ColleagueStep(_Model):
    colleague: Id


class HuntGroupStep(_Model):
    hunt_group: Id


class QueueStep(_Model):
    queue: Id


_STEP_KINDS = {
    "voicemail": "VoicemailStep",
    "colleague": "ColleagueStep",
    "hunt_group": "HuntGroupStep",
    "queue": "QueueStep",
}


def _step_kind(value: Any) -> str | None:
    # Which kind of step a mapping is, by its key, so a wrong step gets one message
    # about that kind rather than one per kind it is not.
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        return next((tag for key, tag in _STEP_KINDS.items() if key in value), None)
    return None


# The tags are the class names: pydantic puts the tag into an error's location, and
# telephony.config.messages drops class names from paths (a field name would stay).
FallbackStep = Annotated[
    Annotated[VoicemailStep, Tag("VoicemailStep")]
    | Annotated[ColleagueStep, Tag("ColleagueStep")]
    | Annotated[HuntGroupStep, Tag("HuntGroupStep")]
    | Annotated[QueueStep, Tag("QueueStep")],
    Discriminator(
        _step_kind,
        custom_error_type="fallback_step",
        custom_error_message=(
            "must be voicemail, or one of colleague: ID, hunt_group: ID, queue: ID"
        ),
    ),
]


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
    skills: dict[Id, Level] = Field(default_factory=dict)
    focus_allow: list[Number] = Field(default_factory=list)
    ring_timeout: RingSeconds = 20
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


_RANGE_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]) ?- ?([01][0-9]|2[0-4]):([0-5][0-9])")


class TimeRange(_Model):
    """A duty range within one day, `HH:MM-HH:MM`; `24:00` ends at midnight."""

    start: time
    end_minutes: int

    @model_validator(mode="wrap")
    @classmethod
    def _from_text(cls, value: object, handler: ModelWrapValidatorHandler[TimeRange]) -> TimeRange:
        # A site file writes ranges as text, and only as text; TimeRange objects come
        # from parse() (or a copy of a model). Rosters repeat the same few ranges
        # thousands of times, and a TimeRange is immutable: one instance per text.
        if isinstance(value, str):
            return _parse_range(value)
        if isinstance(value, TimeRange):
            return handler(value)
        raise ValueError('must be a time range in quotes, e.g. "08:00-10:00"')

    @property
    def start_minutes(self) -> int:
        return self.start.hour * 60 + self.start.minute

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end_minutes // 60:02d}:{self.end_minutes % 60:02d}"

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = _RANGE_RE.fullmatch(text)
        if not match:
            raise ValueError(f"{shown(text)} is not a time range: write it as HH:MM-HH:MM")
        sh, sm, eh, em = (int(g) for g in match.groups())
        end = eh * 60 + em
        if end > 24 * 60:
            raise ValueError(f"{text!r} ends after 24:00")
        if end <= sh * 60 + sm:
            raise ValueError(f"{text!r} ends before it starts (split a night shift at 24:00)")
        return cls.model_construct(start=time(sh, sm), end_minutes=end)


@lru_cache(maxsize=1024)
def _parse_range(text: str) -> TimeRange:
    return TimeRange.parse(text)


WeekRoster = dict[Weekday, list[TimeRange]]


class HuntGroup(_Model):
    """A shared inbound line staffed from a weekly duty roster."""

    id: Id
    name: Text | None = None
    number: Number
    strategy: RingStrategy = RingStrategy.RRMEMORY
    ring_timeout: RingSeconds = 15
    max_wait: Seconds = 300
    wrapup_seconds: Seconds = 0
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
    min_level: Level = 1
    strategy: RingStrategy = RingStrategy.RRMEMORY
    ring_timeout: RingSeconds = 15
    max_wait: Seconds = 300
    wrapup_seconds: Seconds = 0
    level_wait: Seconds = 20
    """Seconds before the next level down joins the ringing (the most skilled first)."""
    callback_key: CallbackKey | None = None
    """A key a waiting caller presses to be called back instead of waiting."""
    fallback: list[FallbackStep] = Field(default_factory=list)
    """Where a caller goes after max_wait (overflow): a wider queue, a hunt group,
    voicemail."""

    _fallback_words = field_validator("fallback", mode="before")(_normalise_steps)


class Trunk(_Model):
    """A trunk: calls from it may reach direct lines, hunt groups and queues; with
    `dial_host`, the PBX also calls out through it (callbacks)."""

    id: Id
    match_header: HeaderMatch | None = None
    match_ip: list[IpMatch] = Field(default_factory=list)
    dial_host: IpAddress | None = None
    dial_port: Port = 5060


class PbxKind(StrEnum):
    """Which PBX a site runs on; the same site renders to and is driven on either."""

    ASTERISK = "asterisk"
    FREESWITCH = "freeswitch"


# Where each kind listens for its controller: AMI, the Event Socket.
DEFAULT_CONTROL_PORT = {PbxKind.ASTERISK: 5038, PbxKind.FREESWITCH: 8021}
# The names site files used before FreeSWITCH, still read.
_CONTROL_ALIASES = {"ami_port": "control_port", "ami_username": "control_username",
                    "ami_secret": "control_secret"}


class Pbx(_Model):
    """How the engine reaches the PBX and how the PBX listens."""

    kind: PbxKind = PbxKind.ASTERISK
    sip_host: IpAddress = "127.0.0.1"
    sip_port: Port = 5060
    qualify_seconds: Seconds = 0
    control_port: Port = 0  # 0 until filled in from `kind` (before validation)
    control_username: Id = "telephony"
    control_secret: Secret
    urgent_prefix: UrgentPrefix = "*9"
    duty_code: UrgentPrefix = "*50"
    """Dialled before an agent's own extension (a phone key): toggles their hunt-group
    duty; the key's lamp shows it."""
    focus_code: UrgentPrefix = "*51"
    """Dialled before an agent's own extension: toggles their focus, with a lamp."""
    presence_batch_ms: Annotated[int, Field(ge=0, le=10000)] = 200
    """Resource lists (team BLF): changes within this many ms go out in one NOTIFY."""

    @model_validator(mode="after")
    def _distinct_codes(self) -> Pbx:
        codes = {"urgent_prefix": self.urgent_prefix, "duty_code": self.duty_code,
                 "focus_code": self.focus_code}
        for name, code in codes.items():
            for other, value in codes.items():
                if name != other and value.startswith(code):
                    raise ValueError(f"{other} {value!r} starts with {name} {code!r}: "
                                     "a phone could not tell them apart")
        return self

    @model_validator(mode="before")
    @classmethod
    def _neutral_names(cls, data: Any) -> Any:
        # `ami_*` are the names of site files written for Asterisk alone: read them as
        # the control connection's, so switching `kind` is still a one-line change.
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for old, new in _CONTROL_ALIASES.items():
            if old in out and new in out:
                raise ValueError(f"give {new} or its older name {old}, not both")
            if old in out:
                out[new] = out.pop(old)
        if "control_port" not in out:
            try:
                kind = PbxKind(out.get("kind", PbxKind.ASTERISK))
            except ValueError:
                kind = PbxKind.ASTERISK  # the kind field reports its own error
            out["control_port"] = DEFAULT_CONTROL_PORT[kind]
        return out


def _check_api_host(value: str) -> str:
    if value == "localhost":
        return value
    try:
        return fields.check_ip(value)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an IP address or localhost (e.g. 127.0.0.1, 0.0.0.0 or ::)"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether an API address is reachable only from this machine."""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


class ApiToken(_Model):
    """One API token and whose it is: an agent (who changes only their own state) or a
    supervisor (who changes anything)."""

    agent: Id | None = None
    supervisor: Text | None = None
    token: PlainToken = None
    """Written out, normally `${NAME}` from the environment; kept only as its hash."""
    token_hash: HashedToken = None
    """What `telephony token hash` prints, for a token kept in the file."""

    @model_validator(mode="after")
    def _one_of_each(self) -> ApiToken:
        if (self.agent is None) == (self.supervisor is None):
            raise ValueError("give either agent: ID or supervisor: NAME")
        if (self.token is None) == (self.token_hash is None):
            raise ValueError("give either token (e.g. ${ASA_API_TOKEN}) or token_hash")
        return self

    @property
    def digest(self) -> TokenDigest:
        digest = self.token or self.token_hash
        assert digest is not None  # _one_of_each
        return digest


class Api(_Model):
    """Where the engine's HTTP API listens, and who may use it."""

    host: Annotated[str, AfterValidator(_check_api_host)] = "127.0.0.1"
    """localhost or an IP address; beyond loopback only with tokens."""
    port: Port = 8080
    tokens: list[ApiToken] = Field(default_factory=list)
    """None: the API trusts this machine (loopback only), as before tokens."""


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

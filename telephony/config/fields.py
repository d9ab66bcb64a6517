"""The kinds of value a site file holds, each validated with a message a person can act on.

Messages quote the value only where it cannot be a secret, and never more than 60
characters of it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

from telephony.config.env import EnvText
from telephony.config.scalars import Ambiguous

ID_RE = re.compile(r"[a-z0-9_-]{1,40}")
NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
# Characters that could end a value early or start a new one in pjsip.conf,
# extensions.conf (argument lists, `${...}` expansion) or queues.conf, control
# characters (C0, DEL, C1) and lone surrogates (no file can hold them).
_TEXT_FORBIDDEN = re.compile('[;\\[\\],"()\\\\$\x00-\x1f\x7f-\x9f\ud800-\udfff]')
_SECRET_FORBIDDEN = re.compile(r'[;"\\\[\],()$]')
_SECRET_PRINTABLE = re.compile(r"[\x21-\x7e]*")
# What Asterisk keeps of a name (voicemail's fullname, a caller-id name): 80-byte
# buffers, so 79 bytes of UTF-8.
NAME_BYTES = 79
_ZONE_RE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
_HEADER_RE = re.compile(r"[A-Za-z0-9-]{1,40}: [A-Za-z0-9._-]{1,60}")
_URGENT_RE = re.compile(r"\*[0-9]{1,3}")


def shown(value: str) -> str:
    """A value for a message: quoted, and cut to 60 characters."""
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


def _check_id(value: str) -> str:
    if not ID_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a valid id: use 1-40 of a-z, 0-9, '_' and '-'")
    return value


def _check_number(value: str) -> str:
    if not NUMBER_RE.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a number: use up to 20 digits, with an optional leading '+'"
        )
    return value


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    bad = _TEXT_FORBIDDEN.search(value)
    if bad is not None:
        ch = bad.group()
        if ch in ';[],"()\\$':
            raise ValueError(f"must not contain {ch!r}: it would break out of the generated config")
        raise ValueError("must not contain control characters such as a newline")
    size = len(value.encode("utf-8"))
    if size > NAME_BYTES:
        raise ValueError(
            f"is {size} bytes in UTF-8; Asterisk keeps {NAME_BYTES} (letters such as Å take 2)"
        )
    return value


def _check_secret(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if len(raw) < 8:
        raise ValueError("must be at least 8 characters (SIP and AMI secrets are attacked)")
    # The messages never say which character offended: that would leak part of it.
    if _SECRET_FORBIDDEN.search(raw):
        forbidden = " ".join(sorted(';"\\[],()$'))
        raise ValueError(
            f"must not contain any of {forbidden}: they would break the generated config"
        )
    if not _SECRET_PRINTABLE.fullmatch(raw):
        raise ValueError("must be printable ASCII without spaces")
    return value


def _whole_number(value: Any) -> Any:
    # Integers are integers: not true (which YAML and Python would count as 1), not
    # 20.0, not "20". Only text from ${VAR} may stand for one: the environment has no
    # other kind of value.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, EnvText) and re.fullmatch(r"[0-9]{1,9}", value):
        return int(value)
    raise ValueError(_not_whole(value))


def _not_whole(value: object) -> str:
    if isinstance(value, bool):
        return "must be a whole number, not true/false"
    if isinstance(value, EnvText):
        return "must be a whole number; the environment gives something else"
    if isinstance(value, float):
        return "must be a whole number, written without a decimal point"
    if isinstance(value, Ambiguous):
        return (f"YAML 1.1 reads this unquoted value as {value.reading}: write a plain decimal "
                "number")
    if isinstance(value, str):
        return "must be a whole number, written without quotes"
    if value is None:
        return "must not be empty: write a whole number"
    return "must be a whole number"


def _check_zone(value: str) -> str:
    if _ZONE_RE.fullmatch(value) and len(value) <= 64:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        else:
            return value
    raise ValueError(f"{shown(value)} is not a known time zone (e.g. Europe/Stockholm)")


def check_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1 or ::)"
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise ValueError(f"{shown(value)}: a zone index (%...) is not supported")
    return str(address)  # one spelling: ::1, not 0:0:0:0:0:0:0:1


def _check_match(value: str) -> str:
    if "/" not in value:
        try:
            return check_ip(value)
        except ValueError:
            raise ValueError(
                f"{shown(value)} is not an IP address or network (e.g. 203.0.113.0/24)"
            ) from None
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{shown(value)} is not an IP network (e.g. 203.0.113.0/24)") from None
    raise ValueError(f"{shown(value)} has host bits set: the network is {loose}")


def _check_header(value: str) -> str:
    if not _HEADER_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a header match: write it as 'X-Trunk: pstn'")
    return value


def _check_urgent(value: str) -> str:
    if not _URGENT_RE.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a prefix: write * and 1-3 digits, e.g. '*9'")
    return value


def _check_key(value: object) -> str:
    # One phone key (DTMF). A bare digit in YAML is a number: taken as that key.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str) and len(value) == 1 and value in "0123456789*#":
        return value
    raise ValueError(f"{shown(str(value))} is not a phone key: write one of 0-9, '*' or '#'")


Id = Annotated[str, AfterValidator(_check_id)]
Number = Annotated[str, AfterValidator(_check_number)]
Text = Annotated[str, AfterValidator(_check_text)]
Secret = Annotated[SecretStr, AfterValidator(_check_secret)]
TimeZoneName = Annotated[str, AfterValidator(_check_zone)]
IpAddress = Annotated[str, AfterValidator(check_ip)]
IpMatch = Annotated[str, AfterValidator(_check_match)]
HeaderMatch = Annotated[str, AfterValidator(_check_header)]
UrgentPrefix = Annotated[str, AfterValidator(_check_urgent)]
Port = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=65535)]
RingSeconds = Annotated[int, BeforeValidator(_whole_number), Field(ge=5, le=300)]
Seconds = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=3600)]
Level = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=5)]
CallbackKey = Annotated[str, BeforeValidator(_check_key)]

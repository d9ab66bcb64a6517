"""API tokens: the rules for one, and the hashed form kept in memory and in site files.

A token is never kept in clear once read: a plain token (from `${ENV}`) becomes its
SHA-256 at once, and a site file holds `token_hash`, which `telephony token hash`
writes with scrypt and a random salt (`scrypt$<salt hex>$<hash hex>`, n=2^14, r=8,
p=1); `sha256:<hex>` is read too. Messages about a token never quote it, not even in
part.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import PlainSerializer, PlainValidator

MIN_LENGTH: Final = 16
MAX_LENGTH: Final = 256
# What an HTTP header carries as a bearer token without quoting: no spaces, no
# control characters.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]*")
_SHA256_RE = re.compile(r"sha256:([0-9a-f]{64})")
_SCRYPT_RE = re.compile(r"scrypt\$([0-9a-f]{32})\$([0-9a-f]{64})")
# scrypt's cost: about 0.09 s and 16 MiB per hash on a small server.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True, slots=True, repr=False)
class TokenDigest:
    """A token's hash: SHA-256 (plain tokens, `sha256:` hashes) or salted scrypt."""

    scheme: Literal["sha256", "scrypt"]
    digest: bytes
    salt: bytes = b""

    def __repr__(self) -> str:
        # The digest of a weak token would let someone guess it offline: never shown.
        return f"<{self.scheme} token hash>"

    def of(self, token: str) -> bytes:
        """`token` hashed the way this digest was (costly for scrypt)."""
        raw = token.encode()
        if self.scheme == "sha256":
            return hashlib.sha256(raw).digest()
        return hashlib.scrypt(raw, salt=self.salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                              dklen=32)

    def matches(self, token: str) -> bool:
        """Whether `token` is the one hashed here, compared in constant time."""
        return hmac.compare_digest(self.of(token), self.digest)

    def text(self) -> str:
        """The form a site file's `token_hash` holds."""
        if self.scheme == "sha256":
            return f"sha256:{self.digest.hex()}"
        return f"scrypt${self.salt.hex()}${self.digest.hex()}"


def check_token(token: str) -> str:
    """`token` if it can serve as an API token, else ValueError saying why (not what)."""
    if not token:
        raise ValueError("must not be empty")
    if len(token) < MIN_LENGTH:
        raise ValueError(f"must be at least {MIN_LENGTH} characters (`telephony token new` "
                         "makes one)")
    if len(token) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters")
    if not _TOKEN_CHARS.fullmatch(token):
        raise ValueError("must be printable ASCII without spaces (it travels in an HTTP header)")
    return token


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def sha256(token: str) -> TokenDigest:
    return TokenDigest("sha256", hashlib.sha256(token.encode()).digest())


def scrypt(token: str, salt: bytes | None = None) -> TokenDigest:
    salt = os.urandom(16) if salt is None else salt
    return TokenDigest("scrypt", TokenDigest("scrypt", b"", salt).of(token), salt)


def parse_hash(text: str) -> TokenDigest:
    """A `token_hash` value, or ValueError saying which forms are read."""
    found = _SHA256_RE.fullmatch(text)
    if found:
        return TokenDigest("sha256", bytes.fromhex(found.group(1)))
    found = _SCRYPT_RE.fullmatch(text)
    if found:
        return TokenDigest("scrypt", bytes.fromhex(found.group(2)), bytes.fromhex(found.group(1)))
    raise ValueError("is not a token hash: write what `telephony token hash` prints "
                     "(scrypt$<salt>$<hash>), or sha256:<64 hex digits>")


def _from_plain(value: object) -> TokenDigest:
    # The clear text is dropped here: the site keeps only its hash.
    if isinstance(value, TokenDigest):
        return value
    if value is None:
        raise ValueError("must not be empty")
    if isinstance(value, str):
        return sha256(check_token(value))
    raise ValueError("must be text: put it in quotes, or better take it from the "
                     "environment (${NAME})")


def _from_hash(value: object) -> TokenDigest:
    if isinstance(value, TokenDigest):
        return value
    if value is None:
        raise ValueError("must not be empty")
    if isinstance(value, str):
        return parse_hash(value)
    raise ValueError("must be text in quotes: what `telephony token hash` prints")


# None only as a field's default: `token:` with no value is refused as empty.
PlainToken = Annotated[
    TokenDigest | None, PlainValidator(_from_plain),
    PlainSerializer(lambda d: None if d is None else "**********", return_type=str | None),
]
"""A token written out (normally `${NAME}` from the environment), kept as its SHA-256."""
HashedToken = Annotated[
    TokenDigest | None, PlainValidator(_from_hash),
    PlainSerializer(lambda d: None if d is None else d.text(), return_type=str | None),
]
"""A token's hash written in the site file."""

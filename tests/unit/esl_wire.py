"""The recorded FreeSWITCH 1.10.12 Event Socket sessions, and a reference reader of them.

``esl_transcripts/*.jsonl`` are byte-exact recordings (see the README there). The
reference reader here is deliberately naive and independent of
``telephony.freeswitch.esl``: it follows the framing rules of the transcripts'
README line by line, so the core's output can be checked against it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

TRANSCRIPTS = Path(__file__).resolve().parent / "esl_transcripts"


@dataclass(frozen=True)
class Transcript:
    """One recorded session: the chunks received, the commands sent, in wire order."""

    name: str
    recv: tuple[bytes, ...]  # without the final b"" (EOF)
    sent: tuple[bytes, ...]
    eof: bool

    @property
    def stream(self) -> bytes:
        return b"".join(self.recv)


def load(name: str) -> Transcript:
    recv: list[bytes] = []
    sent: list[bytes] = []
    eof = False
    for line in (TRANSCRIPTS / f"{name}.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["dir"] == "recv":
            if entry.get("eof"):
                eof = True
            else:
                recv.append(base64.b64decode(entry["b64"]))
        elif entry["dir"] == "send":
            sent.append(base64.b64decode(entry["b64"]))
    return Transcript(name, tuple(recv), tuple(sent), eof)


def names() -> list[str]:
    return sorted(p.stem for p in TRANSCRIPTS.glob("*.jsonl"))


@dataclass(frozen=True)
class Frame:
    """A frame as the README describes it: outer headers, body, where it ends."""

    headers: dict[str, str]
    body: bytes
    start: int
    body_start: int
    end: int


def frames(stream: bytes) -> list[Frame]:
    out: list[Frame] = []
    pos = 0
    while pos < len(stream):
        head_end = stream.index(b"\n\n", pos)
        headers = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
            for line in stream[pos:head_end].decode().split("\n")
        )
        start = head_end + 2
        end = start + int(headers.get("Content-Length", "0"))
        out.append(Frame(headers, stream[start:end], pos, start, end))
        pos = end
    return out


def plain_event_headers(body: bytes) -> list[tuple[str, str]]:
    """A text/event-plain body's headers, each line split first, then the value decoded."""
    block = body.split(b"\n\n", 1)[0]
    pairs = []
    for line in block.decode("ascii").split("\n"):
        name, value = line.split(": ", 1)
        pairs.append((name, unquote(value)))
    return pairs

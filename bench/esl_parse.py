"""ESL parse benchmark: telephony.freeswitch.esl vs genesis 2026.10.18, same bytes, same run.

    python bench/esl_parse.py [--events 200000] [--chunk 4096] [--repeat 3]
        [--genesis-python /tmp/genesis-venv/bin/python]

Builds a ``text/event-plain`` stream from the real FreeSWITCH 1.10.12 events in
``tests/unit/esl_transcripts/04a_events_plain_call.jsonl`` (51 events of a loopback
call: CHANNEL_*, CODEC, CALL_UPDATE, PLAYBACK_*, API ...; 2.3 kB and 67
headers on average, 7 % of the values URL-encoded), repeated to ``--events`` events,
cuts it into ``--chunk``-byte reads and feeds the same reads to:

* ours: ``EslProtocol.receive_data`` + ``messages()`` (every header value
  URL-decoded into ``Event.names``/``values``), then ``Event.to_dict()`` per event;
* genesis: its own read path, ``Protocol.handler()`` (``StreamReader.readline`` /
  ``readexactly`` + ``ESLReaderFSM`` + ``parse_headers``, which URL-decodes every
  header into its ``ESLEvent`` dict), with the reader fed the same chunks.

genesis pulls in about 45 packages and is never a dependency of this project: it
runs in its own virtualenv, as a subprocess given the same stream file. The bench
finds that virtualenv's python through ``--genesis-python``, else the
``GENESIS_PYTHON`` environment variable, else ``/tmp/genesis-venv/bin/python``.
Make one with::

    python3 -m venv /tmp/genesis-venv && /tmp/genesis-venv/bin/pip install genesis==2026.10.18

Results go to bench/results/esl_parse.{json,md}; the exit status is 1 when the
ratio is below ``--target`` (4.0), 2 when the counts differ or genesis is missing.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPT = ROOT / "tests" / "unit" / "esl_transcripts" / "04a_events_plain_call.jsonl"
DEFAULT_GENESIS = "/tmp/genesis-venv/bin/python"


def real_events(path: Path) -> list[bytes]:
    """The complete ``text/event-plain`` frames of a transcript, as received."""
    received = b"".join(
        base64.b64decode(entry["b64"])
        for entry in map(json.loads, path.read_text().splitlines())
        if entry["dir"] == "recv"
    )
    frames: list[bytes] = []
    pos = 0
    while pos < len(received):
        end = received.index(b"\n\n", pos)
        head = received[pos:end]
        length = 0
        for line in head.split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line[16:])
        stop = end + 2 + length
        if b"Content-Type: text/event-plain" in head:
            frames.append(received[pos:stop])
        pos = stop
    return frames


def make_stream(count: int) -> bytes:
    frames = real_events(TRANSCRIPT)
    reps, rest = divmod(count, len(frames))
    return b"".join(frames) * reps + b"".join(frames[:rest])


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def timed(fn: Any, parts: list[bytes], repeat: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        count = fn(parts)
        best = min(best, time.perf_counter() - start)
    return best, count


# -- ours -----------------------------------------------------------------------------


def run_ours_dict(parts: list[bytes]) -> int:
    """Every event framed, every header value URL-decoded, then a dict per event."""
    from telephony.freeswitch.esl.messages import Event
    from telephony.freeswitch.esl.protocol import EslProtocol

    proto = EslProtocol()
    count = 0
    for part in parts:
        proto.receive_data(part)
        for message in proto.messages():
            if isinstance(message, Event):
                message.to_dict()
                count += 1
    return count


def run_ours_core(parts: list[bytes]) -> int:
    """Framing and decoding only: typed events with every value decoded, no dict."""
    from telephony.freeswitch.esl.protocol import EslProtocol

    proto = EslProtocol()
    count = 0
    for part in parts:
        proto.receive_data(part)
        count += len(proto.messages())
    return count


# -- genesis (runs in its own virtualenv) ------------------------------------------------


def genesis_worker(stream: Path, chunk: int, repeat: int) -> None:
    """Entry point inside the genesis virtualenv: time its read path, print JSON."""
    import asyncio
    import logging

    from genesis.protocol.base import Protocol  # type: ignore[import-not-found]

    logging.disable(logging.CRITICAL)
    parts = chunks(stream.read_bytes(), chunk)

    class Reader(Protocol):  # type: ignore[misc]
        """genesis's Protocol with only the reader side in use."""

    async def once() -> int:
        proto = Reader()
        proto.reader = asyncio.StreamReader(limit=1 << 20)
        proto.is_connected = True
        count = 0

        async def consume() -> None:
            nonlocal count
            while await proto.events.get() is not None:
                count += 1

        async def feed() -> None:
            reader = proto.reader
            for part in parts:
                # One read at a time, as from a socket: the next only once the
                # reader has taken all it can and waits for more.
                while reader._waiter is None:
                    await asyncio.sleep(0)
                reader.feed_data(part)
            reader.feed_eof()

        await asyncio.gather(proto.handler(), consume(), feed())
        return count

    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        count = asyncio.run(once())
        best = min(best, time.perf_counter() - start)
    import genesis  # type: ignore[import-not-found]

    version = getattr(genesis, "__version__", "?")
    print(json.dumps({"events": count, "seconds": best, "version": version}))


def run_genesis(python: str, stream: Path, chunk: int) -> dict[str, Any]:
    """One timed pass of genesis's read path, in its virtualenv (start-up not timed)."""
    out = subprocess.run(
        [python, __file__, "--genesis-worker", str(stream), "--chunk", str(chunk), "--repeat", "1"],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--target", type=float, default=4.0)
    ap.add_argument("--genesis-python", default=os.environ.get("GENESIS_PYTHON", DEFAULT_GENESIS))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--genesis-worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.genesis_worker is not None:
        genesis_worker(args.genesis_worker, args.chunk, args.repeat)
        return 0
    if not Path(args.genesis_python).exists():
        print(f"no genesis python at {args.genesis_python}: see the docstring", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))

    data = make_stream(args.events)
    parts = chunks(data, args.chunk)
    # Rounds interleave the parsers (ours, then genesis, then ours again ...) and each
    # keeps its best time, so load from other work on the shared cores hits both alike
    # instead of whichever ran during a busy minute.
    t_core = t_dict = t_gen = float("inf")
    n_core = n_dict = n_gen = 0
    rounds: list[dict[str, float]] = []
    with tempfile.NamedTemporaryFile(suffix=".esl") as tmp:
        tmp.write(data)
        tmp.flush()
        for _ in range(args.repeat):
            tc, n_core = timed(run_ours_core, parts, 1)
            td, n_dict = timed(run_ours_dict, parts, 1)
            gen = run_genesis(args.genesis_python, Path(tmp.name), args.chunk)
            n_gen = gen["events"]
            rounds.append({"ours_dict_per_s": round(n_dict / td),
                           "genesis_per_s": round(n_gen / gen["seconds"]),
                           "ratio": round((n_dict / td) / (n_gen / gen["seconds"]), 2)})
            t_core, t_dict, t_gen = min(t_core, tc), min(t_dict, td), min(t_gen, gen["seconds"])
    if not n_core == n_dict == n_gen == args.events:
        print(f"event counts differ: ours {n_core}/{n_dict}, genesis {n_gen}", file=sys.stderr)
        return 2

    ours_rate = n_dict / t_dict
    gen_rate = n_gen / t_gen
    ratio = ours_rate / gen_rate
    result = {
        "events": args.events,
        "bytes": len(data),
        "chunk_size": args.chunk,
        "repeat_best_of": args.repeat,
        "source": TRANSCRIPT.name,
        "ours_every_header_decoded_dict_per_s": round(ours_rate),
        "ours_core_per_s": round(n_core / t_core),
        "genesis_per_s": round(gen_rate),
        "genesis_version": gen["version"],
        "ratio": round(ratio, 2),
        "rounds": rounds,
        "target_ratio": args.target,
        "target_met": ratio >= args.target,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "esl_parse.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (
        "# ESL parse benchmark\n\n"
        f"{args.events:,} real FreeSWITCH 1.10.12 text/event-plain events ({TRANSCRIPT.name}, "
        f"{len(data) / 1e6:.1f} MB), {args.chunk}-byte reads, best of {args.repeat} "
        f"interleaved rounds, Python {result['python']}.\n\n"
        "| parser | events/s |\n|---|---:|\n"
        f"| telephony.freeswitch.esl: framed, every value URL-decoded, dict per event | "
        f"{ours_rate:,.0f} |\n"
        f"| genesis {gen['version']} read path (StreamReader + ESLReaderFSM, dict per event) | "
        f"{gen_rate:,.0f} |\n"
        f"| ours without the dict (typed Event, every value decoded) | "
        f"{result['ours_core_per_s']:,} |\n\n"
        f"Ratio (ours with dict / genesis): **{ratio:.2f}x** (target {args.target}x: "
        f"{'met' if result['target_met'] else 'NOT met'}). Per round (ours / genesis, "
        "events/s): "
        + "; ".join(
            f"{r['ours_dict_per_s']:,} / {r['genesis_per_s']:,} = {r['ratio']}x" for r in rounds
        )
        + ".\n"
    )
    (args.out / "esl_parse.md").write_text(md)
    print(md)
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())

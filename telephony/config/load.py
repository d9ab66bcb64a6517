"""Reading a site file: YAML, `${ENV}` secrets, validation and cross-checks."""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from telephony.config.models import (
    ColleagueStep,
    FallbackStep,
    HuntGroupStep,
    QueueStep,
    Site,
    VoicemailStep,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a site file, at a `path.to.field`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """A site file that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _format_path(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _interpolate(
    node: object, path: tuple[int | str, ...], env: Mapping[str, str], problems: list[Problem]
) -> object:
    if isinstance(node, dict):
        return {k: _interpolate(v, (*path, str(k)), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, (*path, i), env, problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name, "")
            if value or default is None and name in env:
                return value
            if default is not None:
                return default  # as in the shell: ${VAR:-x} also covers an empty VAR
            problems.append(
                Problem(_format_path(path), f"environment variable {name} is not set")
            )
            return ""

        result = _ENV_RE.sub(replace, node)
        if "${" in _ENV_RE.sub("", node):
            problems.append(Problem(
                _format_path(path), "malformed ${...}: write ${NAME} or ${NAME:-default}"
            ))
        return result
    return node


def parse_site(
    text: str, env: Mapping[str, str] | None = None, source: str = "<site>"
) -> Site:
    """Validate a site file's text; raise ConfigError naming every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the position and PyYAML's short description: its full message quotes
        # the offending line, which may hold a secret.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        what = " ".join(
            str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None))
            if part
        )
        raise ConfigError([Problem("", f"{source}: {where}: not valid YAML ({what})")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", f"{source}: the top level must be a mapping")])
    env_problems: list[Problem] = []
    data = _interpolate(raw, (), os.environ if env is None else env, env_problems)
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        # A missing variable also fails its field; report it once, as the variable.
        seen = {p.path for p in env_problems}
        raise ConfigError(env_problems + [
            p for p in (
                Problem(_format_path(tuple(_clean_loc(e["loc"]))), _message(e))
                for e in exc.errors()
            ) if p.path not in seen
        ]) from None
    if env_problems:
        raise ConfigError(env_problems)
    problems = list(cross_check(site))
    if problems:
        raise ConfigError(problems)
    return site


def load_site(path: Path, env: Mapping[str, str] | None = None) -> Site:
    """Read and validate a site file from disk."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"{path}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"{path}: not UTF-8 text")]) from None
    return parse_site(text, env, source=str(path))


def demo_site_path() -> Path:
    """The bundled demo site, used where no site file is given."""
    return Path(str(resources.files("telephony").joinpath("examples", "demo-site.yaml")))


def load_or_report(path: Path) -> Site | None:
    """Load a site file for a command, or print each problem as `path: message` to stderr."""
    try:
        return load_site(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _clean_loc(loc: tuple[int | str, ...]) -> Iterator[int | str]:
    # pydantic puts union member names ("ColleagueStep") and function names in
    # the location; a site author only wants the field path.
    for part in loc:
        if isinstance(part, str) and (part[:1].isupper() or part.startswith("function-")):
            continue
        if isinstance(part, str) and part.startswith("[key]"):
            continue
        yield part


def _message(error: object) -> str:
    assert isinstance(error, dict)
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown field (check its spelling)"
    return msg


def cross_check(site: Site) -> Iterator[Problem]:
    """Checks that span several entries: unique ids and numbers, known references."""
    ids: dict[str, str] = {}
    numbers: dict[str, str] = {}

    def claim_id(value: str, path: str) -> Iterator[Problem]:
        if value in ids:
            yield Problem(path, f"id {value!r} is already used by {ids[value]}")
        else:
            ids[value] = path.removesuffix(".id")

    def claim_number(value: str, path: str) -> Iterator[Problem]:
        if value in numbers:
            yield Problem(path, f"number {value} is already used by {numbers[value]}")
        else:
            numbers[value] = path

    for i, agent in enumerate(site.agents):
        yield from claim_id(agent.id, f"agents[{i}].id")
        yield from claim_number(agent.extension, f"agents[{i}].extension")
        yield from claim_number(agent.direct_line, f"agents[{i}].direct_line")
        for j, device in enumerate(agent.devices):
            yield from claim_id(device.id, f"agents[{i}].devices[{j}].id")
    for i, group in enumerate(site.hunt_groups):
        yield from claim_id(group.id, f"hunt_groups[{i}].id")
        yield from claim_number(group.number, f"hunt_groups[{i}].number")
    for i, queue in enumerate(site.queues):
        yield from claim_id(queue.id, f"queues[{i}].id")
        yield from claim_number(queue.number, f"queues[{i}].number")
    for i, trunk in enumerate(site.trunks):
        yield from claim_id(trunk.id, f"trunks[{i}].id")
        if trunk.match_header is None and not trunk.match_ip:
            yield Problem(f"trunks[{i}]", "needs match_header or match_ip to be recognised")

    agent_ids = {a.id for a in site.agents}
    group_ids = {g.id for g in site.hunt_groups}
    queue_ids = {q.id for q in site.queues}

    def check_steps(steps: list[FallbackStep], path: str, self_id: str | None) -> Iterator[Problem]:
        for k, step in enumerate(steps):
            where = f"{path}.fallback[{k}]"
            if isinstance(step, VoicemailStep) and k != len(steps) - 1:
                yield Problem(where, "voicemail ends the call, so it must be the last step")
            elif isinstance(step, ColleagueStep):
                if step.colleague not in agent_ids:
                    yield Problem(f"{where}.colleague", f"unknown agent {step.colleague!r}")
                elif step.colleague == self_id:
                    yield Problem(f"{where}.colleague", "an agent cannot fall back to themselves")
            elif isinstance(step, HuntGroupStep):
                if step.hunt_group not in group_ids:
                    yield Problem(f"{where}.hunt_group", f"unknown hunt group {step.hunt_group!r}")
                elif step.hunt_group == self_id:
                    yield Problem(f"{where}.hunt_group", "a hunt group cannot fall back to itself")
            elif isinstance(step, QueueStep) and step.queue not in queue_ids:
                yield Problem(f"{where}.queue", f"unknown queue {step.queue!r}")

    for i, agent in enumerate(site.agents):
        yield from check_steps(agent.fallback, f"agents[{i}]", agent.id)
    for i, group in enumerate(site.hunt_groups):
        yield from check_steps(group.fallback, f"hunt_groups[{i}]", group.id)
        for agent_id, week in group.roster.items():
            base = f"hunt_groups[{i}].roster.{agent_id}"
            if agent_id not in agent_ids:
                yield Problem(base, f"unknown agent {agent_id!r}")
            for day, ranges in week.items():
                ordered = sorted(enumerate(ranges), key=lambda p: p[1].start_minutes)
                for (_, a), (k, b) in itertools.pairwise(ordered):
                    if b.start_minutes < a.end_minutes:
                        yield Problem(f"{base}.{day.value}[{k}]", f"{b} overlaps {a}")

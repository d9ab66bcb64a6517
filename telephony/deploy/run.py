"""`telephony deploy`: plan, dry run, validate, apply, reload live, roll back.

The order is fixed so that the running PBX is never left with a half-done change:

1. plan (the kind refuses any name clash: nothing is written),
2. a dry run prints the plan's diff (secrets masked) and stops,
   (then, unless the files are only to be written, a kind that can checks that the
   running PBX's control connection lets it in: `Preflight`),
3. validate in a scratch PBX on a copy of the target (the target is not touched),
4. apply (the previous set is kept under the target's `.telephony-deploy/`),
5. reload only what changed on the running PBX, then check it live,
6. on a failed reload or check: put the previous files back, reload them, and raise
   `RolledBack`.

A plan with no change writes, validates and reloads nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from telephony.config.models import Site
from telephony.deploy.files import (
    DeployError,
    Plan,
    apply,
    has_previous,
    previous_plan,
    restore,
)
from telephony.deploy.kinds import DeployKind


class RolledBack(DeployError):
    """Files were written, the live reload or check failed, and the previous files were
    put back (`restored_live` says whether reloading them worked too)."""

    def __init__(self, what: str, message: str, *, restored_live: bool) -> None:
        super().__init__(what, message)
        self.restored_live = restored_live


@runtime_checkable
class Preflight(Protocol):
    """A kind that can tell before writing whether the running PBX lets it reload."""

    async def preflight(self, site: Site) -> None:
        """DeployError when the PBX's control connection refuses or cannot be reached."""
        ...


@dataclass(frozen=True, slots=True)
class Result:
    """What a deploy or roll-back did."""

    kind: str
    plan: Plan
    written: tuple[PurePosixPath, ...]
    validated: bool
    reloaded: bool
    diff: str
    """The plan's unified diff with secrets masked (what a dry run prints)."""

    @property
    def changed(self) -> bool:
        return bool(self.plan.changed)


def kind_for(pbx: str) -> DeployKind:
    """The deploy of a PBX kind (`asterisk`, `freeswitch`), imported only when asked for."""
    if pbx == "asterisk":
        from telephony.asterisk.deploy import AsteriskDeploy

        return AsteriskDeploy()
    if pbx == "freeswitch":
        from telephony.freeswitch.deploy import FreeSwitchDeploy

        kind: DeployKind = FreeSwitchDeploy()
        return kind
    raise ValueError(f"no deploy for PBX kind {pbx!r}")


# A diff line's secret: Asterisk `secret=`/`password=` (and `=>`), FreeSWITCH
# `<param name="password" value="..."/>` and the like. The value is masked, the key kept.
_SECRET_KEYS = r"(?:secret|password|md5_cred|vm-password|a1-hash)"
_CONF_SECRET = re.compile(rf"^([-+ ]\s*{_SECRET_KEYS}\s*=>?\s*)(\S.*)$", re.IGNORECASE)
_XML_SECRET = re.compile(
    rf"""(name\s*=\s*["']{_SECRET_KEYS}["'][^>]*?value\s*=\s*["'])([^"']*)(["'])""",
    re.IGNORECASE,
)


def redact(diff: str) -> str:
    """The diff with every secret value replaced by `********`."""
    out: list[str] = []
    for line in diff.splitlines(keepends=True):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if not body.startswith(("---", "+++")):
            body = _CONF_SECRET.sub(r"\1********", body)
            body = _XML_SECRET.sub(r"\1********\3", body)
        out.append(body + end)
    return "".join(out)


def with_control(site: Site, username: str | None, secret: str | None) -> Site:
    """The site with other control credentials for the reload (a first deploy: the
    site's own AMI user is not known to the running PBX yet); the plan keeps the site's."""
    if username is None and secret is None:
        return site
    update: dict[str, object] = {}
    if username is not None:
        update["control_username"] = username
    if secret is not None:
        update["control_secret"] = SecretStr(secret)
    return site.model_copy(update={"pbx": site.pbx.model_copy(update=update)})


async def deploy(
    site: Site,
    target: Path,
    *,
    dry_run: bool,
    validate: bool = True,
    live: bool = True,
    control: Site | None = None,
    kind: DeployKind | None = None,
) -> Result:
    """Deploy `site` onto the PBX configuration directory `target` (see the module
    docstring). `live=False` writes the files only (the PBX reads them at its next
    reload). `control` is the site to reload with (other credentials), default `site`.
    Raises DeployError when nothing was changed, RolledBack when the previous files were
    put back."""
    kind = kind if kind is not None else kind_for(site.pbx.kind.value)
    plan = kind.plan(site, target)
    diff = redact(plan.diff())
    if dry_run or not plan.changed:
        return Result(kind.name, plan, (), False, False, diff)
    reloader = control if control is not None else site
    if live and isinstance(kind, Preflight):
        # Before the scratch PBX and before writing: an unreachable PBX changes nothing.
        await kind.preflight(reloader)
    if validate:
        await kind.validate(site, target, plan)
    written = tuple(apply(target, plan))
    if not live:
        return Result(kind.name, plan, written, validate, False, diff)
    try:
        await kind.reload(reloader, target, plan)
    except DeployError as failed:
        back = previous_plan(target)
        restore(target)
        try:
            await kind.reload(reloader, target, back)
        except DeployError as again:
            raise RolledBack(
                failed.what,
                f"{failed.message}\nthe previous files were put back, but reloading them "
                f"failed too ({again}): the PBX runs what it ran before only once it "
                "reloads them",
                restored_live=False,
            ) from None
        raise RolledBack(
            failed.what,
            f"{failed.message}\nthe previous files were put back and reloaded",
            restored_live=True,
        ) from None
    return Result(kind.name, plan, written, validate, True, diff)


async def rollback(
    site: Site,
    target: Path,
    *,
    live: bool = True,
    control: Site | None = None,
    kind: DeployKind | None = None,
) -> Result:
    """Put back the files the last deploy onto `target` replaced (and remove those it
    added), then reload them on the running PBX and check it. DeployError when no
    deploy was kept there or the reload fails (the files stay put back)."""
    kind = kind if kind is not None else kind_for(site.pbx.kind.value)
    if not has_previous(target):
        raise DeployError(str(target), "no previous deploy kept here to roll back to")
    back = previous_plan(target)
    diff = redact(back.diff())
    if not back.changed:
        return Result(kind.name, back, (), False, False, diff)
    reloader = control if control is not None else site
    if live and isinstance(kind, Preflight):
        await kind.preflight(reloader)
    written = tuple(restore(target))
    if live:
        try:
            await kind.reload(reloader, target, back)
        except DeployError as failed:
            raise DeployError(
                failed.what,
                f"{failed.message}\nthe previous files are back in place, but the running "
                "PBX did not take them as it should: see above",
            ) from None
    return Result(kind.name, back, written, False, live, diff)

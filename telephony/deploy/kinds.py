"""What each PBX kind gives a deploy: the plan, the scratch check, the live reload."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from telephony.config.models import Site
from telephony.deploy.files import Plan


class DeployKind(Protocol):
    """One PBX kind's part of `telephony deploy` (telephony.asterisk.deploy, telephony.freeswitch.deploy)."""

    name: str

    def plan(self, site: Site, target: Path) -> Plan:
        """Our files in their own folder under `target` and one include line in each main
        file that needs it, idempotent (a second deploy of the same site plans no
        change). Raises DeployError naming both sides of any clash between a name we
        generate and one already configured in `target`, before anything is written."""
        ...

    async def validate(self, site: Site, target: Path, plan: Plan) -> None:
        """Load a copy of `target` with the plan applied into a scratch PBX (spare loopback
        ports) and check that our endpoints, contexts and queues exist, the
        administrator's still do, and no configuration error was logged. Raises
        DeployError saying what failed; `target` is never touched."""
        ...

    async def reload(self, site: Site, target: Path, plan: Plan) -> None:
        """On the running PBX (the site's control connection), reload only what the plan
        changed, then check the same things live. Raises DeployError on a reload error
        or a failed check (the caller rolls back and reloads again)."""
        ...

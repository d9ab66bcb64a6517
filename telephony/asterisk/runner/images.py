"""The container image: a base imported from the cached root file system, and the
telephony image built FROM it with the packaged Dockerfile and a wheel of this package.

No registry is needed: the base is `tar | import` of the root file system the rootfs
backend already uses. Both images carry labels saying what they were built from (the
Asterisk version of the tree, the digest of the package's files), and are rebuilt
only when that changes.

Names: the base is shared by every state directory with the same Asterisk version
(its tag is derived from that version); the telephony image belongs to one state
directory (its tag is derived from the directory's path), so two state directories
running different code never rebuild each other's image.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

from telephony.asterisk.runner import rootfs, wheels
from telephony.asterisk.runner.engines import Engine, build_argv, import_argv
from telephony.asterisk.runner.paths import Layout
from telephony.pbx.errors import PbxError

IMAGE_REPO = "telephony-asterisk"
BASE_REPO = "telephony-asterisk-base"
LATEST = "latest"

LABEL_KIND = "org.telephony.image"
LABEL_ASTERISK = "org.telephony.asterisk-version"
LABEL_PACKAGE = "org.telephony.package-sha256"

# Never copied from the tree into an image: proc (if the rootfs backend has it
# mounted), and what rootfs runs leave behind: rendered configuration (it holds
# the site's secrets), logs, AstDB, voicemail, sockets. The image's /etc/asterisk
# stays empty: the backend mounts its own, `telephony pbx up` inside renders one.
TREE_EXCLUDES = (
    "./proc/*",
    "./etc/asterisk/*",
    "./var/log/asterisk/*",
    "./var/lib/asterisk/astdb.sqlite3*",
    "./var/spool/asterisk/*",
    "./run/asterisk/*",
    "./tmp/*",
)
_IMPORT_TIMEOUT = 600.0
_BUILD_TIMEOUT = 1800.0

Progress = Callable[[str], None]


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def state_key(state_dir: Path) -> str:
    """A short name for a state directory, used in image and container names."""
    return _short_hash(str(state_dir.resolve()))


def image_name(state_dir: Path) -> str:
    """The telephony image of a state directory."""
    return f"{IMAGE_REPO}:{state_key(state_dir)}"


def base_name(asterisk_version: str) -> str:
    """The base image imported from a root file system with this Asterisk version."""
    return f"{BASE_REPO}:{_short_hash(asterisk_version)}"


def base_labels(asterisk_version: str) -> dict[str, str]:
    """What a base image records about its origin."""
    return {LABEL_KIND: "base", LABEL_ASTERISK: asterisk_version}


def image_labels(asterisk_version: str, package_digest: str) -> dict[str, str]:
    """What the telephony image records about its origin."""
    return {LABEL_KIND: "asterisk", LABEL_ASTERISK: asterisk_version, LABEL_PACKAGE: package_digest}


def stale_reason(wanted: Mapping[str, str], found: Mapping[str, str] | None) -> str | None:
    """Why an image must be (re)built, or None when the one found is current.

    `found` is None when there is no image by that name. Labels the image has
    beyond `wanted` do not matter (a Dockerfile may add its own).
    """
    if found is None:
        return "no image yet"
    changes = [
        f"{key.removeprefix('org.telephony.')} {_short(found.get(key, '(none)'))} -> {_short(value)}"
        for key, value in sorted(wanted.items())
        if found.get(key) != value
    ]
    return "; ".join(changes) or None


def _short(value: str) -> str:
    """A sha256 shortened for messages; anything else as it is."""
    is_digest = len(value) == 64 and all(char in "0123456789abcdef" for char in value)
    return value[:12] if is_digest else value


def labels_of(engine: Engine, name: str) -> dict[str, str] | None:
    """The labels of an image, or None when the engine has no image by that name."""
    result = engine.run("image", "inspect", "--format", "{{json .Config.Labels}}", name)
    if result.returncode != 0:
        return None
    try:
        labels = json.loads(result.stdout.strip().splitlines()[0])
    except (ValueError, IndexError):
        return {}
    if not isinstance(labels, dict):
        return {}  # `null`: an image without labels
    return {str(key): str(value) for key, value in labels.items()}


def image_id(engine: Engine, name: str) -> str | None:
    """The id an image name points at now, or None."""
    result = engine.run("image", "inspect", "--format", "{{.Id}}", name)
    return result.stdout.strip() or None if result.returncode == 0 else None


def _remove_if_untagged(engine: Engine, image: str) -> None:
    """Remove an image nothing names any more (it would only take space); one still
    tagged (`:latest` for compose, say) is kept, and so is one a container uses."""
    result = engine.run("image", "inspect", "--format", "{{json .RepoTags}}", image)
    try:
        tags = json.loads(result.stdout) if result.returncode == 0 else ["?"]
    except ValueError:
        tags = ["?"]
    if not tags:
        engine.run("image", "rm", image)  # fails harmlessly while a container uses it


def dockerfile_text() -> str:
    """The packaged Dockerfile (telephony/asterisk/Dockerfile)."""
    return resources.files("telephony.asterisk").joinpath("Dockerfile").read_text(encoding="utf-8")


def ensure_image(
    engine: Engine,
    layout: Layout,
    progress: Progress,
    source: wheels.PackageSource | None = None,
) -> str:
    """The name of a current telephony image for this state directory, built if needed.

    Builds the root file system first when it is missing (root and mmdebstrap).
    """
    name = image_name(layout.state_dir)
    source = source if source is not None else wheels.package_source()
    package = wheels.source_digest(source)
    version = rootfs.installed_version(layout.rootfs)
    if version is None:
        found = labels_of(engine, name)
        if found is not None and found.get(LABEL_PACKAGE) == package:
            # The tree was deleted after the image was built; the image still has
            # Asterisk, and without the tree there is nothing newer to compare with.
            return name
    elif stale_reason(image_labels(version, package), labels_of(engine, name)) is None:
        return name
    with rootfs.locked(layout.image_lock):
        # Another process may have built it while we waited for the lock.
        version = rootfs.ensure_rootfs(layout.rootfs, layout.rootfs_lock, progress)
        wanted = image_labels(version, package)
        reason = stale_reason(wanted, labels_of(engine, name))
        if reason is None:
            return name
        progress(f"building container image {name} ({reason})")
        base = ensure_base(engine, layout.rootfs, version, progress)
        previous = image_id(engine, name)
        _build(engine, base=base, name=name, labels=wanted, source=source)
        if previous is not None and previous != image_id(engine, name):
            _remove_if_untagged(engine, previous)
        progress(f"built {name}")
        return name


def ensure_base(engine: Engine, tree: Path, version: str, progress: Progress) -> str:
    """The base image for the tree at `tree`, imported when missing or stale."""
    name = base_name(version)
    wanted = base_labels(version)
    if stale_reason(wanted, labels_of(engine, name)) is None:
        return name
    progress(f"importing {tree} as {name}")
    tar_argv = ["tar", "-C", str(tree), "--one-file-system",
                *(f"--exclude={pattern}" for pattern in TREE_EXCLUDES), "-c", "."]  # fmt: skip
    # tar's complaints go to a file: a pipe nobody reads while import runs could fill up.
    with (
        tempfile.TemporaryFile() as tar_log,
        subprocess.Popen(tar_argv, stdout=subprocess.PIPE, stderr=tar_log) as tar,
    ):
        assert tar.stdout is not None
        try:
            imported = subprocess.run(
                import_argv(engine, tag=name, labels=wanted),
                stdin=tar.stdout, capture_output=True, text=True, check=False,
                timeout=_IMPORT_TIMEOUT,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            tar.kill()
            raise PbxError(f"importing {tree} into {engine.cli} failed: {exc}") from exc
        finally:
            tar.stdout.close()
        # tar exits 1 when a file changed while it was read, which a rootfs Asterisk
        # running from the same tree can cause; only 2 and above are failures.
        tar_failed = tar.wait(timeout=_IMPORT_TIMEOUT) > 1
        tar_log.seek(0)
        tar_errors = tar_log.read().decode("utf-8", "replace")
    if tar_failed or imported.returncode != 0:
        detail = "\n".join((imported.stderr + tar_errors).strip().splitlines()[-10:])
        raise PbxError(f"importing {tree} as image {name} failed:\n{detail}")
    return name


def _build(
    engine: Engine,
    *,
    base: str,
    name: str,
    labels: Mapping[str, str],
    source: wheels.PackageSource,
) -> None:
    with tempfile.TemporaryDirectory(prefix="telephony-image.") as scratch:
        context = Path(scratch)
        wheels.build_wheel(source, context)
        dockerfile = context / "Dockerfile"
        dockerfile.write_text(dockerfile_text(), encoding="utf-8")
        argv = build_argv(
            engine, context=context, dockerfile=dockerfile, tag=name,
            build_args={"BASE": base}, labels=labels,
        )  # fmt: skip
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=_BUILD_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PbxError(f"`{engine.cli} build` of {name} failed: {exc}") from exc
    if result.returncode != 0:
        detail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise PbxError(
            f"`{engine.cli} build` of {name} failed (exit {result.returncode}):\n{detail}"
        )


def tag_latest(engine: Engine, image: str, version: str | None) -> list[tuple[str, str]]:
    """Tag the image (and its base) `:latest`, the names docker/compose.yaml and the
    Dockerfile's default BASE use; the (image, new name) pairs tagged."""
    pairs = [(image, f"{IMAGE_REPO}:{LATEST}")]
    if version is not None:
        pairs.append((base_name(version), f"{BASE_REPO}:{LATEST}"))
    for source, target in pairs:
        result = engine.run("tag", source, target)
        if result.returncode != 0:
            raise PbxError(f"`{engine.cli} tag {source} {target}` failed: {result.stderr.strip()}")
    return pairs

"""A stand-in for `docker`/`podman` in unit tests: images live in a JSON file.

Understands just what telephony.asterisk.runner.images asks: `image inspect --format F NAME`,
`build ... --label K=V --tag NAME ...`, `import --change 'LABEL K="V"' - NAME`,
`tag SRC DST` and `image rm ID`. An image whose last name moved away stays
listed under its id, as an untagged image does. Every call is appended to calls.log beside the
state file. Anything else exits 99, so an unexpected command fails the test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STATE = Path(__file__).with_name("images.json")
LOG = Path(__file__).with_name("calls.log")


def load() -> dict[str, dict[str, object]]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save(images: dict[str, dict[str, object]]) -> None:
    STATE.write_text(json.dumps(images))


def option_values(args: list[str], option: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == option]


def main(args: list[str]) -> int:
    with LOG.open("a") as log:
        log.write(" ".join(args) + "\n")
    images = load()
    if args[:2] == ["image", "inspect"]:
        wanted = args[-1]
        names = [name for name, image in images.items() if wanted in (name, image["id"])]
        if not names:
            print(f"Error: {wanted}: image not known", file=sys.stderr)
            return 125
        image = images[names[0]]
        if "RepoTags" in args[3]:
            print(json.dumps([name for name in names if name != image["id"]]))
        else:
            print(json.dumps(image["labels"]) if "Labels" in args[3] else image["id"])
        return 0
    if args[0] == "build":
        labels = dict(value.split("=", 1) for value in option_values(args, "--label"))
        name = option_values(args, "--tag")[0]
        if name in images:
            images.setdefault(str(images[name]["id"]), images[name])
        images[name] = {"id": f"built-{len(images)}", "labels": labels}
    elif args[0] == "import":
        changes = [c.removeprefix("LABEL ") for c in option_values(args, "--change")]
        labels = {key: json.loads(value) for key, value in (c.split("=", 1) for c in changes)}
        images[args[-1]] = {"id": f"imported-{len(images)}", "labels": labels}
        sys.stdin.buffer.read()
    elif args[0] == "tag":
        images[args[2]] = images[args[1]]
    elif args[:2] == ["image", "rm"]:
        images = {name: image for name, image in images.items() if image["id"] != args[2]}
    else:
        print(f"unexpected: {' '.join(args)}", file=sys.stderr)
        return 99
    save(images)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

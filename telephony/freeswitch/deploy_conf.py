"""Read an administrator's FreeSWITCH configuration as FreeSWITCH reads it, keeping
where every element came from (file and line), so a deploy can name what clashes and
put one include line in the right place.

FreeSWITCH's preprocessor (switch_xml.c `preprocess`) works line by line, and so does
this one: `$${var}` is expanded on every line (a variable never set is kept as
written here: FreeSWITCH computes some itself, such as local_ip_v4); a line holding
`<include>`, `</include>` or `<?` is dropped whole; a line holding an
`<X-PRE-PROCESS cmd=... data=.../>` is that command and nothing else (even inside an
XML comment: the preprocessor knows no comments but its own `<!--#`); `include` takes
a glob relative to the directory of the file it is in. The flattened text is then
parsed once, with each line mapped back to its file.
"""

from __future__ import annotations

import glob
import os
import re
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from telephony.deploy.files import DeployError

ROOT_FILE = "freeswitch.xml"
_COMMAND = re.compile(
    r"<X-PRE-PROCESS\b[^>]*?\bcmd\s*=\s*\"([^\"]*)\"[^>]*?\bdata\s*=\s*\"([^\"]*)\"", re.IGNORECASE)
_VAR = re.compile(r"\$\$\{([^}]*)\}")
_MAX_DEPTH = 100  # FreeSWITCH's own recursion limit


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a line of the flattened configuration was written."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(eq=False, slots=True)
class Node:
    """An element of the flattened configuration, with where it starts and ends."""

    tag: str
    attrs: dict[str, str]
    start: Origin
    end: Origin | None = None
    children: list[Node] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Node {self.tag} {self.attrs} at {self.start}>"

    def find(self, tag: str, **attrs: str) -> Node | None:
        """The first child with this tag (and these attributes), as FreeSWITCH looks."""
        return next(self.iter(tag, **attrs), None)

    def iter(self, tag: str, **attrs: str) -> Iterator[Node]:
        """The children with this tag (and these attributes)."""
        for child in self.children:
            if child.tag == tag and all(child.attrs.get(k) == v for k, v in attrs.items()):
                yield child

    def params(self, container: str = "settings") -> dict[str, str]:
        """`<param name value>` of a child container (first one of a name wins)."""
        holder = self.find(container)
        out: dict[str, str] = {}
        if holder is not None:
            for param in holder.iter("param"):
                out.setdefault(param.attrs.get("name", ""), param.attrs.get("value", ""))
        return out

    def param_node(self, name: str, container: str = "settings") -> Node | None:
        """The `<param>` of that name in a child container, or None."""
        holder = self.find(container)
        if holder is None:
            return None
        return next((p for p in holder.iter("param") if p.attrs.get("name") == name), None)


@dataclass(frozen=True, slots=True)
class OurInclude:
    """An include line already pointing into our folder (a deploy before this one)."""

    path: Path
    origin: Origin


@dataclass(slots=True)
class Tree:
    """A whole configuration: the document, the files read, the include lines into our
    folder, and the variables the preprocessor set."""

    root: Node
    files: list[Path]
    ours: list[OurInclude]
    variables: dict[str, str]
    problems: list[str]

    def section(self, name: str) -> Node | None:
        """A `<section name=...>` of the document (the first, as FreeSWITCH reads it)."""
        return self.root.find("section", name=name)

    def configuration(self, name: str) -> Node | None:
        """A `<configuration name=...>` of the configuration section (the first)."""
        section = self.section("configuration")
        return None if section is None else section.find("configuration", name=name)


class _Flattener:
    def __init__(self, conf_dir: Path, skip: Path | None) -> None:
        self.conf_dir = conf_dir
        self.skip = skip
        self.lines: list[str] = []
        self.origins: list[Origin] = []
        self.files: list[Path] = []
        self.ours: list[OurInclude] = []
        self.variables: dict[str, str] = {}
        self.problems: list[str] = []

    def expand(self, text: str) -> str:
        return _VAR.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)

    def run(self, cwd: Path, path: Path, depth: int) -> None:
        if depth > _MAX_DEPTH:
            self.problems.append(f"{path}: includes nested more than {_MAX_DEPTH} deep")
            return
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{path}: cannot read ({exc})")
            return
        self.files.append(path)
        in_comment = False
        for number, raw in enumerate(text.splitlines(keepends=True), start=1):
            line = self.expand(raw)
            if "<include>" in raw or "</include>" in raw or "<?" in raw:
                continue
            if in_comment:
                end = line.find("-->")
                if end < 0:
                    continue
                in_comment = False
                line = line[end + 3:]
            if re.search(r"<X-pre-process", line, re.IGNORECASE):
                match = _COMMAND.search(line)
                if match is not None:
                    self.command(cwd, path, number, match.group(1), match.group(2), depth)
                continue
            start = line.find("<!--#")
            if start >= 0:
                self.emit(line[:start], path, number)
                rest = line[start + 5:]
                end = rest.find("-->")
                if end >= 0:
                    self.emit(rest[end + 3:], path, number)
                    rest = rest[:end]
                else:
                    in_comment = True
                word, _, arg = rest.strip().partition(" ")
                arg = arg.strip()
                if arg.startswith('"') and '"' in arg[1:]:
                    arg = arg[1:arg.index('"', 1)]
                self.command(cwd, path, number, word, arg, depth)
                continue
            self.emit(line, path, number)

    def emit(self, text: str, path: Path, number: int) -> None:
        # One flattened line per piece, so expat's line numbers map back exactly.
        for piece in text.splitlines():
            self.lines.append(piece)
            self.origins.append(Origin(path, number))

    def command(self, cwd: Path, path: Path, number: int, cmd: str, data: str,
                depth: int) -> None:
        cmd = cmd.lower()
        if cmd == "set":
            name, sep, value = data.partition("=")
            if sep:
                self.variables[name.strip()] = value.strip()
        elif cmd == "include":
            pattern = data if os.path.isabs(data) else str(cwd / data)
            matches = sorted(glob.glob(pattern))
            if not matches and not glob.has_magic(pattern):
                self.problems.append(f"{path}:{number}: includes {data}, which is missing")
            for match in matches:
                found = Path(os.path.normpath(match))
                if self.skip is not None and found.is_relative_to(self.skip):
                    self.ours.append(OurInclude(found, Origin(path, number)))
                    continue
                if found.is_file():
                    self.run(found.parent, found, depth + 1)
        # exec and exec-set run programs: never while reading a configuration here.


def read_tree(conf_dir: Path, *, skip: Path | None = None) -> Tree:
    """Flatten and parse `conf_dir/freeswitch.xml`; includes of files under `skip` (our
    own folder) are recorded, not read. Raises DeployError when it does not parse."""
    top = conf_dir / ROOT_FILE
    if not top.is_file():
        raise DeployError(str(top), "not found: the target must be a FreeSWITCH conf "
                          "directory (the one holding freeswitch.xml)")
    flat = _Flattener(conf_dir, skip)
    flat.run(conf_dir, top, 0)
    root = _parse(flat.lines, flat.origins)
    return Tree(root, flat.files, flat.ours, flat.variables, flat.problems)


def _parse(lines: list[str], origins: list[Origin]) -> Node:
    parser = xml.parsers.expat.ParserCreate()
    document = Node("#document", {}, Origin(Path("."), 0))
    stack = [document]

    def where() -> Origin:
        index = min(parser.CurrentLineNumber, len(origins)) - 1
        return origins[index] if origins else Origin(Path("."), 0)

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, dict(attrs), where())
        stack[-1].children.append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop().end = where()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse("\n".join(lines), True)
    except xml.parsers.expat.ExpatError as exc:
        raise DeployError(str(where()), f"the configuration does not parse as XML "
                          f"({xml.parsers.expat.errors.messages[exc.code]})") from None
    if not document.children:
        raise DeployError(ROOT_FILE, "holds no document")
    return document.children[0]


@dataclass(frozen=True, slots=True)
class Named:
    """A name configured somewhere, and where."""

    name: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Inventory:
    """The names a configuration holds that a deploy could clash with or must keep."""

    profiles: tuple[Named, ...]
    profile_ports: tuple[tuple[Named, str, str], ...]  # (profile, sip-ip, sip-port)
    gateways: tuple[Named, ...]
    contexts: tuple[Named, ...]
    domains: tuple[Named, ...]
    users: tuple[tuple[str, Named], ...]  # (domain, user)
    queues: tuple[Named, ...]
    agents: tuple[Named, ...]
    acls: tuple[Named, ...]
    modules: tuple[str, ...]
    voicemail_profiles: tuple[str, ...]


def inventory(tree: Tree) -> Inventory:
    """Everything by name (see Inventory)."""
    profiles: list[Named] = []
    ports: list[tuple[Named, str, str]] = []
    gateways: list[Named] = []
    sofia = tree.configuration("sofia.conf")
    holder = sofia.find("profiles") if sofia is not None else None
    for profile in holder.iter("profile") if holder is not None else ():
        named = Named(profile.attrs.get("name", ""), profile.start)
        profiles.append(named)
        params = profile.params()
        ports.append((named, params.get("sip-ip", ""), params.get("sip-port", "5060")))
        for gws in profile.iter("gateways"):
            gateways += [Named(g.attrs.get("name", ""), g.start) for g in gws.iter("gateway")]
    contexts: list[Named] = []
    dialplan = tree.section("dialplan")
    for context in dialplan.iter("context") if dialplan is not None else ():
        contexts.append(Named(context.attrs.get("name", ""), context.start))
    domains: list[Named] = []
    users: list[tuple[str, Named]] = []
    directory = tree.section("directory")
    for domain in directory.iter("domain") if directory is not None else ():
        name = domain.attrs.get("name", "")
        domains.append(Named(name, domain.start))
        users += [(name, Named(u.attrs.get("id", ""), u.start)) for u in _users(domain)]
    queues: list[Named] = []
    agents: list[Named] = []
    center = tree.configuration("callcenter.conf")
    if center is not None:
        for holder_name, tag, out in (("queues", "queue", queues), ("agents", "agent", agents)):
            box = center.find(holder_name)
            out += [Named(n.attrs.get("name", ""), n.start)
                    for n in (box.iter(tag) if box is not None else ())]
    acls: list[Named] = []
    acl = tree.configuration("acl.conf")
    lists = acl.find("network-lists") if acl is not None else None
    acls += [Named(n.attrs.get("name", ""), n.start)
             for n in (lists.iter("list") if lists is not None else ())]
    modules: list[str] = []
    conf = tree.configuration("modules.conf")
    loads = conf.find("modules") if conf is not None else None
    modules += [n.attrs.get("module", "") for n in (loads.iter("load") if loads else ())]
    voicemail: list[str] = []
    vm = tree.configuration("voicemail.conf")
    vm_profiles = vm.find("profiles") if vm is not None else None
    voicemail += [n.attrs.get("name", "") for n in (vm_profiles.iter("profile")
                                                    if vm_profiles is not None else ())]
    return Inventory(tuple(profiles), tuple(ports), tuple(gateways), tuple(contexts),
                     tuple(domains), tuple(users), tuple(queues), tuple(agents), tuple(acls),
                     tuple(modules), tuple(voicemail))


def _users(domain: Node) -> Iterator[Node]:
    # Users sit under <users> or <groups><group><users>; pointers (type="pointer")
    # repeat a user into a group and are no user of their own.
    for users in domain.iter("users"):
        yield from (u for u in users.iter("user") if u.attrs.get("type") != "pointer")
    for groups in domain.iter("groups"):
        for group in groups.iter("group"):
            for users in group.iter("users"):
                yield from (u for u in users.iter("user") if u.attrs.get("type") != "pointer")

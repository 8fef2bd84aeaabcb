"""YAML read safely, with the source position of every key and value.

The one home of ``yaml``. Values come out as plain Python (dict, list, str,
int, float, bool, None); positions come out in a ``SourceMap`` keyed by the
path of each value (``("shots", 2, "duration")``). Duplicate keys, several
documents, binary or non-UTF-8 input and empty files are errors here, located
where they happen.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from shotlist import files
from shotlist.errors import Problem, StoryboardError

Path_ = tuple[str | int, ...]
_PLAIN_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
# libyaml's parser when PyYAML was built with it (several times faster); the same safe schema.
_BOOL = "tag:yaml.org,2002:bool"


def _yaml12_booleans(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``base`` reading booleans as YAML 1.2 does: only true/false, not yes/no/on/off.
    Editors and JSON Schema tools read YAML 1.2, so ``validate`` must agree with them
    (``generate_audio: yes`` is text to them, and so it is an error here too)."""
    resolvers = {
        first: [(tag, regexp) for tag, regexp in entries if tag != _BOOL]
        for first, entries in base.yaml_implicit_resolvers.items()
    }
    loader = cast(
        "type[yaml.SafeLoader]",
        type(f"Yaml12{base.__name__}", (base,), {"yaml_implicit_resolvers": resolvers}),
    )
    loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return loader


_PURE_LOADER = _yaml12_booleans(yaml.SafeLoader)
_LOADER = _yaml12_booleans(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
MAX_NODES = 200_000  # aliases can multiply a small file into a huge one ("billion laughs")
MAX_FILE_BYTES = 10_000_000
MAX_DEPTH = 100  # nesting of lists and mappings: the parsers recurse once per level


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


@dataclass(frozen=True, order=True)
class Pos:
    """A 1-based line and column in a file."""

    file: str
    line: int
    column: int


@dataclass
class SourceMap:
    """Where each value (``values``) and each mapping key (``keys``) was written."""

    values: dict[Path_, Pos] = field(default_factory=dict)
    keys: dict[Path_, Pos] = field(default_factory=dict)

    def value(self, path: Path_) -> Pos | None:
        """The position of the value at ``path``, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            pos = self.values.get(path[:end])
            if pos is not None:
                return pos
        return None

    def key(self, path: Path_) -> Pos | None:
        """The position of the key that names ``path``, else of its value."""
        return self.keys.get(path) or self.value(path)

    def graft(self, other: SourceMap, source: Path_, target: Path_) -> None:
        """Copy ``other``'s positions under ``source`` to live under ``target`` here."""
        n = len(source)
        for table_from, table_to in ((other.values, self.values), (other.keys, self.keys)):
            for path in other.under(table_from, source):
                pos = table_from.get(path)
                if pos is not None:
                    table_to[target + path[n:]] = pos

    def under(self, table: dict[Path_, Pos], prefix: Path_) -> list[Path_]:
        """The paths of ``table`` that start with ``prefix``.

        Indexed by prefix so that grafting every shot of a 500-shot storyboard stays
        linear; the index is rebuilt whenever the table has grown since.
        """
        n = len(prefix)
        cache = self.__dict__.setdefault("_index", {})
        key = (id(table), n)
        size, index = cache.get(key, (-1, None))
        if size != len(table) or index is None:
            index = {}
            for path in table:
                if len(path) >= n:
                    index.setdefault(path[:n], []).append(path)
            cache[key] = (len(table), index)
        return list(index.get(prefix, ()))


def _read_regular(path: Path, label: str) -> bytes:
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise StoryboardError.one(label, 0, 0, "", "is a directory, not a storyboard file")
    if not stat.S_ISREG(info.st_mode):
        kind = _special_kind(info.st_mode)
        raise StoryboardError.one(label, 0, 0, "", f"is {kind}, not a regular file; a storyboard is a file")
    if info.st_size > MAX_FILE_BYTES:
        raise StoryboardError.one(
            label,
            0,
            0,
            "",
            f"is {info.st_size / 1e6:.1f} MB; a storyboard holds at most {MAX_FILE_BYTES // 10**6} MB",
        )
    with path.open("rb") as handle:
        return handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since the stat


def read_text(path: Path, label: str) -> str:
    """The file's text, or a StoryboardError saying why it is not a text storyboard.

    Only a regular file of at most ``MAX_FILE_BYTES`` is read: a FIFO would block
    forever and ``/dev/zero`` would fill the memory.
    """
    try:
        # A revision read from git (plan --against) is already bounded by git's own objects.
        data = files.read_project_bytes(path) if files.in_view() else _read_regular(path, label)
    except FileNotFoundError:
        raise StoryboardError.one(label, 0, 0, "", "file not found") from None
    except (NotADirectoryError, ValueError):  # a path through a file, a NUL in the name
        raise StoryboardError.one(label, 0, 0, "", "file not found") from None
    except OSError as exc:
        raise StoryboardError.one(label, 0, 0, "", f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise StoryboardError.one(
            label, 0, 0, "", f"is larger than {MAX_FILE_BYTES // 1_000_000} MB; a storyboard file is smaller"
        )
    if b"\x00" in data[:8192]:
        raise StoryboardError.one(label, 0, 0, "", "is a binary file, not a YAML storyboard")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise StoryboardError.one(
            label,
            line,
            column,
            "",
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
        ) from None


def _compose(text: str) -> list[yaml.Node]:
    """Compose with libyaml for speed; on a syntax error, compose again with the pure-Python
    parser, whose messages (and the ones we word from them) are the clearer ones."""
    try:
        return list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.YAMLError:
        if _LOADER.__mro__[1] is yaml.SafeLoader:
            raise
    return list(yaml.compose_all(text, Loader=_PURE_LOADER))


def load_yaml(text: str, label: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain values and their positions.

    Returns ``(None, map)`` for a document with no content.
    """
    try:
        nodes = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise StoryboardError([_syntax_problem(exc, label)]) from None
    except yaml.YAMLError as exc:
        raise StoryboardError.one(label, 0, 0, "", f"invalid YAML: {exc}") from None
    except RecursionError:
        # The parsers recurse once per level of nesting: thousands of "[" exhaust the stack.
        raise StoryboardError.one(
            label,
            0,
            0,
            "",
            f"invalid YAML: nested too deeply (at most {MAX_DEPTH} levels of lists and mappings)",
        ) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, SourceMap()
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise StoryboardError.one(
            label,
            second.line + 1,
            second.column + 1,
            "",
            f"holds {len(nodes)} YAML documents; a storyboard is one document",
        )
    builder = _Builder(label)
    value = builder.build(nodes[0], ())
    if builder.problems:
        raise StoryboardError(builder.problems)
    return value, builder.source


_UNCLOSED = {
    "quoted scalar": "a quoted string",
    "flow sequence": "a [ list",
    "flow mapping": "a { mapping",
}


def _syntax_problem(exc: yaml.MarkedYAMLError, label: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    reason = exc.problem or exc.context or "invalid YAML"
    if "'\\t'" in reason:
        reason = "a tab character; YAML is indented with spaces"
    elif ("end of stream" in reason or "<stream end>" in reason) and exc.context and exc.context_mark:
        # An unclosed quote or bracket: where it opened, not the end of the file, is the news.
        what = exc.context.removeprefix("while scanning a ").removeprefix("while parsing a ")
        mark, reason = exc.context_mark, f"{_UNCLOSED.get(what, 'a ' + what)} that is never closed"
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    return Problem(label, line, col, "", f"invalid YAML: {reason}")


class _Builder:
    """Turns a composed node tree into values, recording positions and duplicate keys."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.source = SourceMap()
        self.problems: list[Problem] = []
        self.count = 0
        self.open: set[int] = set()  # ids of the collections being built: an alias to one loops
        self.constructor = yaml.SafeLoader("")

    def pos(self, node: yaml.Node) -> Pos:
        return Pos(self.label, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            # Aliases share nodes, so the node itself may sit anywhere: name the field that grew.
            pos = self.source.values.get(path[:1]) or self.pos(node)
            raise StoryboardError.one(
                self.label,
                pos.line,
                pos.column,
                field_path(path[:1]),
                "too many values (aliases expand too far)",
            )
        self.source.values[path] = self.pos(node)
        if len(path) > MAX_DEPTH:
            pos = self.pos(node)
            raise StoryboardError.one(
                self.label,
                pos.line,
                pos.column,
                field_path(path[:3]),
                f"nested too deeply (at most {MAX_DEPTH} levels of lists and mappings)",
            )
        if id(node) in self.open:
            pos = self.pos(node)
            raise StoryboardError.one(
                self.label,
                pos.line,
                pos.column,
                field_path(path[:-1]),
                "an alias that contains itself (it would never end)",
            )
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTIONS:
            pos = self.pos(node)  # e.g. !!python/object/apply on a list: never constructed, but refused
            raise StoryboardError.one(
                self.label,
                pos.line,
                pos.column,
                "",
                f"invalid YAML value: could not determine a constructor for the tag {node.tag!r}",
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def scalar(self, node: yaml.Node) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            pos = self.pos(node)
            raise StoryboardError.one(
                self.label, pos.line, pos.column, "", f"invalid YAML value: {exc.problem}"
            ) from None
        # Dates and binary blobs are not part of the format; keep what was written.
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(node.value)
        return value

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged |= self.merge(value_node, path, result)
                continue
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
                pos = self.pos(key_node)
                self.problems.append(
                    Problem(self.label, pos.line, pos.column, "", "a key must be plain text")
                )
                continue
            # Paths hold text and list indexes; a number or boolean key is named by its text.
            here = (*path, key if isinstance(key, str | int) and not isinstance(key, bool) else str(key))
            if key in merged:
                merged.discard(key)
            elif key in result:
                pos = self.pos(key_node)
                first = self.source.keys[here]
                self.problems.append(
                    Problem(
                        self.label,
                        pos.line,
                        pos.column,
                        field_path(here),
                        f'duplicate key "{key}" (first given on line {first.line})',
                    )
                )
                continue
            self.source.keys[here] = self.pos(key_node)
            result[key] = self.build(value_node, here)
        return result

    def merge(self, value_node: yaml.Node, path: Path_, result: dict[Any, Any]) -> set[Any]:
        """YAML merge keys (``<<: *base``): explicit keys win, as the YAML spec says."""
        added: set[Any] = set()
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                pos = self.pos(source)
                self.problems.append(Problem(self.label, pos.line, pos.column, "", "<< must merge a mapping"))
                continue
            if id(source) in self.open:
                pos = self.pos(source)
                raise StoryboardError.one(
                    self.label, pos.line, pos.column, field_path(path), "an alias that contains itself"
                )
            merged = self.mapping(source, path)
            for key, value in merged.items():
                if key not in result:
                    result[key] = value
                    added.add(key)
        return added


def field_path(path: Path_) -> str:
    """``("shots", 2, "camera", "move")`` -> ``shots[2].camera.move``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_plain(text: str) -> Any:
    """A YAML document as plain values, without positions or checks (for reading what a
    possibly broken storyboard names). Raises ``ValueError`` for text that is not YAML."""
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader: plain values only
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None

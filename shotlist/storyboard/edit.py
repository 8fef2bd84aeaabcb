"""Editing a storyboard in place (``shotlist pick``): the one home of ruamel.yaml.

ruamel.yaml's round-trip parser finds the shot's own entry and where its keys and
values were written; the edit itself is a splice of that one value (or one new
line), so comments, key order, quoting and layout stay exactly as the author left
them. A shot made by an ``each:`` loop, or whose id is computed, has no single
place to write: that is refused with what to write by hand.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shotlist import files
from shotlist.errors import Problem, StoryboardError
from shotlist.storyboard.expand import TemplateProblem, render_string
from shotlist.storyboard.loader import LoadedStoryboard
from shotlist.suggest import suggest

_INT = re.compile(r"[0-9]+")


def set_pick(loaded: LoadedStoryboard, shot_id: str, take: int) -> Path:
    """Write ``pick: take`` into the entry of ``shot_id``; returns the file edited.

    Raises StoryboardError (located at the shot) for an unknown shot, a take out of
    range, or a shot with no single place to write.
    """
    index = shot_index(loaded, shot_id)
    shot = loaded.storyboard.shots[index]
    takes = shot.takes or loaded.storyboard.defaults.takes or 1
    if not 1 <= take <= takes:
        raise _problem(
            loaded,
            index,
            f"take {take} is out of range: shot {shot_id!r} has {takes} take{'s' if takes != 1 else ''} "
            f"(1 to {takes}); raise its takes to render more",
        )
    pos = loaded.position(("shots", index))
    path = Path(pos.file)
    text = path.read_text(encoding="utf-8")
    entry = _find_entry(_load(text), pos.line - 1, pos.column - 1)
    if entry is None:
        raise _problem(loaded, index, "cannot find this shot's entry in its file to edit; set pick by hand")
    if "each" in entry:
        raise _problem(loaded, index, _loop_message(loaded, entry, shot_id, take))
    if "{{" in str(entry.get("id", "")):
        raise _problem(
            loaded,
            index,
            f"this shot's id is computed, so pick cannot be written for it alone; write pick: {take}",
        )
    edited = _with_pick(text, entry, take)
    if edited != text:
        files.write_text(path, edited)
    return path


def shot_index(loaded: LoadedStoryboard, shot_id: str) -> int:
    """The index of ``shot_id``; an unknown id is an error with a suggestion."""
    ids = [shot.id for shot in loaded.storyboard.shots]
    if shot_id in ids:
        return ids.index(shot_id)
    hint = suggest(shot_id, ids)
    extra = f'; did you mean "{hint}"?' if hint else f"; shots: {', '.join(ids)}"
    raise StoryboardError([Problem(loaded.label, 0, 0, "", f'no shot "{shot_id}"{extra}')])


def _problem(loaded: LoadedStoryboard, index: int, message: str) -> StoryboardError:
    return StoryboardError([loaded.problem(("shots", index), message)])


def _load(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="rt").load(text)


def _find_entry(node: Any, line: int, column: int) -> Any:
    """The mapping that starts at (line, column) (0-based), searched through the document."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        if (node.lc.line, node.lc.col) == (line, column):
            return node
        children = list(node.values())
    elif isinstance(node, CommentedSeq):
        children = list(node)
    else:
        return None
    for child in children:
        found = _find_entry(child, line, column)
        if found is not None:
            return found
    return None


def _with_pick(text: str, entry: Any, take: int) -> str:
    """``text`` with ``pick: take`` in ``entry``: the old value replaced, else a new key."""
    lines = text.splitlines(keepends=True)
    if "pick" in entry:
        line, column = entry.lc.value("pick")
        match = _INT.match(lines[line], column)
        if match is None:
            raise ValueError("pick is not written as a number")
        lines[line] = lines[line][: match.start()] + str(take) + lines[line][match.end() :]
        return "".join(lines)
    if entry.fa.flow_style():
        # A one-line mapping such as {id: a, prompt: b}: the new key goes first inside it.
        line, column = entry.lc.line, entry.lc.col
        brace = lines[line].index("{", column) + 1
        lines[line] = lines[line][:brace] + f"pick: {take}, " + lines[line][brace:].lstrip(" ")
        return "".join(lines)
    anchor = "takes" if _scalar_on_key_line(entry, "takes") else "id"
    line, column = entry.lc.key(anchor)
    ending = "\r\n" if lines[line].endswith("\r\n") else "\n"
    if not lines[line].endswith(("\n", "\r")):
        lines[line] += ending
    lines.insert(line + 1, " " * column + f"pick: {take}{ending}")
    return "".join(lines)


def _scalar_on_key_line(entry: Any, key: str) -> bool:
    if key not in entry or isinstance(entry[key], dict | list):
        return False
    return bool(entry.lc.key(key)[0] == entry.lc.value(key)[0])


def _loop_message(loaded: LoadedStoryboard, entry: Any, shot_id: str, take: int) -> str:
    """Why a looped shot cannot be edited, and the line that would pick ``take`` for it alone."""
    each = entry.get("each")
    condition = _loop_condition(loaded, entry, each, shot_id) if isinstance(each, Mapping) else None
    example = (
        f'pick: "{{{{ {take} if {condition} else 1 }}}}"'
        if condition
        else f"pick: {take} in a shot of its own"
    )
    return (
        f"shot {shot_id!r} comes from an each: loop, so no single line holds its pick; "
        f"write it by hand in that entry, e.g. {example}"
    )


def _loop_condition(
    loaded: LoadedStoryboard, entry: Any, each: Mapping[str, Any], shot_id: str
) -> str | None:
    """A Jinja2 test true for exactly the loop values that make ``shot_id``."""
    names = list(each)
    values = [list(v) if isinstance(v, list) else [] for v in each.values()]
    for combination in itertools.product(*values):
        context = {**loaded.vars, **dict(zip(names, combination, strict=True))}
        try:
            rendered = render_string(str(entry.get("id", "")), context, keep_type=False)
        except TemplateProblem:
            return None
        if rendered == shot_id:
            return " and ".join(
                f"{name} == {value!r}" for name, value in zip(names, combination, strict=True)
            )
    return None

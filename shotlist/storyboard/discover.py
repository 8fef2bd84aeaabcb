"""Telling storyboards and include parts from other YAML, for hooks that are handed every file.

A pre-commit hook receives every changed ``*.yaml``: CI workflows, compose files,
include parts. ``file_kind`` recognises a file without validating it, so that a
broken storyboard is still recognised (and then fails ``validate``):

* by its yaml-language-server modeline naming ``storyboard.schema.json`` or
  ``part.schema.json``, which wins;
* else by its top-level keys: ``version`` with any other storyboard field is a
  storyboard; only ``include``, ``shots`` and ``templates`` (with shots or
  templates among them) is a part; anything else is not ours.

A part only means something inside the storyboards that include it (its shots
may use their templates), so ``check_targets`` checks a part by validating the
storyboards in its folder and above that include it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shotlist.errors import StoryboardError
from shotlist.storyboard.model import Storyboard
from shotlist.storyboard.schema import PART_KEYS
from shotlist.storyboard.source import load_yaml, read_text

Kind = Literal["storyboard", "part"]
YAML_SUFFIXES = (".yaml", ".yml")
_MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=\S*?(?P<kind>storyboard|part)\.schema\.json")
# A top-level key: at the start of a line, plain or quoted, before a colon.
_TOP_KEY = re.compile(r"""^["']?(?P<key>[A-Za-z_][A-Za-z0-9_]*)["']?\s*:(?:\s|$)""", re.MULTILINE)
_STORYBOARD_FIELDS = frozenset(Storyboard.model_fields) - {"version"}
_MODELINE_LINES = 5


@dataclass(frozen=True)
class Targets:
    """What to validate for a list of files: storyboards, and parts nothing includes."""

    storyboards: tuple[Path, ...]
    lone_parts: tuple[Path, ...]
    skipped: tuple[Path, ...]


def file_kind(path: Path) -> Kind | None:
    """``"storyboard"``, ``"part"`` or ``None`` for a file that is neither (or unreadable)."""
    try:
        text = read_text(path, str(path))
    except StoryboardError:
        return None
    for line in text.splitlines()[:_MODELINE_LINES]:
        match = _MODELINE.match(line)
        if match:
            return "storyboard" if match.group("kind") == "storyboard" else "part"
    keys = {m.group("key") for m in _TOP_KEY.finditer(text)}
    if "version" in keys and keys & _STORYBOARD_FIELDS:
        return "storyboard"
    if keys and keys <= set(PART_KEYS) and keys & {"shots", "templates"}:
        return "part"
    return None


def check_targets(files: list[Path], *, top: Path) -> Targets:
    """Sort ``files`` into storyboards to validate and files to skip; a part brings in the
    storyboards (in its folder or above, up to ``top``) that include it."""
    storyboards: list[Path] = []
    lone: list[Path] = []
    skipped: list[Path] = []
    for file in files:
        kind = file_kind(file)
        if kind == "storyboard":
            storyboards.append(file)
        elif kind == "part":
            owners = including_storyboards(file, top=top)
            storyboards.extend(owners)
            if not owners:
                lone.append(file)
        else:
            skipped.append(file)
    return Targets(tuple(dict.fromkeys(storyboards)), tuple(lone), tuple(skipped))


def including_storyboards(part: Path, *, top: Path) -> list[Path]:
    """The storyboards in ``part``'s folder and its parents (up to ``top``) whose includes,
    followed through other parts, reach ``part``; relative to the working folder when inside it."""
    target = part.resolve()
    found = []
    for folder in _folders_up(target.parent, top.resolve()):
        for candidate in sorted(p for p in folder.iterdir() if p.suffix in YAML_SUFFIXES):
            is_storyboard = candidate != target and file_kind(candidate) == "storyboard"
            if is_storyboard and target in _included(candidate, set()):
                found.append(_shown(candidate))
    return found


def _folders_up(folder: Path, top: Path) -> list[Path]:
    """``folder`` and its parents up to ``top``; only ``folder`` when it is outside ``top``."""
    if not folder.is_relative_to(top):
        return [folder]
    return [folder, *(p for p in folder.parents if p.is_relative_to(top))]


def _shown(path: Path) -> Path:
    cwd = Path.cwd()
    return path.relative_to(cwd) if path.is_relative_to(cwd) else path


def _included(path: Path, seen: set[Path]) -> set[Path]:
    """Every file ``path`` includes, directly or through other parts (YAML read only)."""
    if path in seen:
        return set()
    seen.add(path)
    try:
        document, _ = load_yaml(read_text(path, str(path)), str(path))
    except StoryboardError:
        return set()
    raw = document.get("include") if isinstance(document, dict) else None
    out: set[Path] = set()
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            child = (path.parent / item).resolve()
            out |= {child, *_included(child, seen)}
    return out

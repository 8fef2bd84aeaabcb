"""Loading a storyboard: read, parse, include, expand, validate.

The one home of the translation from pydantic's validation errors into
storyboard errors: each problem becomes one line naming file:line:column,
the field path (``shots[2].camera.move``) and what would be valid, with a
"did you mean" where one is near. All problems of a file are reported
together, in line order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from shotlist.errors import Problem, StoryboardError
from shotlist.storyboard.expand import Expanded, Expander, Layer
from shotlist.storyboard.model import EXPECTED, SHOT_ID_PATTERN, Shot, Storyboard, Template
from shotlist.storyboard.source import Path_, Pos, SourceMap, field_path, load_yaml, read_text
from shotlist.suggest import suggest

SUPPORTED_VERSION = 1
INCLUDE_KEYS = ("include", "shots", "templates")
# Names that Windows reserves for devices: unusable as file names anywhere a cut may travel.
RESERVED_IDS = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
_CONTAINERS = {
    "camera": "Camera",
    "trim": "Trim",
    "transition": "Transition",
    "soundtrack": "Soundtrack",
    "cut": "Cut",
    "first_frame": "FrameOf",
    "last_frame": "FrameOf",
}


@dataclass(frozen=True)
class LoadedStoryboard:
    """A valid storyboard with everything needed to point back into its source."""

    path: Path
    label: str
    storyboard: Storyboard
    source: SourceMap
    shot_labels: tuple[str, ...]
    vars: Mapping[str, object]
    includes: tuple[Path, ...] = ()
    """Every file included, at any depth (resolved paths)."""

    @property
    def folder(self) -> Path:
        return self.path.parent

    def position(self, path: Path_) -> Pos:
        return self.source.value(path) or Pos(self.label, 0, 0)

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem located at ``path`` of the expanded document (``("shots", 3, "prompt")``)."""
        pos = self.position(path)
        return Problem(pos.file, pos.line, pos.column, self.label_of(path), message)

    def label_of(self, path: Path_) -> str:
        if len(path) >= 2 and path[0] == "shots" and isinstance(path[1], int):
            return self.shot_labels[path[1]] + field_path(("x", *path[2:]))[1:]
        return field_path(path)


def parse_var_overrides(pairs: list[str]) -> dict[str, Any]:
    """``--var KEY=VALUE`` pairs; VALUE is read as a YAML scalar (``3`` is a number)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise StoryboardError.one(
                "--var", 0, 0, "", f"expected KEY=VALUE with KEY a variable name, got {pair!r}"
            )
        out[key] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    try:
        value, _ = load_yaml(text, "--var")
    except StoryboardError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def load_storyboard(path: Path, *, overrides: Mapping[str, object] | None = None) -> LoadedStoryboard:
    """Load, expand and validate the storyboard at ``path``. Raises StoryboardError."""
    label = str(path)
    document, source = load_yaml(read_text(path, label), label)
    check_document(document, source, label)
    assert isinstance(document, dict)
    root = path.resolve().parent
    problems: list[Problem] = []
    included: dict[Path, Pos] = {}
    templates, shots = collect_parts(
        document, source, path.resolve(), root, label, problems, seen=(), included=included
    )
    expander = Expander(document, source, overrides or {}, templates, shots)
    expanded = expander.run()
    problems += expanded.problems
    problems += validate_templates(templates)
    if isinstance(document.get("templates", {}), dict):  # else the models say what templates must be
        expanded.document["templates"] = {
            name: _untemplated(layer.values)
            for name, layer in templates.items()
            if isinstance(layer.values, dict)
        }
    else:
        expanded.document["templates"] = document["templates"]
    storyboard = None
    try:
        storyboard = Storyboard.model_validate(expanded.document)
    except pydantic.ValidationError as exc:
        problems += _explained_elsewhere(translate(exc, expanded), expanded.problems, dropped=bool(shots))
    problems += check_shot_ids(expanded) + check_shot_prompts(expanded)
    if problems:
        raise StoryboardError(_dedupe(problems))
    assert storyboard is not None
    return LoadedStoryboard(
        path=path.resolve(),
        label=label,
        storyboard=storyboard,
        source=expanded.source,
        shot_labels=tuple(expanded.shot_labels),
        vars=dict(expander.vars),
        includes=tuple(included),
    )


def check_part(path: Path) -> None:
    """An include part no storyboard includes, checked as far as it can be on its own: its
    YAML, its fields and its templates (its shots may use templates it does not hold).
    Raises StoryboardError."""
    label = str(path)
    folder = path.resolve().parent
    problems: list[Problem] = []
    holder = {"include": [path.name]}  # a stand-in for the storyboard that would include it
    templates, _ = collect_parts(
        holder, SourceMap(), folder / ".holder.yaml", folder, str(Path(label).parent / "_"), problems, ()
    )
    problems += validate_templates(templates)
    if problems:
        raise StoryboardError(_dedupe(problems))


def _explained_elsewhere(found: list[Problem], expansion: list[Problem], *, dropped: bool) -> list[Problem]:
    """The models' complaints, less those an expansion problem already explains: a value
    whose template failed (it is still the raw text), and an empty shot list when every
    shot written failed to expand."""
    places = {(p.file, p.line, p.column) for p in expansion}
    return [
        p
        for p in found
        if (p.file, p.line, p.column) not in places
        and not (dropped and expansion and p.field == "shots" and "empty list" in p.message)
    ]


def check_document(document: Any, source: SourceMap, label: str) -> None:
    """The checks that make every later message meaningful: a mapping, of a version we read."""
    if document is None:
        raise StoryboardError.one(
            label, 0, 0, "", 'file is empty; a storyboard needs "version: 1" and a list of shots'
        )
    if not isinstance(document, dict):
        pos = source.value(()) or Pos(label, 1, 1)
        raise StoryboardError.one(
            label,
            pos.line,
            pos.column,
            "",
            f"expected a mapping of storyboard fields (version, shots, ...), got {describe(document)}",
        )
    if "version" not in document:
        raise StoryboardError.one(
            label, 1, 1, "", 'required field "version" is missing; add "version: 1" at the top'
        )
    version = document["version"]
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        pos = source.value(("version",)) or Pos(label, 1, 1)
        raise StoryboardError.one(
            label,
            pos.line,
            pos.column,
            "version",
            f"unsupported format version {describe(version)}; "
            f"this shotlist reads version {SUPPORTED_VERSION}",
        )


# -- includes ----------------------------------------------------------------------------------


def collect_parts(
    document: dict[str, Any],
    source: SourceMap,
    path: Path,
    root: Path,
    label: str,
    problems: list[Problem],
    seen: tuple[Path, ...],
    included: dict[Path, Pos] | None = None,
) -> tuple[dict[str, Layer], list[Layer]]:
    """Templates and shots of ``document`` and of every file it includes.

    Included shots come first, in include order, then the document's own. Paths
    are relative to the including file and confined to the storyboard's folder.
    """
    templates: dict[str, Layer] = {}
    shots: list[Layer] = []
    included = {} if included is None else included
    for index, (child_doc, child_source, child_path, child_label) in enumerate(
        load_includes(document, source, path, root, label, problems, seen, included)
    ):
        child_templates, child_shots = collect_parts(
            child_doc, child_source, child_path, root, child_label, problems, (*seen, path), included
        )
        _add_templates(templates, child_templates, problems)
        shots += child_shots
        del index
    raw_templates = document.get("templates")
    if isinstance(raw_templates, dict):
        own = {name: Layer(value, source, ("templates", name)) for name, value in raw_templates.items()}
        _add_templates(templates, own, problems)
    raw_shots = document.get("shots")
    if isinstance(raw_shots, list):
        shots += [Layer(value, source, ("shots", i)) for i, value in enumerate(raw_shots)]
    elif "shots" in document and seen:  # an included file's; the models check the storyboard's own
        pos = source.value(("shots",)) or Pos(label, 0, 0)
        problems.append(
            Problem(
                pos.file,
                pos.line,
                pos.column,
                "shots",
                f"expected a list of shots, got {describe(raw_shots)}",
            )
        )
    return templates, shots


def _add_templates(into: dict[str, Layer], new: dict[str, Layer], problems: list[Problem]) -> None:
    for name, layer in new.items():
        if name in into:
            pos = layer.source.key(layer.path) or Pos("", 0, 0)
            first = into[name].source.key(into[name].path) or Pos("", 0, 0)
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    field_path(layer.path),
                    f'template "{name}" is already defined ({first.file}:{first.line})',
                )
            )
            continue
        into[name] = layer


def load_includes(
    document: dict[str, Any],
    source: SourceMap,
    path: Path,
    root: Path,
    label: str,
    problems: list[Problem],
    seen: tuple[Path, ...],
    included: dict[Path, Pos] | None = None,
) -> list[tuple[dict[str, Any], SourceMap, Path, str]]:
    raw = document.get("include")
    if raw is None:
        return []
    if not isinstance(raw, list):
        return []  # the model reports the wrong type
    out = []
    for i, item in enumerate(raw):
        pos = source.value(("include", i)) or Pos(label, 0, 0)
        if not isinstance(item, str):
            continue
        child = (path.parent / item).resolve()
        if not child.is_relative_to(root):
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    f"include[{i}]",
                    f'"{item}" is outside the storyboard\'s folder',
                )
            )
            continue
        if child == path or child in seen:
            problems.append(
                Problem(pos.file, pos.line, pos.column, f"include[{i}]", f'"{item}" includes itself')
            )
            continue
        if included is not None and child in included:
            # Its shots and templates would all clash with themselves, and the errors would
            # point into the part, which is not where the mistake is: this line is.
            first = included[child]
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    f"include[{i}]",
                    f'"{item}" is already included ({first.file}:{first.line}); include a file once',
                )
            )
            continue
        if included is not None:
            included[child] = pos
        child_label = str(Path(label).parent / item) if not Path(item).is_absolute() else item
        try:
            child_doc, child_source = load_yaml(read_text(child, child_label), child_label)
        except StoryboardError as exc:
            if exc.problems and exc.problems[0].message == "file not found":
                problems.append(
                    Problem(pos.file, pos.line, pos.column, f"include[{i}]", f'"{item}" not found')
                )
            else:
                problems += exc.problems
            continue
        if not isinstance(child_doc, dict):
            problems.append(
                Problem(
                    child_label,
                    1,
                    1,
                    "",
                    f"an included file must be a mapping of {', '.join(INCLUDE_KEYS)}",
                )
            )
            continue
        for key in child_doc:
            if key not in INCLUDE_KEYS:
                kpos = child_source.key((key,)) or Pos(child_label, 0, 0)
                hint = suggest(str(key), INCLUDE_KEYS)
                extra = (
                    f'; did you mean "{hint}"?'
                    if hint
                    else f"; an included file holds {', '.join(INCLUDE_KEYS)}"
                )
                problems.append(Problem(kpos.file, kpos.line, kpos.column, str(key), "unknown field" + extra))
        out.append((child_doc, child_source, child, child_label))
    return out


# -- validation --------------------------------------------------------------------------------


def validate_templates(templates: Mapping[str, Layer]) -> list[Problem]:
    """Templates are partial shots; check the fields they set (templated values are checked per shot)."""
    problems: list[Problem] = []
    for name, layer in templates.items():
        if not isinstance(layer.values, dict):
            pos = layer.source.value(layer.path) or Pos("", 0, 0)
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    f"templates.{name}",
                    f"expected a mapping of shot fields, got {describe(layer.values)}",
                )
            )
            continue
        values = _untemplated(layer.values)
        try:
            Template.model_validate(values)
        except pydantic.ValidationError as exc:
            fake = Expanded({}, SourceMap(), [], [])
            fake.source.graft(layer.source, layer.path, ())
            for err in exc.errors():
                problems += translate_one(err, fake, prefix=("templates", name))
    return problems


def _untemplated(values: Any) -> Any:
    """A template as the models can check it: without the fields expansion consumes and
    without values that only mean something once a shot renders them."""
    if not isinstance(values, dict):
        return values
    return {k: v for k, v in values.items() if k not in ("each", "vars", "id") and not _templated(v)}


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def check_shot_ids(expanded: Expanded) -> list[Problem]:
    """Ids unique (ignoring case, as on macOS and Windows file systems) and usable as file names."""
    problems = []
    seen: dict[str, tuple[str, Pos]] = {}
    shots = expanded.document.get("shots")
    for index, shot in enumerate(shots if isinstance(shots, list) else []):
        shot_id = shot.get("id") if isinstance(shot, dict) else None
        if not isinstance(shot_id, str) or not re.match(SHOT_ID_PATTERN, shot_id):
            continue  # the models say what is wrong with it
        pos = expanded.source.value(("shots", index, "id")) or Pos("", 0, 0)
        label = expanded.shot_labels[index] + ".id"
        folded = shot_id.lower()
        if folded.split(".")[0] in RESERVED_IDS or shot_id.endswith("."):
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    label,
                    f'"{shot_id}" is not safe as a file name on every system; choose another id',
                )
            )
        if folded not in seen:
            seen[folded] = (shot_id, pos)
            continue
        first, first_pos = seen[folded]
        where = (
            f"line {first_pos.line}" if first_pos.file == pos.file else f"{first_pos.file}:{first_pos.line}"
        )
        if first == shot_id:
            message = f'duplicate shot id "{shot_id}" (first used on {where}); ids must be unique'
        else:
            message = (
                f'shot id "{shot_id}" differs only in case from "{first}" ({where}); '
                "ids must be unique ignoring case"
            )
        problems.append(Problem(pos.file, pos.line, pos.column, label, message))
    return problems


def check_shot_prompts(expanded: Expanded) -> list[Problem]:
    """Every shot says what happens in it: a prompt, or segments (each with its own prompt)."""
    problems = []
    shots = expanded.document.get("shots")
    for index, shot in enumerate(shots if isinstance(shots, list) else []):
        if isinstance(shot, dict) and "prompt" not in shot and "segments" not in shot:
            pos = expanded.source.value(("shots", index)) or Pos("", 0, 0)
            label = expanded.shot_labels[index]
            message = 'required field "prompt" is missing'
            problems.append(Problem(pos.file, pos.line, pos.column, label, message))
    return problems


def translate(exc: pydantic.ValidationError, expanded: Expanded) -> list[Problem]:
    errors = exc.errors()
    cleaned = [_clean_loc(e["loc"]) for e in errors]
    problems: list[Problem] = []
    done: set[Path_] = set()
    for err, loc in zip(errors, cleaned, strict=True):
        if err["loc"][-1] == "[key]":  # a mapping key, such as a reference name
            pos = expanded.source.key(loc) or Pos("", 0, 0)
            expected = "a reference name of letters, digits and '_', not starting with a digit"
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    _label(loc, expanded),
                    f"expected {expected}, got {describe(loc[-1])}",
                )
            )
            continue
        at_union = len(loc) != len(err["loc"]) and _union_depth(err["loc"]) == len(loc)
        if not at_union:
            # An ordinary field, or one inside the union branch the input was meant for
            # (a mapping's fields): its own words say most.
            problems += translate_one(err, expanded)
            continue
        if loc in done or any(other[: len(loc)] == loc and len(other) > len(loc) for other in cleaned):
            continue
        done.add(loc)
        # A branch that took the input's shape and explained itself (a reference mapping
        # naming two kinds) beats the summary of every branch.
        explained = [
            e for e, other in zip(errors, cleaned, strict=True) if other == loc and e["type"] == "value_error"
        ]
        problems += translate_one(
            explained[0] if explained else {**err, "type": "union", "loc": loc}, expanded
        )
    return problems


def _union_depth(loc: tuple[Any, ...]) -> int:
    """How many parts of ``loc`` come before the first union-branch tag."""
    return next(i for i, p in enumerate(loc) if isinstance(p, str) and _is_tag(p))


def translate_one(err: Any, expanded: Expanded, prefix: Path_ = ()) -> list[Problem]:
    loc: Path_ = _clean_loc(err["loc"])
    full = prefix + loc  # the field's place in the storyboard; ``loc`` is its place in ``source``
    kind = err["type"]
    source = expanded.source
    label = _label(full, expanded) if not prefix else field_path(full)
    if kind == "extra_forbidden":
        pos = source.key(loc)
        message = _unknown_field(full)
    elif kind == "missing":
        pos = source.value(loc[:-1])
        label = _label(full[:-1], expanded) if not prefix else field_path(full[:-1])
        message = f'required field "{loc[-1]}" is missing'
    else:
        pos = source.value(loc)
        message = _bad_value(err, full)
    pos = pos or Pos(next(iter(source.values.values()), Pos("", 0, 0)).file, 0, 0)
    return [Problem(pos.file, pos.line, pos.column, label, message)]


def _label(loc: Path_, expanded: Expanded) -> str:
    if len(loc) >= 2 and loc[0] == "shots" and isinstance(loc[1], int) and loc[1] < len(expanded.shot_labels):
        rest = field_path(("x", *loc[2:]))[1:]
        return expanded.shot_labels[loc[1]] + rest
    return field_path(loc)


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    """Drop pydantic's union-branch tags (``str``, ``list[str]``, ``function-after[...]``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and _is_tag(p)))


def _is_tag(part: str) -> bool:
    return "[" in part or part in ("str", "int", "float", "bool", "dict", "list") or part[:1].isupper()


def _owner(loc: Path_) -> str:
    """The model a field belongs to, for EXPECTED: ``("cut", "fps")`` -> ``Cut``."""
    names = [p for p in loc[:-1] if isinstance(p, str)]
    if not names:
        return "Storyboard"
    return _CONTAINERS.get(names[-1], "*")


def _expected(loc: Path_) -> str | None:
    field = loc[-1] if loc and isinstance(loc[-1], str) else None
    if field is None:
        parent = [p for p in loc if isinstance(p, str)]
        if parent and parent[-1] == "shots":
            return "a shot: a mapping with at least id and prompt"
        if parent and parent[-1] in ("images", "videos", "audios", "include", "dialogue"):
            return "text"
        return None
    if len(loc) == 2 and loc[0] == "references":
        return "a file path or https URL, or a mapping like {image: refs/a.png}"
    if len(loc) == 3 and loc[0] == "references":
        return "a file path or https URL"
    owner = _owner(loc)
    return EXPECTED.get((owner, field)) or EXPECTED.get(("*", field))


def _unknown_field(loc: Path_) -> str:
    field = str(loc[-1])
    valid = _valid_fields(loc[:-1])
    hint = suggest(field, valid)
    if hint:
        return f'unknown field; did you mean "{hint}"?'
    return "unknown field; valid fields are " + ", ".join(valid)


def _valid_fields(parent: Path_) -> list[str]:
    """The field names of the model at ``parent``, told by the path's shape (a template or a
    reference may be called "camera" without becoming a Camera)."""
    from shotlist.storyboard import model

    cls: type[pydantic.BaseModel]
    if not parent:
        cls = model.Storyboard
    elif len(parent) == 2 and parent[0] == "references":
        cls = model.ReferenceFile
    elif len(parent) == 2 and parent[0] == "templates":
        cls = model.Template
    elif len(parent) == 2 and parent[0] == "shots":
        cls = Shot
    elif len(parent) >= 2 and parent[-2] == "segments":
        cls = model.Segment
    elif parent == ("defaults",):
        cls = model.Defaults
    elif isinstance(parent[-1], str) and parent[-1] in _CONTAINERS:
        cls = getattr(model, _CONTAINERS[parent[-1]])
    else:
        return []
    return [n for n in cls.model_fields if n != "each" or cls is Shot]


def _bad_value(err: Any, loc: Path_) -> str:
    kind = err["type"]
    value = err.get("input")
    got = describe(value)
    if kind == "value_error":
        return str(err["ctx"]["error"]).removeprefix("Value error, ")
    if kind == "too_short" and loc and loc[-1] == "shots":
        return "expected a non-empty list of shots, got an empty list"
    expected = _expected(loc)
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        hint = suggest(str(value), choices) if isinstance(value, str) else None
        words = expected if expected and not expected.startswith("one of") else None
        if hint:
            return f'expected {words or "one of " + ", ".join(choices)}, got {got}; did you mean "{hint}"?'
        return f"expected one of {', '.join(choices)}, got {got}"
    if expected:
        return f"expected {expected}, got {got}"
    return f"{err['msg']}, got {got}"


def describe(value: Any) -> str:
    """A value as an error message shows it: strings quoted, YAML words for the rest."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One line per place and message. A mistake inside a template shows once, under the
    template's name, not once more for every shot that uses it."""
    in_templates = {(p.file, p.line, p.column) for p in problems if p.field.startswith("templates.")}
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for problem in sorted(problems):
        where = (problem.file, problem.line, problem.column)
        if where in in_templates and not problem.field.startswith("templates."):
            continue
        if (*where, problem.message) not in seen:
            seen.add((*where, problem.message))
            out.append(problem)
    return out

"""The JSON Schemas of storyboard files as written: what editors and ``check-jsonschema`` read.

The models in ``model.py`` describe a storyboard *after* expansion. A file as
written differs in a few ways, and the schemas here follow ``validate``
exactly there, so that every storyboard ``validate`` accepts passes them:

* wherever a value is rendered by Jinja2 (every string field of shots,
  templates, defaults, references, soundtrack and cut), a template such as
  ``"{{ d }}"`` or ``"look-{{ side }}"`` may stand in for the value, whatever
  its type, pattern or choices;
* a shot that ``use``\\ s a template may leave ``id`` and ``prompt`` to it, and
  a template may carry ``id`` and ``each`` for the shots that use it;
* a storyboard with ``include`` may leave its shots to the included files;
* an included file (a *part*) holds only ``include``, ``shots`` and
  ``templates``, and has its own schema, ``schemas/part.schema.json``.

Rules the models check that JSON Schema can state are stated too (a reference
names exactly one kind, reference names are words, the cut is an ``.mp4``);
the rest (unique ids, known templates and references, provider limits) only
``validate`` can tell.
"""

from __future__ import annotations

import copy
from typing import Any

from shotlist.storyboard.model import Storyboard

SCHEMA_BASE = "https://shotlist.dev/schemas/"
STORYBOARD_SCHEMA_ID = SCHEMA_BASE + "storyboard.schema.json"
PART_SCHEMA_ID = SCHEMA_BASE + "part.schema.json"
PART_KEYS = ("include", "shots", "templates")

# A string Jinja2 renders: an expression, a statement or a comment.
TEMPLATED = {
    "type": "string",
    "pattern": r"\{[{%#]",
    "description": "A Jinja2 template, rendered with the storyboard's variables before the value is checked.",
}
_TEMPLATED_REF = {"$ref": "#/$defs/Templated"}
# Keywords that describe a property rather than constrain it: they stay outside the anyOf.
_ANNOTATIONS = ("title", "description", "default", "examples")
_ENUM_DESCRIPTIONS = {
    "Move": "A camera move.",
    "Speed": "How fast the camera moves.",
    "ShotSize": "A shot size (framing).",
    "Angle": "A camera angle.",
}
_MP4 = r"\.[Mm][Pp]4$"


def storyboard_schema() -> dict[str, Any]:
    """The JSON Schema of a storyboard file, as committed in schemas/storyboard.schema.json."""
    schema = _source_schema()
    # Shots may all come from included files; without include, the storyboard needs its own.
    shots = schema["properties"]["shots"]
    shots.pop("minItems", None)
    schema["required"] = ["version"]
    schema["if"] = {"required": ["include"]}
    schema["else"] = {"required": ["shots"], "properties": {"shots": {"minItems": 1}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": STORYBOARD_SCHEMA_ID,
        **schema,
        "title": "shotlist storyboard",
    }


def part_schema() -> dict[str, Any]:
    """The JSON Schema of an included file, as committed in schemas/part.schema.json."""
    source = _source_schema()
    properties = {key: source["properties"][key] for key in PART_KEYS}
    properties["shots"].pop("minItems", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PART_SCHEMA_ID,
        "title": "shotlist storyboard part",
        "description": "A file a storyboard pulls in with include: more shots and templates.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "$defs": source["$defs"],
    }


def _source_schema() -> dict[str, Any]:
    """The models' schema, widened and tightened to match ``validate`` on files as written."""
    schema = copy.deepcopy(Storyboard.model_json_schema())
    defs: dict[str, Any] = schema["$defs"]
    enums = {name for name, d in defs.items() if "properties" not in d}
    for name, definition in defs.items():
        definition.setdefault("description", _ENUM_DESCRIPTIONS.get(name, name))
        _describe_properties(definition, name)
        _allow_templates(definition, enums)
    _describe_properties(schema, "Storyboard")
    _allow_templates(schema, enums, rendered_apart=("version",))
    _shape_shots_and_templates(defs)
    _shape_references(schema, defs)
    defs["Cut"]["properties"]["output"]["anyOf"][0]["pattern"] = _MP4
    defs["Templated"] = dict(TEMPLATED)
    return schema


def _allow_templates(model: dict[str, Any], enums: set[str], rendered_apart: tuple[str, ...] = ()) -> None:
    """Let a template stand in for every rendered property of ``model`` that a plain
    string would not already satisfy."""
    for name, prop in model.get("properties", {}).items():
        if name not in rendered_apart:
            model["properties"][name] = _templatable(prop, enums)


def _templatable(node: dict[str, Any], enums: set[str]) -> dict[str, Any]:
    if "anyOf" in node:
        branches: list[dict[str, Any]] = []
        for branch in node["anyOf"]:
            widened = _templatable(branch, enums)
            # Splice a widened branch in rather than nesting anyOf in anyOf.
            inner = widened.get("anyOf") if set(widened) <= {"anyOf"} else None
            branches.extend(inner if inner else [widened])
        node["anyOf"] = _unique(branches)
        return node
    if "$ref" in node:
        return _either(node) if node["$ref"].rsplit("/", 1)[-1] in enums else node
    kind = node.get("type")
    if kind == "array":
        node["items"] = _templatable(node.get("items", {}), enums)
        return node
    if kind in ("object", "null") or not node:
        return node  # mappings keep their keys as written; null is never rendered
    if kind == "string" and not ({"pattern", "enum", "const", "format"} & set(node)):
        return node  # any string already takes a template
    return _either(node)


def _either(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` or a template, with the property's annotations kept outside."""
    outer = {k: node[k] for k in _ANNOTATIONS if k in node}
    inner = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
    return {"anyOf": [inner, dict(_TEMPLATED_REF)], **outer}


def _unique(branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for branch in branches:
        if branch not in out:
            out.append(branch)
    return out


def _shape_shots_and_templates(defs: dict[str, Any]) -> None:
    shot, template = defs["Shot"], defs["Template"]
    # A shot that uses a template may take its id and prompt (or segments) from it.
    shot.pop("required", None)
    shot["anyOf"] = [{"required": ["id", "prompt"]}, {"required": ["id", "segments"]}, {"required": ["use"]}]
    # Loop variables: a non-empty mapping of names to non-empty lists (expansion checks this).
    each = shot["properties"]["each"]["anyOf"][0]
    each["minProperties"] = 1
    each["additionalProperties"]["minItems"] = 1
    # A template may carry the id and loop of the shots that use it.
    for name in ("id", "each"):
        template["properties"][name] = copy.deepcopy(shot["properties"][name])


def _shape_references(schema: dict[str, Any], defs: dict[str, Any]) -> None:
    references = schema["properties"]["references"]
    references["additionalProperties"] = False  # names outside the pattern are errors
    kinds = list(defs["ReferenceFile"]["properties"])
    # Exactly one kind given (a null one counts as not given, as in the model).
    defs["ReferenceFile"]["oneOf"] = [
        {"required": [kind], "properties": {kind: {"type": "string"}}} for kind in kinds
    ]


def _describe_properties(schema: dict[str, Any], model_name: str) -> None:
    """pydantic drops a field's description beside a bare $ref; put it back for editors."""
    from shotlist.storyboard import model

    cls = getattr(model, model_name, None)
    fields = getattr(cls, "model_fields", {})
    for name, prop in schema.get("properties", {}).items():
        description = fields[name].description if name in fields else None
        if description and "description" not in prop:
            prop["description"] = description

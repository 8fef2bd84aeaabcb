"""The committed JSON Schemas match the models, describe every field, and every example
points an editor at the one for its kind (storyboard or included part)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shotlist.storyboard.schema import part_schema, storyboard_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "storyboard.schema.json"
PART_SCHEMA_FILE = ROOT / "schemas" / "part.schema.json"
SCHEMA_FILES = [SCHEMA_FILE, PART_SCHEMA_FILE]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")


def schema_text(schema: dict[str, Any]) -> str:
    """The text ``shotlist schema`` prints."""
    return json.dumps(schema, indent=2) + "\n"


def test_committed_schema_is_up_to_date() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_text(storyboard_schema()), (
        "schemas/storyboard.schema.json is stale; regenerate it with "
        "`shotlist schema > schemas/storyboard.schema.json`"
    )


def test_committed_part_schema_is_up_to_date() -> None:
    committed = PART_SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_text(part_schema()), (
        "schemas/part.schema.json is stale; regenerate it with "
        "`shotlist schema --part > schemas/part.schema.json`"
    )


def test_schema_command_prints_the_committed_schema(run_cli: Any) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_command_prints_the_part_schema(run_cli: Any) -> None:
    result = run_cli("schema", "--part")
    assert result.exit_code == 0
    assert result.stdout == PART_SCHEMA_FILE.read_text(encoding="utf-8")


# Subschemas that constrain properties declared (and described) elsewhere.
_CONDITIONS = frozenset({"if", "then", "else", "oneOf"})


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) declared under ``node``, however deeply nested."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{where}.{name}".lstrip("."), prop
        for key, value in node.items():
            if key not in _CONDITIONS:
                yield from _properties(value, f"{where}.{key}" if key != "properties" else where)
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, where)


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_property_in_the_schema_has_a_description(schema_file: Path) -> None:
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    found = list(_properties(schema))
    assert len(found) > 50
    undescribed = [path for path, prop in found if not prop.get("description")]
    assert undescribed == []


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_definition_in_the_schema_has_a_description(schema_file: Path) -> None:
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    assert [name for name, d in schema["$defs"].items() if not d.get("description")] == []


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_forbids_unknown_fields_like_the_loader(schema_file: Path) -> None:
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    models = {name: d for name, d in schema["$defs"].items() if "properties" in d}
    assert {name for name, d in models.items() if d.get("additionalProperties") is not False} == set()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


def test_there_are_example_parts() -> None:
    assert any("version" not in yaml.safe_load(e.read_text(encoding="utf-8")) for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_names_the_schema_of_its_kind_in_its_first_line(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    match = MODELINE.match(text.splitlines()[0])
    assert match, f"{example.relative_to(ROOT)} must start with '# yaml-language-server: $schema=...'"
    target = (example.parent / match.group("path")).resolve()
    # A file without a version is an included part.
    expected = SCHEMA_FILE if "version" in yaml.safe_load(text) else PART_SCHEMA_FILE
    assert target == expected, f"{example.relative_to(ROOT)} points at {match.group('path')}"

"""The committed JSON Schema matches the models, describes every field, and every example
points an editor at it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shotlist.storyboard.model import storyboard_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "storyboard.schema.json"
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")


def schema_text() -> str:
    """The text ``shotlist schema`` prints."""
    return json.dumps(storyboard_schema(), indent=2) + "\n"


def test_committed_schema_is_up_to_date() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schemas/storyboard.schema.json is stale; regenerate it with "
        "`shotlist schema > schemas/storyboard.schema.json`"
    )


def test_schema_command_prints_the_committed_schema(run_cli: Any) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) under ``node``, however deeply nested."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{where}.{name}".lstrip("."), prop
        for key, value in node.items():
            yield from _properties(value, f"{where}.{key}" if key != "properties" else where)
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, where)


def test_every_property_in_the_schema_has_a_description() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    found = list(_properties(schema))
    assert len(found) > 50
    undescribed = [path for path, prop in found if not prop.get("description")]
    assert undescribed == []


def test_every_definition_in_the_schema_has_a_description() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert [name for name, d in schema["$defs"].items() if not d.get("description")] == []


def test_schema_forbids_unknown_fields_like_the_loader() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    models = {name: d for name, d in schema["$defs"].items() if "properties" in d}
    assert {name for name, d in models.items() if d.get("additionalProperties") is not False} == set()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_names_the_schema_in_its_first_line(example: Path) -> None:
    first_line = example.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first_line)
    assert match, f"{example.relative_to(ROOT)} must start with '# yaml-language-server: $schema=...'"
    target = (example.parent / match.group("path")).resolve()
    assert target == SCHEMA_FILE, f"{example.relative_to(ROOT)} points at {match.group('path')}"

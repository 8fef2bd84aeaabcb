"""Declared dependencies are honest: each one in pyproject.toml is imported by the package."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "shotlist"
TESTS = ROOT / "tests"

# Distributions whose import name is not their name with "-" as "_".
IMPORT_NAMES = {
    "ffmpeg-python": "ffmpeg",
    "pyyaml": "yaml",
    "imageio-ffmpeg": "imageio_ffmpeg",
    "ruamel.yaml": "ruamel",
}


# Test dependencies used without an import: pytest plugins (switched on by configuration),
# the linters and type checker .ci/run runs, type stubs, and commands the tests run.
NOT_IMPORTED_BY_DESIGN = {
    "pytest-asyncio",
    "pytest-timeout",
    "ruff",
    "mypy",
    "types-pyyaml",
    "check-jsonschema",
    "pre-commit",
}


def declared(extra: str | None = None) -> list[str]:
    """Distribution names in ``[project] dependencies``, or in the optional ``extra``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names = [re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0] for spec in specs]
    return [name.lower() for name in names]


def import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


def imported_modules(folder: Path = PACKAGE) -> set[str]:
    """Top-level names of every module the code in ``folder`` imports, anywhere in it."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_every_declared_dependency_is_imported_by_the_package() -> None:
    used = imported_modules()

    unused = [name for name in declared() if import_name(name) not in used]

    assert unused == [], f"declared in pyproject.toml but never imported by shotlist: {unused}"


def test_every_test_dependency_is_imported_by_the_tests_or_run_as_a_tool() -> None:
    used = imported_modules(TESTS) | imported_modules(PACKAGE)

    unused = [
        name
        for name in declared("test")
        if name not in NOT_IMPORTED_BY_DESIGN and import_name(name) not in used
    ]

    assert unused == [], f"declared in the test extra but never imported: {unused}"


def test_distribution_names_map_to_import_names() -> None:
    assert import_name("ffmpeg-python") == "ffmpeg"
    assert import_name("pyyaml") == "yaml"
    assert import_name("imageio-ffmpeg") == "imageio_ffmpeg"
    assert import_name("opentimelineio") == "opentimelineio"
    assert import_name("av") == "av"
    assert "ffmpeg-python" in declared()

"""Declared dependencies are honest: each one in pyproject.toml is imported by the package."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "shotlist"

# Distributions whose import name is not their name with "-" as "_".
IMPORT_NAMES = {
    "ffmpeg-python": "ffmpeg",
    "pyyaml": "yaml",
    "imageio-ffmpeg": "imageio_ffmpeg",
}


def declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0] for spec in project["dependencies"]]
    return [name.lower() for name in names]


def import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


def imported_modules() -> set[str]:
    """Top-level names of every module the package imports, anywhere in its code."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
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


def test_distribution_names_map_to_import_names() -> None:
    assert import_name("ffmpeg-python") == "ffmpeg"
    assert import_name("pyyaml") == "yaml"
    assert import_name("imageio-ffmpeg") == "imageio_ffmpeg"
    assert import_name("opentimelineio") == "opentimelineio"
    assert import_name("av") == "av"
    assert "ffmpeg-python" in declared()

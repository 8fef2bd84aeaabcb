"""The layout shows the architecture: no import cycle, every command documented, the
README's library example runs."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shotlist"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in it (TYPE_CHECKING blocks and
    function bodies included: a cycle hidden there is still a cycle in the design)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    deps.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = {k: v - {"shotlist"} for k, v in import_graph().items() if k != "shotlist"}
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _commands() -> dict[str, Any]:
    from shotlist.cli.app import app

    commands: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return commands


def test_every_command_and_option_is_in_the_readme() -> None:
    missing = []
    for name, command in _commands().items():
        if not re.search(rf"shotlist {re.escape(name)}\b", README):
            missing.append(f"shotlist {name}")
        for param in command.params:
            if param.param_type_name == "option":
                for opt in [*param.opts, *param.secondary_opts]:
                    if opt.startswith("--") and opt != "--help" and opt not in README:
                        missing.append(f"shotlist {name} {opt}")
    assert missing == []


def _library_example() -> str:
    section = README.split("## Use as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.e2e
def test_the_readme_library_example_runs(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "minimal.yaml", tmp_path / "examples" / "minimal.yaml")
    env = {**os.environ, "SHOTLIST_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", _library_example()], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(str(tmp_path / "examples" / "out")) or "out/minimal.mp4" in lines[-1]
    assert (tmp_path / "examples" / "out" / "minimal.mp4").stat().st_size > 0
    assert (tmp_path / "examples" / "minimal.lock").exists()

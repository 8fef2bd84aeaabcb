"""The public API: what ``import shotlist`` offers, pinned; no ``Any`` in what it exposes."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import shotlist

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = {
    "__version__",
    # the path
    "load_storyboard", "plan", "plan_against", "render", "arender", "stitch", "watch",
    "plan_matrix", "render_matrix", "arender_matrix",
    # results
    "LoadedStoryboard", "Plan", "PlannedShot", "ShotRequest", "RenderedCut", "RenderedShot",
    "CutResult", "WatchOptions", "Cycle", "Event", "Review", "MatrixPlan", "BatchResult",
    # the error tree
    "ShotlistError", "Problem", "StoryboardError", "ConfigError", "ProjectError", "BudgetError",
    "ProviderError", "RenderError", "FrozenError", "NotRenderedError", "RevisionError", "StoreError",
    "SharedCacheError", "MediaError", "CutError", "FFmpegError", "StitchError",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(shotlist.__all__) == PUBLIC
    for name in shotlist.__all__:
        assert getattr(shotlist, name) is not None


def test_every_error_is_in_the_tree_and_drawn_in_its_docstring() -> None:
    import shotlist.errors as errors

    classes = [v for v in vars(errors).values() if inspect.isclass(v) and issubclass(v, Exception)]
    for cls in classes:
        assert issubclass(cls, shotlist.ShotlistError), cls
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} is not drawn in errors.py's docstring"
        if cls.__module__ == "shotlist.errors":
            assert cls.__name__ in shotlist.__all__, cls


def test_no_raise_of_the_bare_root_error() -> None:
    import ast

    bare = []
    for path in (ROOT / "shotlist").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "ShotlistError":
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == [], "raise a specific error class instead: " + ", ".join(bare)


def _annotations(obj: object) -> list[str]:
    found: list[str] = []
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj):
            found += [str(f.type) for f in dataclasses.fields(obj)]
        for name, member in vars(obj).items():
            if not name.startswith("_") and inspect.isfunction(member):
                found += _annotations(member)
    elif callable(obj):
        signature = inspect.signature(obj)
        found += [str(p.annotation) for p in signature.parameters.values()]
        found.append(str(signature.return_annotation))
    return found


@pytest.mark.parametrize("name", sorted(PUBLIC - {"__version__"}))
def test_no_any_in_public_signatures(name: str) -> None:
    obj = getattr(shotlist, name)
    if inspect.isclass(obj) and issubclass(obj, Exception):
        return
    offending = [a for a in _annotations(obj) if "Any" in a.replace("Anything", "")]
    assert offending == [], f"{name}: {offending}"


def test_import_shotlist_stays_light() -> None:
    heavy = "('shotlist.', 'jinja2', 'pydantic', 'httpx', 'av')"
    code = f"import sys, shotlist; print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.e2e
def test_arender_inside_a_running_event_loop_renders_the_example(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "minimal.yaml", tmp_path / "minimal.yaml")

    async def main() -> shotlist.RenderedCut:
        return await shotlist.arender(tmp_path / "minimal.yaml")

    result = asyncio.run(main())
    assert result.output is not None
    assert result.output.stat().st_size > 0
    assert {s.source for s in result.shots} == {"generated"}

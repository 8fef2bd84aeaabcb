"""Every example storyboard loads and plans as committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist import pipeline
from shotlist.storyboard.loader import load_storyboard

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
ALL_YAML = sorted(EXAMPLES_DIR.rglob("*.yaml"))
# Files under a parts/ folder are pieces that a storyboard includes, not storyboards.
PARTS = [p for p in ALL_YAML if "parts" in p.relative_to(EXAMPLES_DIR).parts]
STORYBOARDS = [p for p in ALL_YAML if p not in PARTS]


def _id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES_DIR))


def test_there_are_at_least_three_example_storyboards() -> None:
    assert len(STORYBOARDS) >= 3


@pytest.mark.parametrize("example", STORYBOARDS, ids=_id)
def test_example_loads(example: Path) -> None:
    loaded = load_storyboard(example)
    assert loaded.storyboard.shots


@pytest.mark.parametrize("example", STORYBOARDS, ids=_id)
def test_example_plans(example: Path) -> None:
    result = pipeline.plan(example)
    assert len(result.shots) == len(load_storyboard(example).storyboard.shots)


def test_every_include_part_is_used_by_an_example() -> None:
    included = {
        (example.parent / item).resolve()
        for example in STORYBOARDS
        for item in load_storyboard(example).storyboard.include
    }
    assert [_id(p) for p in PARTS if p.resolve() not in included] == []

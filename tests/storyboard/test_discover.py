"""Telling storyboards and include parts from other YAML, as the pre-commit hook must."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist.storyboard.discover import check_targets, file_kind, including_storyboards

WORKFLOW = "name: CI\non: [push]\njobs:\n  test: {runs-on: ubuntu-latest}\n"
COMPOSE = 'version: "3"\nservices:\n  web: {image: nginx}\n'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("version: 1\nshots:\n  - {id: a, prompt: x}\n", "storyboard"),
        ("version: 1\ninclude: [p.yaml]\n", "storyboard"),
        ("version: 7\nshots: not a list\n  bad: [yaml\n", "storyboard"),  # broken, still ours
        ("# yaml-language-server: $schema=../schemas/storyboard.schema.json\nverison: 1\n", "storyboard"),
        ("shots:\n  - {id: a, prompt: x}\n", "part"),
        ("templates: {wide: {camera: {shot: wide}}}\ninclude: [more.yaml]\n", "part"),
        ("# yaml-language-server: $schema=../../schemas/part.schema.json\nshot: []\n", "part"),
        (WORKFLOW, None),
        (COMPOSE, None),
        ("include: [a.yaml]\n", None),
        ("- just\n- a list\n", None),
        ("", None),
    ],
)
def test_file_kind_recognises_storyboards_and_parts(tmp_path: Path, text: str, kind: str | None) -> None:
    assert file_kind(write(tmp_path, "f.yaml", text)) == kind


def test_a_binary_file_is_not_a_storyboard(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"version: 1\x00\x01")
    assert file_kind(path) is None


def test_a_part_brings_in_the_storyboards_above_it_that_include_it(tmp_path: Path) -> None:
    film = write(tmp_path, "film.yaml", "version: 1\ninclude: [parts/act1.yaml]\n")
    write(tmp_path, "other.yaml", "version: 1\nshots:\n  - {id: a, prompt: x}\n")
    write(tmp_path, "parts/act1.yaml", "include: [deeper/act2.yaml]\n")
    act2 = write(tmp_path, "parts/deeper/act2.yaml", "shots:\n  - {id: b, prompt: y}\n")
    lone = write(tmp_path, "parts/lone.yaml", "shots:\n  - {id: c, prompt: z}\n")
    workflow = write(tmp_path, ".github/workflows/ci.yml", WORKFLOW)

    assert including_storyboards(act2, top=tmp_path) == [film]
    targets = check_targets([act2, lone, workflow, film], top=tmp_path)
    assert targets.storyboards == (film,)
    assert targets.lone_parts == (lone,)
    assert targets.skipped == (workflow,)


def test_storyboards_are_not_looked_for_above_the_top(tmp_path: Path) -> None:
    write(tmp_path, "film.yaml", "version: 1\ninclude: [project/act.yaml]\n")
    act = write(tmp_path, "project/act.yaml", "shots:\n  - {id: b, prompt: y}\n")

    assert including_storyboards(act, top=tmp_path / "project") == []

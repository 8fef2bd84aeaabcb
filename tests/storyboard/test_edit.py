"""``shotlist pick`` edits the storyboard in place: one value or one line, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist import pipeline
from shotlist.errors import StoryboardError

FILM = """\
# The storm sequence: reviewed in git
version: 1
defaults: {duration: 2}   # short takes while we explore
shots:
  - id: storm
    prompt: Waves break over the tower   # the wide one
    takes: 3
    camera:
      move: dolly_in      # slow push
  - id: 'calm'
    prompt: "The sea at rest"
    takes: 2
    pick: 1               # keep this comment
  - {id: flow, prompt: In one line, takes: 2}
  - id: "look-{{ side }}"
    each: {side: [left, right]}
    prompt: Looking {{ side }}
    takes: 2
"""


def write(folder: Path, text: str = FILM) -> Path:
    path = folder / "film.yaml"
    path.write_bytes(text.encode())
    return path


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    return [(a, b) for a, b in zip(old, new, strict=False) if a != b]


def test_pick_is_added_after_takes_keeping_everything_else(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert pipeline.pick(path, "storm", 3) == path
    after = path.read_text()
    lines = after.splitlines()
    assert lines[6:8] == ["    takes: 3", "    pick: 3"]
    assert after.replace("    pick: 3\n", "", 1) == FILM
    assert pipeline.plan(path).shots[0].pick == 3


def test_an_existing_pick_changes_in_place_keeping_its_comment(tmp_path: Path) -> None:
    path = write(tmp_path)
    pipeline.pick(path, "calm", 2)
    assert changed_lines(FILM, path.read_text()) == [
        ("    pick: 1               # keep this comment", "    pick: 2               # keep this comment")
    ]


def test_a_one_line_shot_gets_its_pick_inside_the_braces(tmp_path: Path) -> None:
    path = write(tmp_path)
    pipeline.pick(path, "flow", 2)
    assert changed_lines(FILM, path.read_text()) == [
        (
            "  - {id: flow, prompt: In one line, takes: 2}",
            "  - {pick: 2, id: flow, prompt: In one line, takes: 2}",
        )
    ]
    assert pipeline.plan(path).shots[2].pick == 2


def test_a_shot_from_a_loop_is_refused_with_what_to_write(tmp_path: Path) -> None:
    path = write(tmp_path)
    with pytest.raises(StoryboardError) as caught:
        pipeline.pick(path, "look-right", 2)
    assert str(caught.value) == (
        f"{path}:15:5: shots[3]: shot 'look-right' comes from an each: loop, so no single line holds its "
        "pick; write it by hand in that entry, e.g. pick: \"{{ 2 if side == 'right' else 1 }}\""
    )
    assert path.read_text() == FILM


def test_out_of_range_and_unknown_shots_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path)
    with pytest.raises(StoryboardError) as caught:
        pipeline.pick(path, "storm", 4)
    assert str(caught.value) == (
        f"{path}:5:5: shots[0]: take 4 is out of range: shot 'storm' has 3 takes (1 to 3); "
        "raise its takes to render more"
    )
    with pytest.raises(StoryboardError) as caught:
        pipeline.pick(path, "strom", 1)
    assert str(caught.value) == f'{path}: no shot "strom"; did you mean "storm"?'
    assert path.read_text() == FILM


def test_a_shot_in_an_included_file_is_picked_there(tmp_path: Path) -> None:
    (tmp_path / "part.yaml").write_text(
        "shots:\n  - id: wave   # included\n    prompt: A wave\n    takes: 2\n"
    )
    path = write(tmp_path, "version: 1\ninclude: [part.yaml]\nshots:\n  - {id: own, prompt: Own}\n")
    assert pipeline.pick(path, "wave", 2).resolve() == (tmp_path / "part.yaml").resolve()
    assert (tmp_path / "part.yaml").read_text().splitlines()[3:5] == ["    takes: 2", "    pick: 2"]

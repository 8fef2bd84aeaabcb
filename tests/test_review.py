"""``plan --against REF``: what a storyboard change renders and costs, read from git."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shotlist import pipeline
from shotlist.errors import RevisionError, StoryboardError

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

FILM = """\
version: 1
defaults: {provider: lumenfall, duration: 5, seed: 1, resolution: 720p}
references:
  keeper: refs/keeper.png
include: [more.yaml]
shots:
  - id: opening
    prompt: The sea at dawn
  - id: keeper
    prompt: "@keeper looks out"
  - id: storm
    prompt: Waves break over the tower
    duration: 4
"""

MORE = """\
shots:
  - id: intro
    prompt: Title card over the sea
"""

# Lumenfall renders a 720p shot at its nearest documented size, 1365x768 (1K), and prices that.
LUMENFALL_1K_AREA = 1365 * 768 / (1280 * 720)

LOCK_SHOT = {
    "provider": "lumenfall",
    "model": "seedance-2.0",
    "seed": 1,
    "duration": 5.0,
    "job_id": "job",
    "sha256": "0" * 64,
}


def git(*args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, env=env)
    return done.stdout


@pytest.fixture
def repo(write_storyboard: Any, tmp_path: Path) -> Path:
    """A git repository holding film.yaml, its include, a reference and a lock, committed."""
    git("init", "-q", "-b", "main")
    film = write_storyboard(FILM)
    write_storyboard(MORE, "more.yaml")
    write_storyboard(PNG, "refs/keeper.png")
    before = pipeline.plan(film)
    lock = {
        "version": 1,
        "shots": [
            {**LOCK_SHOT, "id": s.request.id, "hash": s.request.hash, "cost_usd": 1.25} for s in before.shots
        ],
    }
    (tmp_path / "film.lock").write_text(json.dumps(lock), encoding="utf-8")
    git("add", "-A")
    git("commit", "-q", "-m", "first cut")
    return film


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edit_an_addition_and_a_removal_are_named_with_what_they_cost(repo: Path, run_cli: Any) -> None:
    edit(repo, "The sea at dawn", "The sea at dusk")
    edit(repo, "  - id: storm\n    prompt: Waves break over the tower\n    duration: 4\n", "")
    edit(repo, "shots:\n", "shots:\n  - id: gulls\n    prompt: Gulls circle the lamp\n    duration: 6\n")

    result = run_cli("plan", repo, "--against", "HEAD", "--json")

    assert result.exit_code == 0, result.stderr
    review = json.loads(result.stdout)
    assert review["against"] == "HEAD"
    assert review["added"] == ["gulls"]
    assert review["removed"] == ["storm"]
    assert review["changed"][0]["id"] == "opening"
    assert review["changed"][0]["fields"] == ["prompt"]
    assert len(review["changed"]) == 1
    assert review["unchanged"] == ["intro", "keeper"]
    # Seedance 2.0 on Lumenfall: $0.30 per second at 720p; 5 s + 6 s to render.
    assert review["cost_usd"]["to_render"] == pytest.approx(0.30 * 11 * LUMENFALL_1K_AREA, abs=1e-4)
    assert review["to_render"] == ["gulls", "opening"]
    assert review["cost_usd"]["spent_at_ref_on_removed"] == pytest.approx(1.25)
    assert review["cost_usd"]["spent_at_ref_on_changed"] == pytest.approx(1.25)


def test_the_table_names_the_change_and_the_money(repo: Path, run_cli: Any) -> None:
    edit(repo, "The sea at dawn", "The sea at dusk")

    result = run_cli("plan", repo, "--against", "HEAD")

    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("changed"))
    assert row.split() == ["changed", "opening", "prompt", "$1.71", "$1.25"]
    assert "unchanged: 3 shots" in result.stdout
    assert "to render: $1.71 (1 shot)" in result.stdout
    assert "on shots now changed: $1.25" in result.stdout


def test_a_reference_edited_since_the_revision_changes_the_shots_that_use_it(repo: Path) -> None:
    Path("refs/keeper.png").write_bytes(PNG + b"edited")

    review = pipeline.plan_against(repo, "HEAD")

    assert [(c.id, c.fields) for c in review.changed] == [("keeper", ("references",))]


def test_an_include_edited_since_the_revision_is_read_from_git(repo: Path) -> None:
    edit(Path("more.yaml"), "Title card", "A title card")

    review = pipeline.plan_against(repo, "HEAD")

    assert [(c.id, c.fields) for c in review.changed] == [("intro", ("prompt",))]


def test_renaming_a_reference_file_changes_nothing(repo: Path) -> None:
    Path("refs/keeper.png").rename("refs/hero.png")
    edit(repo, "refs/keeper.png", "refs/hero.png")

    review = pipeline.plan_against(repo, "HEAD")

    assert review.changed == ()
    assert review.to_render_usd == 0


def test_a_trim_only_change_costs_nothing(repo: Path) -> None:
    edit(repo, "    duration: 4\n", "    duration: 4\n    trim: {start: 1}\n")

    review = pipeline.plan_against(repo, "HEAD")

    assert [(c.id, c.fields, c.rerenders) for c in review.changed] == [("storm", ("trim",), False)]
    assert review.to_render_usd == 0
    assert review.spent_on_changed_usd == 0


def test_an_older_revision_is_compared_too(repo: Path) -> None:
    edit(repo, "The sea at dawn", "The sea at dusk")
    git("commit", "-q", "-am", "dusk")

    assert pipeline.plan_against(repo, "HEAD").changed == ()
    assert [c.id for c in pipeline.plan_against(repo, "HEAD~1").changed] == ["opening"]


def test_a_storyboard_new_since_the_revision_is_all_added(repo: Path, write_storyboard: Any) -> None:
    new = write_storyboard("version: 1\nshots:\n  - {id: a, prompt: A}\n  - {id: b, prompt: B}\n", "new.yaml")

    review = pipeline.plan_against(new, "HEAD")

    assert not review.existed
    assert [s.request.id for s in review.added] == ["a", "b"]
    assert review.removed == review.changed == review.unchanged == ()


def test_an_unknown_revision_is_one_line(repo: Path, run_cli: Any) -> None:
    result = run_cli("plan", repo, "--against", "no-such-branch")

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith('error: unknown git revision "no-such-branch" in ')
    assert "Traceback" not in result.output


def test_outside_a_git_repository_is_one_line(write_storyboard: Any, run_cli: Any) -> None:
    film = write_storyboard(FILM.replace("include: [more.yaml]\n", "").replace("@keeper", "the keeper"))
    result = run_cli(
        "plan", film, "--against", "HEAD", env={"GIT_CEILING_DIRECTORIES": str(Path.cwd().parent)}
    )

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("is not in a git repository; plan --against compares with git")


def test_a_storyboard_invalid_at_the_revision_names_the_revision(repo: Path) -> None:
    edit(repo, "prompt: The sea at dawn", "prompt: The sea at dawn\n    bogus: 1")
    git("commit", "-q", "-am", "broken")
    edit(repo, "\n    bogus: 1", "")

    with pytest.raises(StoryboardError) as caught:
        pipeline.plan_against(repo, "HEAD")

    assert str(caught.value).startswith("HEAD:film.yaml:9:5: shots[0].bogus: unknown field")


def test_a_revision_that_looks_like_an_option_is_refused(repo: Path) -> None:
    with pytest.raises(RevisionError, match="is not a git revision"):
        pipeline.plan_against(repo, "--output=x")

"""Planning: one exact request per shot, hashes that only change when the request does."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from shotlist import pipeline
from shotlist.errors import BudgetError, ConfigError, StoryboardError
from shotlist.planner import derive_seed
from shotlist.storyboard.model import FIT_MODES, TRANSITION_TYPES

FILM = """\
# yaml-language-server: $schema=../schemas/storyboard.schema.json
version: 1
title: Hashes
vars: {hero: a keeper}
defaults: {provider: lumenfall, duration: 5, seed: 99, aspect_ratio: "16:9", resolution: 720p}
references:
  keeper: refs/keeper.png
  other: refs/other.png
shots:
  - id: one
    prompt: "{{ hero }} (@keeper) at the window"
    camera: {move: dolly_in, speed: slow}
  - id: two
    prompt: The sea at night
    seed: 7
  - id: three
    prompt: "@other waves"
    params: {watermark: false}
"""

# The same storyboard: keys reordered, flow style turned into block style, comments and
# blank lines added, quotes changed.
FILM_REFORMATTED = """\
version: 1

# a comment
shots:
  - prompt: '{{ hero }} (@keeper) at the window'   # same prompt, other quotes
    camera:
      speed: slow
      move: dolly_in
    id: one
  - seed: 7
    id: two
    prompt: "The sea at night"
  - params:
      watermark: false
    id: three
    prompt: '@other waves'
references:
  other: refs/other.png
  keeper: refs/keeper.png
defaults:
  resolution: 720p
  aspect_ratio: '16:9'
  seed: 99
  duration: 5.0
  provider: lumenfall
vars:
  hero: "a keeper"
title: Hashes
"""


def write_project(folder: Path, text: str = FILM) -> Path:
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "keeper.png").write_bytes(b"\x89PNG keeper pixels")
    (folder / "refs" / "other.png").write_bytes(b"\x89PNG other pixels")
    path = folder / "film.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def hashes(path: Path, **options: object) -> dict[str, str]:
    result = pipeline.plan(path, env={}, **options)  # type: ignore[arg-type]
    return {shot.request.id: shot.request.hash for shot in result.shots}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "a")


def test_hashes_ignore_key_order_yaml_style_and_comments(project: Path, tmp_path: Path) -> None:
    other = write_project(tmp_path / "b", FILM_REFORMATTED)
    assert hashes(other) == hashes(project)


def test_hashes_do_not_depend_on_where_the_storyboard_lives(project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(project.parent, moved)
    assert hashes(moved / "film.yaml") == hashes(project)


def test_renaming_a_reference_file_changes_no_hash(project: Path) -> None:
    before = hashes(project)
    (project.parent / "refs" / "keeper.png").rename(project.parent / "refs" / "hero.png")
    project.write_text(FILM.replace("refs/keeper.png", "refs/hero.png"), encoding="utf-8")
    assert hashes(project) == before


def test_editing_a_reference_changes_exactly_the_shots_that_use_it(project: Path) -> None:
    before = hashes(project)
    (project.parent / "refs" / "keeper.png").write_bytes(b"\x89PNG repainted keeper")
    after = hashes(project)
    assert [i for i in before if before[i] != after[i]] == ["one"]


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("The sea at night", "The sea at dawn", "two"),
        ("seed: 7", "seed: 8", "two"),
        ("{move: dolly_in, speed: slow}", "{move: dolly_in, speed: fast}", "one"),
        ("{watermark: false}", "{watermark: true}", "three"),
    ],
)
def test_changing_one_shot_changes_exactly_its_hash(project: Path, old: str, new: str, changed: str) -> None:
    before = hashes(project)
    project.write_text(FILM.replace(old, new), encoding="utf-8")
    after = hashes(project)
    assert [i for i in before if before[i] != after[i]] == [changed]


def test_changing_a_default_changes_every_shot_that_takes_it(project: Path) -> None:
    before = hashes(project)
    project.write_text(FILM.replace("duration: 5,", "duration: 6,"), encoding="utf-8")
    after = hashes(project)
    assert all(before[i] != after[i] for i in before)


def test_a_var_override_changes_only_shots_that_use_the_variable(project: Path) -> None:
    before = hashes(project)
    after = hashes(project, overrides=["hero=a sailor"])
    assert [i for i in before if before[i] != after[i]] == ["one"]


def test_seeds_derive_from_the_base_seed_and_the_shot_id(project: Path) -> None:
    result = pipeline.plan(project, env={})
    seeds = {s.request.id: s.request.seed for s in result.shots}
    assert seeds["two"] == 7
    assert seeds["one"] == derive_seed(99, "one")
    assert seeds["three"] == derive_seed(99, "three")
    assert seeds["one"] != seeds["three"]
    assert all(0 <= seed < 2**32 for seed in seeds.values())


def test_plan_json_shows_each_request_exactly_as_sent(project: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("plan", str(project), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    one = data["shots"][0]
    assert one["prompt"] == "a keeper (@Image1) at the window. Camera: slow dolly in."
    assert one["status"] == "new"
    assert [r["name"] for r in one["references"]] == ["keeper"]
    # Lumenfall renders 720p at its nearest documented size, 1365x768 (1K), and prices that.
    assert (one["size"], one["resolution"]) == ("1365x768", "1K")
    assert one["estimated_cost_usd"] == pytest.approx(0.30 * 5 * 1365 * 768 / (1280 * 720), abs=1e-4)
    assert data["total_estimated_cost_usd"] == pytest.approx(
        3 * 0.30 * 5 * 1365 * 768 / (1280 * 720), abs=1e-3
    )
    assert set(one) >= {"id", "hash", "status", "provider", "model", "prompt", "duration", "seed", "size"}


def test_budget_below_the_estimate_is_refused(project: Path) -> None:
    with pytest.raises(BudgetError, match=r"estimated cost \$5.12 exceeds the budget of \$4.00"):
        pipeline.plan(project, env={}, budget=4.0)
    assert len(pipeline.plan(project, env={}, budget=5.12).shots) == 3


def test_a_credential_in_params_is_refused(project: Path) -> None:
    project.write_text(FILM.replace("{watermark: false}", "{api_key: sk-123}"), encoding="utf-8")
    with pytest.raises(StoryboardError) as caught:
        pipeline.plan(project, env={})
    message = str(caught.value)
    assert "shots[2].params: params.api_key looks like a credential" in message
    assert "LUMENFALL_API_KEY" in message


def test_params_may_not_override_a_named_field(project: Path) -> None:
    project.write_text(FILM.replace("{watermark: false}", "{seed: 3}"), encoding="utf-8")
    with pytest.raises(StoryboardError, match=r"params may not set seed"):
        pipeline.plan(project, env={})


def test_every_transition_and_fit_of_the_format_is_one_the_stitcher_knows() -> None:
    from shotlist.cut import stitch

    assert set(TRANSITION_TYPES) <= set(stitch.TRANSITION_TYPES)
    assert set(FIT_MODES) == set(stitch.FIT_MODES)


def test_providers_lists_key_state_without_values(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("providers", "--json", env={"LUMENFALL_API_KEY": "secret-value-123"})
    assert result.exit_code == 0
    assert "secret-value-123" not in result.stdout
    rows = {row["provider"]: row for row in json.loads(result.stdout)}
    assert rows["lumenfall"]["key_set"] is True
    assert rows["lumenfall"]["key_env"] == "LUMENFALL_API_KEY"
    assert rows["lumenfall"]["models"][0]["name"] == "seedance-2.0"
    assert set(rows) == {"local", "lumenfall", "fal", "ark", "replicate"}


def test_music_outside_the_folder_is_refused_unless_allowed(tmp_path: Path) -> None:
    project = write_project(tmp_path / "a")
    (tmp_path / "theme.mp3").write_bytes(b"ID3 music")
    project.write_text(FILM + "soundtrack: {music: ../theme.mp3}\n", encoding="utf-8")
    with pytest.raises(StoryboardError) as caught:
        pipeline.plan(project, env={})
    assert "soundtrack.music: '../theme.mp3' climbs out through '..'" in str(caught.value)
    assert pipeline.plan(project, env={}, allow_outside=True).music == (tmp_path / "theme.mp3").resolve()


@pytest.mark.parametrize(
    ("music", "message"),
    [
        ("refs/none.mp3", "soundtrack.music: 'refs/none.mp3' does not exist"),
        ("refs/keeper.png", 'soundtrack.music: "refs/keeper.png" is not an audio file'),
        ("'@keeper'", 'soundtrack.music: "@keeper" is image, not audio'),
        ("'@thme'", 'soundtrack.music: unknown reference "@thme"'),
    ],
)
def test_music_must_be_an_existing_audio_file(project: Path, music: str, message: str) -> None:
    project.write_text(FILM + f"soundtrack: {{music: {music}}}\n", encoding="utf-8")
    with pytest.raises(StoryboardError, match=re.escape(message)):
        pipeline.plan(project, env={})


@pytest.mark.parametrize("output", ["../cut.mp4", "/tmp/cut.mp4"])
def test_a_cut_output_outside_the_folder_is_refused_unless_allowed(project: Path, output: str) -> None:
    project.write_text(FILM + f"cut: {{output: {output}}}\n", encoding="utf-8")
    with pytest.raises(StoryboardError, match=re.escape(f'cut.output: "{output}" is outside the storyboard')):
        pipeline.plan(project, env={})
    assert pipeline.plan(project, env={}, allow_outside=True).shots


def test_a_storyboard_holding_an_api_key_value_is_refused_without_showing_it(project: Path) -> None:
    key = "lf-live-0123456789abcdef"
    project.write_text(FILM.replace("The sea at night", f"The sea at night {key}"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        pipeline.plan(project, env={"LUMENFALL_API_KEY": key})
    assert "contains the value of LUMENFALL_API_KEY" in str(caught.value)
    assert key not in str(caught.value)
    assert pipeline.plan(project, env={"LUMENFALL_API_KEY": "another-key-value"}).shots


# -- requests that cannot work are refused before anything is paid for ---------------------

UNWORKABLE_HEAD = """\
version: 1
defaults: {provider: lumenfall, duration: 5}
references:
  keeper: refs/keeper.png
shots:
  - id: one
    prompt: The keeper @keeper waits
"""


@pytest.mark.parametrize(
    ("shot", "where", "message"),
    [
        ("prompt: ''", "film.yaml:9:13: shots[1].prompt", "got an empty prompt"),
        ("prompt: \"{{ '  ' }}\"", "film.yaml:9:13: shots[1].prompt", "got an empty prompt"),
        ("prompt: x\n    trim: {end: .inf}", "film.yaml:10:17: shots[1].trim.end", "got inf"),
        ("prompt: x\n    trim: {end: 7}", "film.yaml:10:17: shots[1].trim.end", "expected at most 5"),
        ("prompt: x\n    trim: {start: 5}", "film.yaml:10:19: shots[1].trim.start", "leaves nothing"),
        (
            "prompt: x\n    trim: {end: 2}\n    transition: {type: crossfade, duration: 3}",
            "film.yaml:11:45: shots[1].transition.duration",
            'shot "two" shows 2 s, but the transitions and fades at its edges need 3 s + 0 s',
        ),
        (
            "prompt: x\n    params: {strength: .nan}",
            "film.yaml:10:13: shots[1].params",
            "params.strength is not a finite number",
        ),
        (
            "prompt: x\n    params: {curve: [0, -.inf]}",
            "film.yaml:10:13: shots[1].params",
            "params.curve[1] is not a finite number",
        ),
    ],
    ids=["empty", "blank", "trim-inf", "trim-past-end", "trim-nothing", "crossfade", "nan", "inf"],
)
def test_a_request_that_cannot_work_is_refused_with_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shot: str, where: str, message: str
) -> None:
    write_project(tmp_path, UNWORKABLE_HEAD + "  - id: two\n    " + shot + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoryboardError) as info:
        pipeline.plan(Path("film.yaml"), env={})
    [problem] = info.value.problems
    assert str(problem).startswith(where + ": "), str(problem)
    assert message in problem.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "'refs/keeper.png' is an empty file (0 bytes); expected an image"),
        (b"GIF is what I am not\n", "'refs/keeper.png' is not an image file"),
    ],
    ids=["empty", "text"],
)
def test_an_image_reference_that_is_no_image_is_refused_where_declared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    write_project(tmp_path, UNWORKABLE_HEAD)
    (tmp_path / "refs" / "keeper.png").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoryboardError) as info:
        pipeline.plan(Path("film.yaml"), env={})
    [problem] = info.value.problems
    assert str(problem).startswith("film.yaml:4:11: references.keeper: " + message), str(problem)

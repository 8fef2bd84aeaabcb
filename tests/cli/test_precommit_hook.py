"""The pre-commit hooks of this repository, run by the real ``pre-commit try-repo`` in a scratch
repository holding a CI workflow, a compose file, a storyboard with an include part, and a
broken storyboard: storyboards and parts are checked, other YAML is left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git"),
]

WORKFLOW = """\
name: CI
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}]
"""
COMPOSE = 'version: "3"\nservices:\n  web: {image: nginx}\n'
FILM = """\
version: 1
include: [parts/act.yaml]
templates:
  wide: {camera: {shot: wide}}
shots:
  - {id: opening, prompt: The sea at dawn}
"""
PART = "shots:\n  - {id: quay, use: wide, prompt: The quay}\n"
BROKEN = "version: 1\nshots:\n  - {id: storm, prompt: Waves, camera: {move: zoom_sideways}}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    files = {
        ".github/workflows/ci.yml": WORKFLOW,
        "docker-compose.yaml": COMPOSE,
        "film.yaml": FILM,
        "parts/act.yaml": PART,
        "broken.yaml": BROKEN,
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    return repo


def try_repo(repo: Path, hook: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(home),
        "PRE_COMMIT_COLOR": "never",
    }
    return subprocess.run(
        [str(BIN / "pre-commit"), "try-repo", str(ROOT), hook, "--all-files", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_hook_checks_storyboards_and_parts_and_leaves_other_yaml_alone(
    repo: Path, tmp_path: Path
) -> None:
    # The system hook runs the shotlist installed here: no package index needed.
    run = try_repo(repo, "shotlist-validate-system", tmp_path / "home")

    assert run.returncode == 1, run.stdout + run.stderr
    assert (
        'error: broken.yaml:3:47: shots[0].camera.move: expected a camera move, got "zoom_sideways";'
        ' did you mean "zoom_in"?'
    ) in run.stdout
    assert run.stdout.count("ok film.yaml: 2 shots") == 1
    for other in ("ci.yml", "docker-compose", "act.yaml"):
        assert other not in run.stdout


def test_a_broken_part_fails_through_the_storyboard_that_includes_it(repo: Path, tmp_path: Path) -> None:
    (repo / "broken.yaml").unlink()
    (repo / "parts" / "act.yaml").write_text(PART.replace("use: wide", "use: wides"), encoding="utf-8")
    git(repo, "add", "-A")

    run = try_repo(repo, "shotlist-validate-system", tmp_path / "home")

    assert run.returncode == 1, run.stdout + run.stderr
    assert 'error: parts/act.yaml:2:21: shots[0].use: unknown template "wides"; did you mean "wide"?' in (
        run.stdout
    )


def test_the_hook_passes_once_the_storyboards_are_fixed(repo: Path, tmp_path: Path) -> None:
    (repo / "broken.yaml").write_text(BROKEN.replace("zoom_sideways", "zoom_in"), encoding="utf-8")
    git(repo, "add", "-A")

    run = try_repo(repo, "shotlist-validate-system", tmp_path / "home")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok broken.yaml: 1 shot" in run.stdout


def test_the_python_hook_installs_shotlist_and_checks_the_same(repo: Path, tmp_path: Path) -> None:
    """What another repository gets from ``repo: .../shotlist`` with ``id: shotlist-validate``."""
    run = try_repo(repo, "shotlist-validate", tmp_path / "home")

    if run.returncode == 3 and "No matching distribution" in run.stdout + run.stderr:
        pytest.skip("pre-commit's own environment needs a package index, and none is reachable")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "error: broken.yaml:3:47: shots[0].camera.move" in run.stdout
    assert "ok film.yaml: 2 shots" in run.stdout
    assert "ci.yml" not in run.stdout

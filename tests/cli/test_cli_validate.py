"""``shotlist validate`` and ``shotlist init`` as a user runs them: exit codes, the exact
lines on stderr, and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

WriteStoryboard = Callable[..., Path]
RunCli = Callable[..., Result]

VALID = """\
version: 1
shots:
  - id: sunrise
    prompt: The sun rises over a quiet fishing village
  - id: market
    prompt: Villagers set up a fish market on the quay
"""

BROKEN = """\
version: 1
shots:
  - id: sunrise
    prompt: The sun rises
    duration: five
  - id: sunrise
    promt: Villagers set up a market
"""
BROKEN_LINES = [
    'error: bad.yaml:5:15: shots[0].duration: expected seconds as a number between 1 and 60, got "five"',
    'error: bad.yaml:6:5: shots[1]: required field "prompt" is missing',
    'error: bad.yaml:6:9: shots[1].id: duplicate shot id "sunrise" (first used on line 3);'
    " ids must be unique",
    'error: bad.yaml:7:5: shots[1].promt: unknown field; did you mean "prompt"?',
]


def assert_no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output
        assert "Error:" not in output.replace("error:", "")


# -- in-process -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (BROKEN, BROKEN_LINES),
        ("", ['error: bad.yaml: file is empty; a storyboard needs "version: 1" and a list of shots']),
        (
            "version: 1\nshots:\n\t- id: a\n",
            ["error: bad.yaml:3:1: invalid YAML: a tab character; YAML is indented with spaces"],
        ),
        (
            "version: 3\nshots: []\n",
            ["error: bad.yaml:1:10: version: unsupported format version 3; this shotlist reads version 1"],
        ),
        (
            "version: 1\nshots:\n  - {id: a, prompt: \"{{ ''.__class__ }}\"}\n",
            [
                "error: bad.yaml:3:21: shots[0].prompt: not allowed in a template:"
                " access to attribute '__class__' of 'str' object is unsafe"
            ],
        ),
        (
            "version: 1\nshots:\n  - {id: a, prompt: x, camera: {move: dolly-inn}}\n",
            [
                "error: bad.yaml:3:39: shots[0].camera.move: expected a camera move, got"
                ' "dolly-inn"; did you mean "dolly_in"?'
            ],
        ),
    ],
    ids=["several-problems", "empty", "tab", "version", "sandbox", "camera"],
)
def test_validate_broken_storyboard_prints_one_line_per_problem_and_exits_1(
    write_storyboard: WriteStoryboard, run_cli: RunCli, text: str, lines: list[str]
) -> None:
    write_storyboard(text, "bad.yaml")
    result = run_cli("validate", "bad.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == lines
    assert result.stdout == ""
    assert_no_traceback(result.stdout, result.stderr)


def test_validate_binary_file_exits_1(write_storyboard: WriteStoryboard, run_cli: RunCli) -> None:
    write_storyboard(b"\x00\x01GIF89a", "bad.yaml")
    result = run_cli("validate", "bad.yaml")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: bad.yaml: is a binary file, not a YAML storyboard\n",
    )


def test_validate_missing_file_exits_1(write_storyboard: WriteStoryboard, run_cli: RunCli) -> None:
    result = run_cli("validate", "nowhere.yaml")
    assert (result.exit_code, result.stderr) == (1, "error: nowhere.yaml: file not found\n")


def test_validate_valid_storyboard_says_ok_and_exits_0(
    write_storyboard: WriteStoryboard, run_cli: RunCli
) -> None:
    write_storyboard(VALID)
    result = run_cli("validate", "film.yaml")
    assert result.exit_code == 0
    assert result.stdout == "ok film.yaml: 2 shots\n"
    assert result.stderr == ""


def test_validate_several_files_reports_each_and_fails_if_any_fails(
    write_storyboard: WriteStoryboard, run_cli: RunCli
) -> None:
    write_storyboard(VALID)
    write_storyboard(BROKEN, "bad.yaml")
    result = run_cli("validate", "film.yaml", "bad.yaml")
    assert result.exit_code == 1
    assert result.stdout == "ok film.yaml: 2 shots\n"
    assert result.stderr.splitlines() == BROKEN_LINES


def test_validate_uses_command_line_vars(write_storyboard: WriteStoryboard, run_cli: RunCli) -> None:
    write_storyboard('version: 1\nshots:\n  - {id: a, prompt: "{{ who }} waves", duration: "{{ d }}"}\n')
    result = run_cli("validate", "film.yaml", "--var", "who=the keeper", "--var", "d=3")
    assert (result.exit_code, result.stdout) == (0, "ok film.yaml: 1 shot\n")
    too_long = run_cli("validate", "film.yaml", "--var", "who=the keeper", "--var", "d=300")
    assert too_long.exit_code == 1
    assert too_long.stderr == (
        "error: film.yaml:3:50: shots[0].duration: expected seconds as a number between 1 and 60, got 300\n"
    )


@pytest.mark.parametrize(
    "args",
    [("validate",), ("validate", "--nope", "film.yaml"), ("validatee", "film.yaml"), ("validate", "--var")],
    ids=["missing-argument", "unknown-option", "unknown-command", "option-without-value"],
)
def test_wrong_usage_exits_2(
    write_storyboard: WriteStoryboard, run_cli: RunCli, args: tuple[str, ...]
) -> None:
    write_storyboard(VALID)
    result = run_cli(*args)
    assert result.exit_code == 2
    assert_no_traceback(result.stdout, result.stderr)


# -- real processes -------------------------------------------------------------------------------


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE")}
    env["NO_COLOR"] = "1"
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


SHOTLIST = [str(Path(sys.executable).with_name("shotlist"))]
PYTHON_M = [sys.executable, "-m", "shotlist"]


@pytest.mark.e2e
@pytest.mark.parametrize("command", [SHOTLIST, PYTHON_M], ids=["console-script", "python-m"])
def test_validate_in_a_real_process(
    write_storyboard: WriteStoryboard, tmp_path: Path, command: list[str]
) -> None:
    write_storyboard(BROKEN, "bad.yaml")
    write_storyboard(VALID)
    bad = _run([*command, "validate", "bad.yaml"], tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == BROKEN_LINES
    assert_no_traceback(bad.stdout, bad.stderr)
    good = _run([*command, "validate", "film.yaml"], tmp_path)
    assert (good.returncode, good.stdout, good.stderr) == (0, "ok film.yaml: 2 shots\n", "")


def test_wrong_usage_in_a_real_process_exits_2(tmp_path: Path) -> None:
    result = _run([*SHOTLIST, "validate", "--nope"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result.stdout, result.stderr)


# -- init -----------------------------------------------------------------------------------------


def test_init_creates_a_project_that_validates_and_plans(tmp_path: Path, run_cli: RunCli) -> None:
    project = tmp_path / "film"
    created = run_cli("init", project)
    assert created.exit_code == 0, created.stderr
    storyboard = project / "storyboard.yaml"
    assert storyboard.read_text(encoding="utf-8").startswith(
        "# yaml-language-server: $schema=./storyboard.schema.json\n"
    )
    assert (project / "storyboard.schema.json").is_file()
    assert (project / "refs").is_dir()
    assert ".shotlist/" in (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    validated = run_cli("validate", storyboard)
    assert (validated.exit_code, validated.stderr) == (0, "")
    assert validated.stdout == f"ok {storyboard}: 4 shots\n"
    planned = run_cli("plan", storyboard, "--json")
    assert (planned.exit_code, planned.stderr) == (0, "")


def test_init_refuses_to_overwrite_a_storyboard(tmp_path: Path, run_cli: RunCli) -> None:
    project = tmp_path / "film"
    project.mkdir()
    (project / "storyboard.yaml").write_text("mine\n", encoding="utf-8")
    result = run_cli("init", project)
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: {project / 'storyboard.yaml'} already exists; init does not overwrite it\n"
    )
    assert (project / "storyboard.yaml").read_text(encoding="utf-8") == "mine\n"
    assert sorted(p.name for p in project.iterdir()) == ["storyboard.yaml"]


# -- hostile files: one line, exit 1, no hang ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\nshots: &a [*a]\n", "error: bad.yaml:2:8: shots: an alias that contains itself"),
        ("version: 1\nm: &m\n  k: *m\nshots: []\n", "error: bad.yaml:2:4: m: an alias that contains itself"),
        ("version: 1\nm: &m\n  <<: *m\nshots: []\n", "error: bad.yaml:2:4: m: an alias that contains itself"),
        (
            "version: 1\nshots: " + "[" * 5000 + "]" * 5000 + "\n",
            "error: bad.yaml: invalid YAML: nested too deeply (at most 100 levels of lists and mappings)",
        ),
        (
            "version: 1\nshots: " + "[" * 150 + "]" * 150 + "\n",
            "error: bad.yaml:2:108: shots[0][0]: nested too deeply"
            " (at most 100 levels of lists and mappings)",
        ),
    ],
    ids=["alias-list", "alias-map", "alias-merge", "deep-flow", "deep-but-parseable"],
)
def test_a_yaml_that_never_ends_is_one_line(
    write_storyboard: WriteStoryboard, run_cli: RunCli, text: str, line: str
) -> None:
    write_storyboard(text, "bad.yaml")
    result = run_cli("validate", "bad.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(line), result.stderr
    assert_no_traceback(result.stdout, result.stderr)


def test_special_files_are_refused_without_reading_them(
    write_storyboard: WriteStoryboard, run_cli: RunCli, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    write_storyboard("version: 1\ninclude: [pipe.yaml]\nshots: [{id: a, prompt: x}]\n", "film.yaml")
    (tmp_path / "huge.yaml").write_bytes(b"#" * 10_000_001)

    runs = {name: run_cli("validate", name) for name in ("/dev/zero", "pipe.yaml", "film.yaml", "huge.yaml")}

    assert {name: run.exit_code for name, run in runs.items()} == dict.fromkeys(runs, 1)
    assert runs["/dev/zero"].stderr == (
        "error: /dev/zero: is a device, not a regular file; a storyboard is a file\n"
    )
    fifo = "error: pipe.yaml: is a FIFO, not a regular file; a storyboard is a file\n"
    assert runs["pipe.yaml"].stderr == fifo
    assert runs["film.yaml"].stderr == fifo
    assert runs["huge.yaml"].stderr == "error: huge.yaml: is 10.0 MB; a storyboard holds at most 10 MB\n"


def test_a_part_included_twice_is_named_at_the_second_include(
    write_storyboard: WriteStoryboard, run_cli: RunCli
) -> None:
    write_storyboard("templates: {close: {duration: 4}}\nshots: [{id: shared, prompt: x}]\n", "part.yaml")
    write_storyboard("include: [part.yaml]\n", "scene.yaml")
    write_storyboard("version: 1\ninclude: [scene.yaml, part.yaml]\nshots: [{id: a, prompt: x}]\n")

    result = run_cli("validate", "film.yaml")

    assert result.exit_code == 1
    assert result.stderr == (
        'error: scene.yaml:1:11: include[0]: "part.yaml" is already included (film.yaml:2); '
        "include a file once\n"
    )


def test_an_unreadable_storyboard_is_a_storyboard_error_exit_1(
    write_storyboard: WriteStoryboard, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_storyboard(VALID)
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "film.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)  # the tests may run as root, whom chmod cannot stop
    for command in ("validate", "plan", "render"):
        result = run_cli(command, "film.yaml")
        assert result.exit_code == 1, command
        assert result.stderr == "error: film.yaml: cannot be read (Permission denied)\n"

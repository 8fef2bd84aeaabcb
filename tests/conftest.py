"""Fixtures shared by every test module: small and generic on purpose.

Helpers that only one module needs live in that module.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

WriteStoryboard = Callable[..., Path]
RunCli = Callable[..., Result]


@pytest.fixture
def write_storyboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteStoryboard:
    """``write_storyboard(text, name="film.yaml")`` writes a file under ``tmp_path`` and
    returns its path relative to it; the test runs in ``tmp_path``, so messages name the
    file as a user would see it (``film.yaml:3:5: ...``). Text is dedented; bytes are
    written as they are."""
    monkeypatch.chdir(tmp_path)

    def write(text: str | bytes, name: str = "film.yaml") -> Path:
        path = Path(name)
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (tmp_path / path).write_bytes(text)
        else:
            (tmp_path / path).write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_cli() -> RunCli:
    """``run_cli("validate", "film.yaml")`` runs the command line in-process; the result
    has ``exit_code``, ``stdout`` and ``stderr`` apart."""
    from shotlist.cli.app import app

    runner = CliRunner()

    def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        argv: Sequence[str] = [str(a) for a in args]
        return runner.invoke(app, argv, env=env)

    return run

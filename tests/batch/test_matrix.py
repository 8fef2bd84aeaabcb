"""Batches (``--matrix rows.csv``): what a table of rows must look like, and the one line a
user gets when it does not (exit 1, usage mistakes exit 2, never a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunCli, WriteStoryboard

from shotlist.batch.matrix import read_rows
from shotlist.errors import ConfigError
from shotlist.storyboard.expand import template_variables

FILM = """\
version: 1
vars: {name: Ana}
defaults: {provider: local, duration: 1, seed: 3}
shots:
  - {id: open, prompt: The sea at dawn}
  - id: "look-{{ side }}"
    each: {side: [left, right]}
    prompt: "{{ name }} looks {{ side }} at the {{ product }}"
cut: {size: 320x180, fps: 12, output: "out/{{ name }}.mp4"}
"""


def test_the_variables_a_column_may_set_are_the_declared_and_the_used_not_loop_variables() -> None:
    import yaml

    assert template_variables(yaml.safe_load(FILM)) == {"name", "product"}


def test_rows_are_read_as_var_values(tmp_path: Path) -> None:
    rows_csv = tmp_path / "rows.csv"
    rows_csv.write_text("name,product\nAna,tea\n\nBo, 3\n", encoding="utf-8")
    rows = read_rows(rows_csv, frozenset({"name", "product"}))
    assert [(r.number, dict(r.values)) for r in rows] == [
        (1, {"name": "Ana", "product": "tea"}),
        (2, {"name": "Bo", "product": 3}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty; expected a header row of variable names, then rows"),
        ("name,product\n", "a header but no rows"),
        (
            "name,prodcut\nAna,tea\n",
            "column 'prodcut' is not a variable of the storyboard; did you mean \"product\"?",
        ),
        (
            "name,colour\nAna,red\n",
            "column 'colour' is not a variable of the storyboard; variables: name, product",
        ),
        ("name,name\nAna,Bo\n", "column 'name' appears twice"),
        ("name,product\nAna\n", "row 1 has 1 values, the header names 2"),
        ('name,product\n"Ana,tea\n', "not valid CSV (unexpected end of data)"),
    ],
)
def test_a_bad_table_is_one_line_saying_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    rows_csv = tmp_path / "rows.csv"
    rows_csv.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_rows(rows_csv, frozenset({"name", "product"}))
    assert str(caught.value) == f"--matrix: {rows_csv}: {message}"


def test_a_bad_table_through_the_cli_exits_1_with_one_line(
    write_storyboard: WriteStoryboard, run_cli: RunCli
) -> None:
    write_storyboard(FILM)
    write_storyboard("name,prodcut\nAna,tea\n", "rows.csv")
    for command in ("plan", "render"):
        result = run_cli(command, "film.yaml", "--matrix", "rows.csv")
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            "error: --matrix: rows.csv: column 'prodcut' is not a variable of the storyboard; "
            'did you mean "product"?'
        ]


def test_rows_that_write_the_same_cut_are_refused(write_storyboard: WriteStoryboard, run_cli: RunCli) -> None:
    write_storyboard(FILM.replace('output: "out/{{ name }}.mp4"', "output: out/film.mp4"))
    write_storyboard("name,product\nAna,tea\nBo,tea\n", "rows.csv")
    result = run_cli("plan", "film.yaml", "--matrix", "rows.csv")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("error: --matrix: row 1 and row 2 both write ")
    assert 'make cut.output depend on a column, e.g. cut.output: "out/{{ name }}.mp4"' in result.stderr


def test_a_missing_table_and_usage_mistakes(write_storyboard: WriteStoryboard, run_cli: RunCli) -> None:
    write_storyboard(FILM)
    missing = run_cli("render", "film.yaml", "--matrix", "nope.csv")
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == ["error: --matrix: nope.csv: no such file"]
    alone = run_cli("render", "film.yaml", "--cluster", "local")
    assert alone.exit_code == 2
    assert "a cluster runs a batch: add --matrix ROWS.CSV" in " ".join(alone.stderr.replace("│", " ").split())
    write_storyboard("name,product\nAna,tea\n", "rows.csv")
    with_only = run_cli("render", "film.yaml", "--matrix", "rows.csv", "--only", "open")
    assert with_only.exit_code == 2
    words = " ".join(with_only.stderr.replace("│", " ").split())
    assert "-o, --only and --no-stitch do not go with --matrix" in words


def test_a_bad_cache_url_through_the_cli_exits_1_with_one_line(
    write_storyboard: WriteStoryboard, run_cli: RunCli
) -> None:
    write_storyboard(FILM)
    result = run_cli("plan", "film.yaml", "--cache", "gs://bucket/films", "--var", "product=tea")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: cache URL 'gs://bucket/films' is not supported; use s3://bucket/prefix (or file:///shared/folder)"
    ]


def test_without_the_ray_extra_the_error_names_it(
    write_storyboard: WriteStoryboard, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    write_storyboard(FILM)
    write_storyboard("name,product\nAna,tea\n", "rows.csv")
    result = run_cli("render", "film.yaml", "--matrix", "rows.csv", "--cluster", "local")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: --cluster needs the ray extra: pip install 'shotlist[ray]' (ray is missing)"
    ]

"""Booleans are read as YAML 1.2 reads them (as editors and JSON Schema tools do)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist.errors import StoryboardError
from shotlist.storyboard.loader import load_storyboard
from shotlist.storyboard.source import load_plain, load_yaml


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml_11_words_are_text(word: str) -> None:
    document, _ = load_yaml(f"a: {word}\n{word}: 1\n", "f.yaml")
    assert document == {"a": word, word: 1}
    assert load_plain(f"a: {word}") == {"a": word}


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("TRUE", True)])
def test_true_and_false_are_booleans(text: str, value: bool) -> None:
    assert load_yaml(f"a: {text}\n", "f.yaml")[0] == {"a": value}


def test_yes_for_a_boolean_field_is_an_error_as_in_the_schema(tmp_path: Path) -> None:
    film = tmp_path / "film.yaml"
    film.write_text("version: 1\ndefaults: {generate_audio: yes}\nshots:\n  - {id: a, prompt: hi}\n")
    with pytest.raises(StoryboardError) as caught:
        load_storyboard(film)
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (2, "defaults.generate_audio")
    assert problem.message == 'expected true or false, got "yes"'

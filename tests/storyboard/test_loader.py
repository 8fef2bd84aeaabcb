"""Broken storyboards and the exact lines a user reads about them.

Every message is asserted word for word: ``file:line:column: field.path: message``.
A storyboard with several problems reports them all at once, in line order.
"""

# Each expected message stays on one line, as the user reads it.
# ruff: noqa: E501

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shotlist.errors import StoryboardError
from shotlist.storyboard.loader import load_storyboard, parse_var_overrides

Errors = Callable[..., list[str]]


@pytest.fixture
def errors(write_storyboard: Callable[..., Path]) -> Errors:
    """``errors(text)``: the lines of the StoryboardError that loading ``text`` raises."""

    def load(text: str | bytes, name: str = "film.yaml") -> list[str]:
        path = write_storyboard(text, name)
        with pytest.raises(StoryboardError) as info:
            load_storyboard(path)
        problems = info.value.problems
        assert list(problems) == sorted(problems), "problems must come in line order"
        return str(info.value).splitlines()

    return load


# -- wrong types and values ---------------------------------------------------------------------


def test_wrong_type_names_file_line_column_and_field(errors: Errors) -> None:
    assert errors(
        """\
        # yaml-language-server: $schema=schemas/storyboard.schema.json
        version: 1
        title: Storm
        shots:
          - id: one
            prompt: A cliff at dusk
          - id: two
            prompt: Waves break below
            duration: 4
          - id: three
            prompt: The keeper climbs
            camera:
              move: static
            duration: five
        """
    ) == ['film.yaml:14:15: shots[2].duration: expected seconds as a number between 1 and 60, got "five"']


def test_every_problem_of_a_file_is_reported_at_once_in_line_order(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        cut: {fps: 500}
        shots:
          - id: a
            prompt: x
            duration: 0
          - id: b
            promt: y
        defaults:
          seed: -5
        """
    ) == [
        "film.yaml:2:12: cut.fps: expected frames per second as a whole number between 1 and 120, got 500",
        "film.yaml:6:15: shots[0].duration: expected seconds as a number between 1 and 60, got 0",
        'film.yaml:7:5: shots[1]: required field "prompt" is missing',
        'film.yaml:8:5: shots[1].promt: unknown field; did you mean "prompt"?',
        "film.yaml:10:9: defaults.seed: expected a whole number between 0 and 4294967295, got -5",
    ]


def test_out_of_range_numbers_say_the_range(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        defaults:
          duration: 70
        shots:
          - id: a
            prompt: x
            seed: 4294967296
            transition: {type: crossfade, duration: 11}
        soundtrack:
          volume: 20
        cut:
          loudness: 0
          fade_out: -1
        """
    ) == [
        "film.yaml:3:13: defaults.duration: expected seconds as a number between 1 and 60, got 70",
        "film.yaml:7:11: shots[0].seed: expected a whole number between 0 and 4294967295, got 4294967296",
        "film.yaml:8:45: shots[0].transition.duration: expected seconds as a number between 0 and 10, got 11",
        "film.yaml:10:11: soundtrack.volume: expected decibels as a number between -60 and 12, got 20",
        "film.yaml:12:13: cut.loudness: expected integrated loudness in LUFS between -70 and -5, got 0",
        "film.yaml:13:13: cut.fade_out: expected seconds as a number between 0 and 10, got -1",
    ]


def test_values_of_the_wrong_kind_say_what_was_expected(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: [a, list]
            generate_audio: yes please
            seed: 1.5
            camera: pan_left
            params: 5
            images: "@keeper"
            dialogue: [1]
        """
    ) == [
        "film.yaml:4:13: shots[0].prompt: expected text, got a list",
        'film.yaml:5:21: shots[0].generate_audio: expected true or false, got "yes please"',
        "film.yaml:6:11: shots[0].seed: expected a whole number between 0 and 4294967295, got 1.5",
        'film.yaml:7:13: shots[0].camera: expected a mapping with move, speed, shot and angle, got "pan_left"',
        "film.yaml:8:13: shots[0].params: expected a mapping of provider-specific fields, got 5",
        "film.yaml:9:13: shots[0].images: expected a list of image references"
        ' (@name, a path or an https URL), got "@keeper"',
        "film.yaml:10:16: shots[0].dialogue[0]: expected text, got 1",
    ]


def test_sections_that_are_not_mappings_say_what_they_hold(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        defaults: 5
        shots:
          - id: a
            prompt: x
            trim: 3
        soundtrack: loud
        cut: [a]
        """
    ) == [
        "film.yaml:2:11: defaults: expected a mapping of shot fields, got 5",
        "film.yaml:6:11: shots[0].trim: expected a mapping with start and end in seconds, got 3",
        'film.yaml:7:13: soundtrack: expected a mapping with music, volume and duck, got "loud"',
        "film.yaml:8:6: cut: expected a mapping of cut fields (output, size, fps, ...), got a list",
    ]


# -- unknown keys ---------------------------------------------------------------------------------


def test_unknown_key_suggests_nearest_field(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            promt: y
        """
    ) == ['film.yaml:5:5: shots[0].promt: unknown field; did you mean "prompt"?']


def test_unknown_key_without_near_match_lists_the_valid_fields(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            camera: {move: static, zzz: 1}
        """
    ) == ["film.yaml:5:28: shots[0].camera.zzz: unknown field; valid fields are move, speed, shot, angle"]


def test_unknown_key_suggestions_at_every_level(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        titel: x
        defaults: {provder: fal}
        shots:
          - id: a
            prompt: x
            trim: {stat: 1}
        cut: {fsp: 24}
        soundtrack: {duk: true}
        """
    ) == [
        'film.yaml:2:1: titel: unknown field; did you mean "title"?',
        'film.yaml:3:12: defaults.provder: unknown field; did you mean "provider"?',
        'film.yaml:7:12: shots[0].trim.stat: unknown field; did you mean "start"?',
        'film.yaml:8:7: cut.fsp: unknown field; did you mean "fps"?',
        'film.yaml:9:14: soundtrack.duk: unknown field; did you mean "duck"?',
    ]


def test_misspelled_shots_key_is_both_unknown_and_missing(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shot:
          - id: a
            prompt: x
        """
    ) == [
        'film.yaml:1:1: required field "shots" is missing',
        'film.yaml:2:1: shot: unknown field; did you mean "shots"?',
    ]


# -- vocabularies ---------------------------------------------------------------------------------


def test_unknown_camera_words_suggest_the_nearest(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            camera:
              move: dolly-inn
              speed: slo
              shot: closeup
              angle: lowe
        """
    ) == [
        'film.yaml:6:13: shots[0].camera.move: expected a camera move, got "dolly-inn"; did you mean "dolly_in"?',
        'film.yaml:7:14: shots[0].camera.speed: expected one of slow, medium, fast, got "slo"; did you mean "slow"?',
        'film.yaml:8:13: shots[0].camera.shot: expected a shot size, got "closeup"; did you mean "close_up"?',
        'film.yaml:9:14: shots[0].camera.angle: expected a camera angle, got "lowe"; did you mean "low"?',
    ]


def test_camera_word_without_near_match_lists_the_vocabulary(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            camera: {speed: warp, angle: sideways}
        """
    ) == [
        'film.yaml:5:21: shots[0].camera.speed: expected one of slow, medium, fast, got "warp"',
        "film.yaml:5:34: shots[0].camera.angle: expected one of eye_level, low, high, overhead, dutch,"
        ' got "sideways"',
    ]


def test_bad_enum_values_name_the_choices_and_the_nearest(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        defaults:
          provider: lumenfal
          resolution: 8K
        shots:
          - id: a
            prompt: x
            transition: {type: crossfad}
        cut:
          fit: fil
        """
    ) == [
        "film.yaml:3:13: defaults.provider: expected one of local, lumenfall, fal, ark, replicate,"
        ' got "lumenfal"; did you mean "lumenfall"?',
        'film.yaml:4:15: defaults.resolution: expected one of 480p, 720p, 1080p, 1K, 2K, 4K, got "8K"',
        'film.yaml:8:24: shots[0].transition.type: expected a transition type, got "crossfad";'
        ' did you mean "crossfade"?',
        'film.yaml:10:8: cut.fit: expected one of fit, fill, letterbox, stretch, got "fil"; did you mean "fill"?',
    ]


# -- shot ids -------------------------------------------------------------------------------------


def test_duplicate_shot_id_names_the_first_use(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: harbour
            prompt: x
          - id: harbour
            prompt: y
        """
    ) == [
        'film.yaml:5:9: shots[1].id: duplicate shot id "harbour" (first used on line 3); ids must be unique'
    ]


def test_shot_ids_differing_only_in_case_collide(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: Harbour
            prompt: x
          - id: harbour
            prompt: y
        """
    ) == [
        'film.yaml:5:9: shots[1].id: shot id "harbour" differs only in case from "Harbour" (line 3);'
        " ids must be unique ignoring case"
    ]


_ID_RULE = (
    "expected a shot id of at most 80 letters, digits, '.', '_' or '-', starting with a letter or digit"
)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('"my shot"', f'{_ID_RULE}, got "my shot"'),
        ("a/b", f'{_ID_RULE}, got "a/b"'),
        ("'..'", f'{_ID_RULE}, got ".."'),
        (".hidden", f'{_ID_RULE}, got ".hidden"'),
        ('""', f'{_ID_RULE}, got ""'),
        ("x" * 81, f'{_ID_RULE}, got "{"x" * 37}..."'),
        ("7", f"{_ID_RULE}, got 7"),
        ("CON", '"CON" is not safe as a file name on every system; choose another id'),
        ("nul.txt", '"nul.txt" is not safe as a file name on every system; choose another id'),
        ("com1", '"com1" is not safe as a file name on every system; choose another id'),
        ("end.", '"end." is not safe as a file name on every system; choose another id'),
    ],
)
def test_ids_unsafe_as_file_names_are_refused(errors: Errors, written: str, message: str) -> None:
    assert errors(f"version: 1\nshots:\n  - id: {written}\n    prompt: x\n") == [
        f"film.yaml:3:9: shots[0].id: {message}"
    ]


def test_id_problems_come_with_the_other_problems(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            duration: long
          - id: a
            prompt: y
        """
    ) == [
        'film.yaml:5:15: shots[0].duration: expected seconds as a number between 1 and 60, got "long"',
        'film.yaml:6:9: shots[1].id: duplicate shot id "a" (first used on line 3); ids must be unique',
    ]


# -- the document as a whole ----------------------------------------------------------------------


def test_duplicate_yaml_keys_name_the_first(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        title: One
        shots:
          - id: a
            prompt: x
            prompt: y
        title: Two
        """
    ) == [
        'film.yaml:6:5: shots[0].prompt: duplicate key "prompt" (first given on line 5)',
        'film.yaml:7:1: title: duplicate key "title" (first given on line 2)',
    ]


def test_empty_shot_list(errors: Errors) -> None:
    assert errors("version: 1\nshots: []\n") == [
        "film.yaml:2:8: shots: expected a non-empty list of shots, got an empty list"
    ]


def test_shots_that_are_not_a_list(errors: Errors) -> None:
    assert errors("version: 1\nshots: {id: a, prompt: x}\n") == [
        "film.yaml:2:8: shots: expected a non-empty list of shots, got a mapping"
    ]


def test_a_shot_that_is_not_a_mapping(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - opening\n  - [a, b]\n") == [
        'film.yaml:3:5: shots[0]: expected a shot: a mapping with at least id and prompt, got "opening"',
        "film.yaml:4:5: shots[1]: expected a shot: a mapping with at least id and prompt, got a list",
    ]


def test_missing_shots(errors: Errors) -> None:
    assert errors("version: 1\ntitle: Nothing yet\n") == ['film.yaml:1:1: required field "shots" is missing']


def test_missing_required_shot_fields(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - duration: 3\n") == [
        'film.yaml:3:5: shots[0]: required field "id" is missing',
        'film.yaml:3:5: shots[0]: required field "prompt" is missing',
    ]


def test_missing_version(errors: Errors) -> None:
    assert errors("title: x\nshots:\n  - id: a\n    prompt: x\n") == [
        'film.yaml:1:1: required field "version" is missing; add "version: 1" at the top'
    ]


def test_unsupported_version(errors: Errors) -> None:
    assert errors("version: 2\nshots:\n  - id: a\n    prompt: x\n") == [
        "film.yaml:1:10: version: unsupported format version 2; this shotlist reads version 1"
    ]


def test_version_written_as_a_string(errors: Errors) -> None:
    assert errors('version: "1"\nshots:\n  - id: a\n    prompt: x\n') == [
        'film.yaml:1:10: version: unsupported format version "1"; this shotlist reads version 1'
    ]


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("- id: a\n  prompt: x\n", "a list"),
        ("just a sentence\n", '"just a sentence"'),
        ("42\n", "42"),
    ],
)
def test_document_that_is_not_a_mapping(errors: Errors, text: str, got: str) -> None:
    assert errors(text) == [
        f"film.yaml:1:1: expected a mapping of storyboard fields (version, shots, ...), got {got}"
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n\n# and another\n", "---\n"])
def test_empty_file(errors: Errors, text: str) -> None:
    assert errors(text) == ['film.yaml: file is empty; a storyboard needs "version: 1" and a list of shots']


def test_binary_file(errors: Errors) -> None:
    assert errors(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == [
        "film.yaml: is a binary file, not a YAML storyboard"
    ]


def test_non_utf8_text_names_the_byte_and_where(errors: Errors) -> None:
    assert errors("version: 1\ntitle: Café\n".encode("latin-1")) == [
        "film.yaml:2:11: is not UTF-8 text (byte 0xe9 cannot be decoded)"
    ]


def test_utf8_with_a_byte_order_mark_loads(write_storyboard: Callable[..., Path]) -> None:
    path = write_storyboard("\ufeffversion: 1\nshots:\n  - id: a\n    prompt: Café\n".encode())
    assert load_storyboard(path).storyboard.shots[0].prompt == "Café"


def test_several_yaml_documents(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - id: a\n    prompt: x\n---\nversion: 1\n") == [
        "film.yaml:6:1: holds 2 YAML documents; a storyboard is one document"
    ]


def test_missing_file(errors: Errors, tmp_path: Path) -> None:
    with pytest.raises(StoryboardError) as info:
        load_storyboard(Path("nowhere.yaml"))
    assert str(info.value) == "nowhere.yaml: file not found"


def test_a_folder_is_not_a_storyboard(errors: Errors, tmp_path: Path) -> None:
    (tmp_path / "films").mkdir()
    with pytest.raises(StoryboardError) as info:
        load_storyboard(Path("films"))
    assert str(info.value) == "films: is a directory, not a storyboard file"


# -- YAML syntax ----------------------------------------------------------------------------------


def test_tab_indentation(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n\t- id: a\n") == [
        "film.yaml:3:1: invalid YAML: a tab character; YAML is indented with spaces"
    ]


def test_unclosed_quote_points_where_it_opens(errors: Errors) -> None:
    assert errors('version: 1\ntitle: "The Keeper\nshots:\n  - id: a\n    prompt: x\n') == [
        "film.yaml:2:8: invalid YAML: a quoted string that is never closed"
    ]


def test_unclosed_bracket_points_where_it_opens(errors: Errors) -> None:
    assert errors("version: 1\nshots: [{id: a, prompt: x}\n") == [
        "film.yaml:2:8: invalid YAML: a [ list that is never closed"
    ]


def test_bad_indentation(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - id: a\n   prompt: x\n") == [
        "film.yaml:4:4: invalid YAML: expected <block end>, but found '<block mapping start>'"
    ]


def test_python_tags_are_refused(errors: Errors) -> None:
    assert errors("version: 1\ntitle: !!python/object/apply:os.system [echo hi]\n") == [
        "film.yaml:2:8: invalid YAML value: could not determine a constructor"
        " for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    ]


def test_alias_bombs_are_refused(errors: Errors) -> None:
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]")
    assert errors("\n".join(lines) + "\n") == ["film.yaml:7:4: f: too many values (aliases expand too far)"]


# -- field formats --------------------------------------------------------------------------------


def test_trim_end_must_come_after_start(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            trim:
              start: 2
              end: 1.5
          - id: b
            prompt: y
            trim: {start: 3, end: 3}
        """
    ) == [
        "film.yaml:7:12: shots[0].trim.end: expected seconds as a number greater than start (2), got 1.5",
        "film.yaml:10:27: shots[1].trim.end: expected seconds as a number greater than start (3), got 3",
    ]


def test_bad_size_and_aspect_ratio(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: x
            size: 1280*720
            aspect_ratio: 16/9
        cut:
          size: big
        """
    ) == [
        'film.yaml:5:11: shots[0].size: expected a size like "1280x720" or a ratio like "16:9", got "1280*720"',
        'film.yaml:6:19: shots[0].aspect_ratio: expected an aspect ratio like "16:9", got "16/9"',
        'film.yaml:8:9: cut.size: expected a size like "1280x720", got "big"',
    ]


def test_cut_output_must_be_mp4(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - id: a\n    prompt: x\ncut:\n  output: out/film.mov\n") == [
        "film.yaml:6:11: cut.output: the cut must be an .mp4 file"
    ]


def test_reference_given_two_kinds(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        references:
          keeper: {image: refs/keeper.png, video: refs/keeper.mp4}
          empty: {}
        shots:
          - id: a
            prompt: x
        """
    ) == [
        "film.yaml:3:11: references.keeper: give exactly one of image, video or audio",
        "film.yaml:4:10: references.empty: give exactly one of image, video or audio",
    ]


def test_reference_mapping_with_an_unknown_kind(errors: Errors) -> None:
    assert errors(
        "version: 1\nreferences:\n  keeper: {imag: refs/keeper.png}\nshots:\n  - id: a\n    prompt: x\n"
    ) == ['film.yaml:3:12: references.keeper.imag: unknown field; did you mean "image"?']


def test_reference_names_must_be_usable_after_an_at_sign(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        references:
          keeper: refs/keeper.png
          old-tower: refs/tower.png
        shots:
          - id: a
            prompt: x
        """
    ) == [
        "film.yaml:4:3: references.old-tower: expected a reference name of letters, digits and '_',"
        ' not starting with a digit, got "old-tower"'
    ]


# -- templates, loops and Jinja -------------------------------------------------------------------


def test_unknown_template_suggests_the_nearest(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        templates:
          closeup: {duration: 3}
        shots:
          - id: a
            use: closup
            prompt: x
          - id: b
            use: wide_establishing
            prompt: y
        """
    ) == [
        'film.yaml:6:10: shots[0].use: unknown template "closup"; did you mean "closeup"?',
        'film.yaml:9:10: shots[1].use: unknown template "wide_establishing"; templates: closeup',
    ]


def test_template_cycle_names_the_loop(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        templates:
          a: {use: b}
          b: {use: c}
          c: {use: a}
        shots:
          - id: s
            use: a
            prompt: x
        """
    ) == ["film.yaml:5:12: templates.c.use: templates use each other in a cycle: a -> b -> c -> a"]


def test_a_template_using_itself_is_a_cycle(errors: Errors) -> None:
    assert errors("version: 1\ntemplates:\n  a: {use: a}\nshots:\n  - {id: s, use: a, prompt: x}\n") == [
        "film.yaml:3:12: templates.a.use: templates use each other in a cycle: a -> a"
    ]


def test_each_needs_a_templated_id(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: look
            each: {side: [left, right]}
            prompt: "looks {{ side }}"
        """
    ) == [
        'film.yaml:3:9: shots[0].id: must use a loop variable so each shot gets its own id, e.g. "look-{{ side }}"'
    ]


def test_each_with_an_empty_list(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: "look-{{ side }}"
            each: {side: []}
            prompt: x
          - id: "b-{{ n }}"
            each: [1, 2]
            prompt: x
        """
    ) == [
        "film.yaml:4:18: shots[0].each.side: expected a non-empty list of values",
        "film.yaml:7:11: shots[1].each: expected a mapping of loop variables to lists of values",
    ]


def test_undefined_variable_suggests_the_nearest(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        vars: {keeper: an old man}
        shots:
          - id: a
            prompt: "{{ keepr }} climbs"
          - id: b
            prompt: "{{ lighthouse }} at night"
        """
    ) == [
        'film.yaml:5:13: shots[0].prompt: undefined variable "keepr"; did you mean "keeper"?',
        'film.yaml:7:13: shots[1].prompt: undefined variable "lighthouse" (variables: keeper)',
    ]


def test_undefined_variable_in_a_loop_names_the_expanded_shot(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: "look-{{ side }}"
            each: {side: [left, right]}
            prompt: "{{ keeper }} looks {{ side }}"
        """
    ) == [
        'film.yaml:5:13: shots[0].prompt: undefined variable "keeper" (variables: side) (in shot "look-left")'
    ]


def test_jinja_syntax_error(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        shots:
          - id: a
            prompt: "{{ keeper "
          - id: b
            prompt: "{% if %}x{% endif %}"
        """
    ) == [
        "film.yaml:4:13: shots[0].prompt: template syntax error:"
        " unexpected end of template, expected 'end of print statement'",
        "film.yaml:6:13: shots[1].prompt: template syntax error: Expected an expression,"
        " got 'end of statement block'",
    ]


def test_a_field_whose_template_fails_is_reported_once(errors: Errors) -> None:
    # The raw "{{ d }}" is not a duration, but the undefined variable is the news.
    assert errors('version: 1\nshots:\n  - id: a\n    prompt: x\n    duration: "{{ d }}"\n') == [
        'film.yaml:5:15: shots[0].duration: undefined variable "d" (variables: none are defined)'
    ]


def test_when_every_shot_fails_to_expand_the_list_is_not_called_empty(errors: Errors) -> None:
    assert errors("version: 1\nshots:\n  - id: a\n    use: missing\n    prompt: x\n") == [
        'film.yaml:4:10: shots[0].use: unknown template "missing"; templates: none are defined'
    ]


def test_a_problem_inside_a_template_points_at_the_template(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        templates:
          closeup:
            duration: ten
            camera: {move: zoomin}
            duraton: 3
        shots:
          - id: a
            use: closeup
            prompt: x
          - id: b
            use: closeup
            prompt: y
        """
    ) == [
        'film.yaml:4:15: templates.closeup.duration: expected seconds as a number between 1 and 60, got "ten"',
        'film.yaml:5:20: templates.closeup.camera.move: expected a camera move, got "zoomin"; did you mean "zoom_in"?',
        'film.yaml:6:5: templates.closeup.duraton: unknown field; did you mean "duration"?',
    ]


def test_a_templated_value_in_a_template_is_checked_per_shot(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        templates:
          timed: {duration: "{{ d }}"}
        shots:
          - id: a
            use: timed
            vars: {d: 3}
            prompt: x
          - id: b
            use: timed
            vars: {d: 300}
            prompt: y
        """
    ) == ["film.yaml:3:21: shots[1].duration: expected seconds as a number between 1 and 60, got 300"]


def test_templates_that_are_not_mappings(errors: Errors) -> None:
    assert errors("version: 1\ntemplates: [closeup]\nshots:\n  - {id: a, prompt: x}\n") == [
        "film.yaml:2:12: templates: expected a mapping of template names to partial shots, got a list"
    ]
    assert errors("version: 1\ntemplates: {closeup: 5}\nshots:\n  - {id: a, prompt: x}\n") == [
        "film.yaml:2:22: templates.closeup: expected a mapping of shot fields, got 5"
    ]


def test_template_named_like_a_field_still_lists_shot_fields(errors: Errors) -> None:
    assert errors(
        "version: 1\ntemplates:\n  camera: {zzz: 1}\nshots:\n  - {id: a, use: camera, prompt: x}\n"
    )[0].startswith("film.yaml:3:12: templates.camera.zzz: unknown field; valid fields are provider, model,")


# -- includes -------------------------------------------------------------------------------------


def test_include_outside_the_folder(errors: Errors, write_storyboard: Callable[..., Path]) -> None:
    write_storyboard("shots: []\n", "../elsewhere.yaml")
    assert errors(
        "version: 1\ninclude:\n  - ../elsewhere.yaml\n  - /etc/hosts\nshots:\n  - id: a\n    prompt: x\n",
        "film/film.yaml",
    ) == [
        'film/film.yaml:3:5: include[0]: "../elsewhere.yaml" is outside the storyboard\'s folder',
        'film/film.yaml:4:5: include[1]: "/etc/hosts" is outside the storyboard\'s folder',
    ]


def test_include_of_a_missing_file(errors: Errors) -> None:
    assert errors("version: 1\ninclude: [parts/act2.yaml]\nshots:\n  - id: a\n    prompt: x\n") == [
        'film.yaml:2:11: include[0]: "parts/act2.yaml" not found'
    ]


def test_include_of_itself(errors: Errors) -> None:
    assert errors("version: 1\ninclude: [film.yaml]\nshots:\n  - id: a\n    prompt: x\n") == [
        'film.yaml:2:11: include[0]: "film.yaml" includes itself'
    ]


def test_a_problem_inside_an_included_file_points_into_it(
    errors: Errors, write_storyboard: Callable[..., Path]
) -> None:
    write_storyboard(
        """\
        templates:
          night: {durration: 3}
        shots:
          - id: arrival
            prompt: Lanterns sway
            duration: lots
        """,
        "parts/act2.yaml",
    )
    assert errors("version: 1\ninclude:\n  - parts/act2.yaml\nshots:\n  - id: a\n    prompt: x\n") == [
        'parts/act2.yaml:2:11: templates.night.durration: unknown field; did you mean "duration"?',
        'parts/act2.yaml:6:15: shots[0].duration: expected seconds as a number between 1 and 60, got "lots"',
    ]


def test_an_included_file_holds_only_shots_and_templates(
    errors: Errors, write_storyboard: Callable[..., Path]
) -> None:
    write_storyboard("version: 1\nshot: []\n", "parts/act2.yaml")
    assert errors("version: 1\ninclude: [parts/act2.yaml]\nshots:\n  - id: a\n    prompt: x\n") == [
        "parts/act2.yaml:1:1: version: unknown field; an included file holds include, shots, templates",
        'parts/act2.yaml:2:1: shot: unknown field; did you mean "shots"?',
    ]


def test_duplicate_ids_across_files_name_the_other_file(
    errors: Errors, write_storyboard: Callable[..., Path]
) -> None:
    write_storyboard("shots:\n  - id: a\n    prompt: x\n", "parts/act2.yaml")
    assert errors("version: 1\ninclude: [parts/act2.yaml]\nshots:\n  - id: a\n    prompt: y\n") == [
        'film.yaml:4:9: shots[0].id: duplicate shot id "a" (first used on parts/act2.yaml:2); ids must be unique'
    ]


# -- positions ------------------------------------------------------------------------------------


def test_positions_survive_anchors_and_merge_keys(errors: Errors) -> None:
    assert errors(
        """\
        version: 1
        templates:
          base: &base {prompt: x, duration: huge}
        shots:
          - <<: *base
            id: a
          - <<: *base
            id: b
            duration: zz
          - id: c
            prompt: x
            camera: &cam {move: moonwalk}
          - id: d
            prompt: x
            camera: *cam
        """
    ) == [
        'film.yaml:3:37: templates.base.duration: expected seconds as a number between 1 and 60, got "huge"',
        'film.yaml:9:15: shots[1].duration: expected seconds as a number between 1 and 60, got "zz"',
        "film.yaml:12:25: shots[2].camera.move: expected one of static, pan_left, pan_right, tilt_up,"
        " tilt_down, dolly_in, dolly_out, push_in, pull_out, truck_left, truck_right, pedestal_up,"
        " pedestal_down, crane_up, crane_down, orbit_left, orbit_right, zoom_in, zoom_out, handheld,"
        ' tracking, dolly_zoom, got "moonwalk"',
    ]


def test_merge_keys_build_valid_shots(write_storyboard: Callable[..., Path]) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          base: &base {prompt: shared, duration: 3}
        shots:
          - <<: *base
            id: a
          - <<: *base
            id: b
            duration: 5
        """
    )
    shots = load_storyboard(path).storyboard.shots
    assert [(s.id, s.prompt, s.duration) for s in shots] == [("a", "shared", 3), ("b", "shared", 5)]


def test_a_valid_storyboard_records_where_each_value_was_written(
    write_storyboard: Callable[..., Path],
) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          closeup: {duration: 3}
        shots:
          - id: "look-{{ side }}"
            use: closeup
            each: {side: [left, right]}
            prompt: "looks {{ side }}"
        """
    )
    loaded = load_storyboard(path)
    assert str(loaded.problem(("shots", 1, "prompt"), "no")) == "film.yaml:8:13: shots[0].prompt: no"
    assert str(loaded.problem(("shots", 1, "duration"), "no")) == "film.yaml:3:23: shots[0].duration: no"


# -- --var ----------------------------------------------------------------------------------------


def test_var_override_without_equals_sign() -> None:
    with pytest.raises(StoryboardError) as info:
        parse_var_overrides(["hero"])
    assert str(info.value) == "--var: expected KEY=VALUE with KEY a variable name, got 'hero'"


def test_var_override_with_a_bad_name() -> None:
    with pytest.raises(StoryboardError) as info:
        parse_var_overrides(["1x=3"])
    assert str(info.value) == "--var: expected KEY=VALUE with KEY a variable name, got '1x=3'"

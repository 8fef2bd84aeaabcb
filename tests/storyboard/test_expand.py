"""Expansion: ``each`` loops, ``use`` templates, variables, includes, and the sandbox.

Variables resolve, lowest to highest: the storyboard's ``vars``, a template's
``vars``, the shot's own ``vars``, ``--var`` on the command line, and last the
shot's ``each`` loop values (a loop variable must differ per shot, or ids collide).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shotlist.errors import StoryboardError
from shotlist.storyboard.loader import load_storyboard, parse_var_overrides
from shotlist.storyboard.model import Shot

WriteStoryboard = Callable[..., Path]


def shots_of(path: Path, overrides: dict[str, Any] | None = None) -> list[Shot]:
    return list(load_storyboard(path, overrides=overrides).storyboard.shots)


# -- each -----------------------------------------------------------------------------------------


def test_each_with_two_keys_gives_the_cross_product_first_key_outer(
    write_storyboard: WriteStoryboard,
) -> None:
    path = write_storyboard(
        """\
        version: 1
        shots:
          - id: "look-{{ side }}-{{ mood }}"
            each: {side: [left, right], mood: [calm, tense, lost]}
            prompt: "looks {{ side }}, {{ mood }}"
        """
    )
    assert [(s.id, s.prompt) for s in shots_of(path)] == [
        ("look-left-calm", "looks left, calm"),
        ("look-left-tense", "looks left, tense"),
        ("look-left-lost", "looks left, lost"),
        ("look-right-calm", "looks right, calm"),
        ("look-right-tense", "looks right, tense"),
        ("look-right-lost", "looks right, lost"),
    ]


def test_expanded_shots_keep_their_place_in_the_film(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        shots:
          - {id: first, prompt: x}
          - id: "mid-{{ n }}"
            each: {n: [1, 2]}
            prompt: x
          - {id: last, prompt: x}
        """
    )
    assert [s.id for s in shots_of(path)] == ["first", "mid-1", "mid-2", "last"]


def test_loop_values_reach_every_field_and_keep_their_type(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        shots:
          - id: "beat-{{ beat.name }}"
            each:
              beat:
                - {name: slow, seconds: 6, move: dolly_in}
                - {name: fast, seconds: 2.5, move: whip}
            prompt: "{{ beat.name }} beat"
            duration: "{{ beat.seconds }}"
            camera: {move: "{{ beat.move if beat.move != 'whip' else 'pan_left' }}"}
        """
    )
    shots = shots_of(path)
    assert [(s.id, s.duration, s.camera and s.camera.move) for s in shots] == [
        ("beat-slow", 6, "dolly_in"),
        ("beat-fast", 2.5, "pan_left"),
    ]


def test_each_with_one_value_keeps_a_plain_id(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard("version: 1\nshots:\n  - {id: solo, each: {n: [1]}, prompt: 'take {{ n }}'}\n")
    assert [(s.id, s.prompt) for s in shots_of(path)] == [("solo", "take 1")]


# -- use ------------------------------------------------------------------------------------------


def test_use_applies_a_template_and_the_shots_own_fields_win(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          closeup: {duration: 4, seed: 7, prompt: template text, generate_audio: false}
        shots:
          - id: a
            use: closeup
            prompt: own text
            seed: 9
        """
    )
    [shot] = shots_of(path)
    assert (shot.prompt, shot.duration, shot.seed, shot.generate_audio) == ("own text", 4, 9, False)


def test_use_merges_camera_and_params_key_by_key(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          closeup:
            camera: {shot: close_up, move: push_in, speed: slow}
            params: {watermark: false, style: noir}
        shots:
          - id: a
            use: closeup
            prompt: x
            camera: {move: static}
            params: {style: pastel, steps: 30}
        """
    )
    [shot] = shots_of(path)
    assert shot.camera is not None
    assert (shot.camera.shot, shot.camera.move, shot.camera.speed) == ("close_up", "static", "slow")
    assert shot.params == {"watermark": False, "style": "pastel", "steps": 30}


def test_templates_may_use_templates_and_the_nearer_one_wins(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          moody: {camera: {angle: low, shot: medium}, duration: 6, vars: {light: candle}}
          closeup: {use: moody, camera: {shot: close_up}, duration: 3}
        shots:
          - id: a
            use: closeup
            prompt: "by {{ light }}light"
        """
    )
    [shot] = shots_of(path)
    assert shot.camera is not None
    assert (shot.camera.angle, shot.camera.shot, shot.duration) == ("low", "close_up", 3)
    assert shot.prompt == "by candlelight"


def test_template_jinja_renders_with_each_shots_variables(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          portrait: {prompt: "portrait of {{ who }}", duration: "{{ d }}"}
        shots:
          - {id: a, use: portrait, vars: {who: the keeper, d: 3}}
          - {id: b, use: portrait, vars: {who: the gull, d: 5}}
        """
    )
    assert [(s.prompt, s.duration) for s in shots_of(path)] == [
        ("portrait of the keeper", 3),
        ("portrait of the gull", 5),
    ]


def test_a_template_may_carry_the_loop(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        templates:
          both_sides: {each: {side: [left, right]}}
        shots:
          - {id: "look-{{ side }}", use: both_sides, prompt: "looks {{ side }}"}
        """
    )
    assert [s.id for s in shots_of(path)] == ["look-left", "look-right"]


# -- variables ------------------------------------------------------------------------------------

PRECEDENCE = """\
version: 1
vars: {who: storyboard, where: storyboard, when: storyboard, how: storyboard}
templates:
  t: {vars: {where: template, when: template, how: template}}
shots:
  - id: "s-{{ how }}"
    use: t
    vars: {when: shot, how: shot}
    each: {how: [loop]}
    prompt: "{{ who }} {{ where }} {{ when }} {{ how }}"
"""


def test_vars_storyboard_then_template_then_shot_then_loop(write_storyboard: WriteStoryboard) -> None:
    [shot] = shots_of(write_storyboard(PRECEDENCE))
    assert shot.prompt == "storyboard template shot loop"


def test_command_line_var_beats_storyboard_template_and_shot_vars_but_not_a_loop_variable(
    write_storyboard: WriteStoryboard,
) -> None:
    overrides = parse_var_overrides(["who=cli", "where=cli", "when=cli", "how=cli"])
    [shot] = shots_of(write_storyboard(PRECEDENCE), overrides)
    assert (shot.id, shot.prompt) == ("s-loop", "cli cli cli loop")


def test_command_line_var_is_read_as_a_yaml_scalar() -> None:
    assert parse_var_overrides(
        ["n=3", "f=2.5", "on=true", "name=old keeper", "empty=", "eq=a=b", "list=[1, 2]"]
    ) == {
        "n": 3,
        "f": 2.5,
        "on": True,
        "name": "old keeper",
        "empty": "",
        "eq": "a=b",
        "list": "[1, 2]",
    }


def test_a_number_from_the_command_line_stays_a_number(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        'version: 1\nvars: {n: 4}\nshots:\n  - {id: a, prompt: "{{ n * 2 }} gulls", duration: "{{ n }}"}\n'
    )
    [shot] = shots_of(path, parse_var_overrides(["n=3"]))
    assert (shot.prompt, shot.duration) == ("6 gulls", 3)


def test_a_single_expression_keeps_its_number_or_boolean_type(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        vars: {d: 4, s: 11, sound: false}
        shots:
          - id: a
            prompt: x
            duration: "{{ d }}"
            seed: "{{ s * 3 }}"
            generate_audio: "{{ sound }}"
            trim: {start: "{{ d / 8 }}"}
        """
    )
    [shot] = shots_of(path)
    assert (shot.duration, shot.seed, shot.generate_audio) == (4, 33, False)
    assert shot.trim is not None
    assert shot.trim.start == 0.5


def test_text_fields_stay_text_when_an_expression_is_a_number(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        title: "{{ year }}"
        vars: {year: 1912}
        shots:
          - id: "{{ n }}"
            each: {n: [1, 2]}
            prompt: "{{ n }}"
            model: "{{ year }}"
        """
    )
    loaded = load_storyboard(path)
    assert loaded.storyboard.title == "1912"
    assert [(s.id, s.prompt, s.model) for s in loaded.storyboard.shots] == [
        ("1", "1", "1912"),
        ("2", "2", "1912"),
    ]


def test_storyboard_level_fields_render_with_storyboard_vars(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        vars: {name: keeper, fps: 30}
        title: "The {{ name|title }}"
        shots:
          - {id: a, prompt: x}
        cut: {output: "out/{{ name }}.mp4", fps: "{{ fps }}"}
        """
    )
    board = load_storyboard(path).storyboard
    assert (board.title, board.cut.output, board.cut.fps) == ("The Keeper", "out/keeper.mp4", 30)


def test_vars_hold_lists_and_mappings(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        vars:
          cast: [the keeper, a gull]
          palette: {sky: teal}
        shots:
          - {id: a, prompt: "{{ cast|join(' and ') }} under a {{ palette.sky }} sky"}
        """
    )
    assert shots_of(path)[0].prompt == "the keeper and a gull under a teal sky"


def test_vars_are_values_not_templates(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        'version: 1\nvars: {a: "{{ b }}", b: x}\nshots:\n  - {id: s, prompt: "{{ a }}"}\n'
    )
    assert shots_of(path)[0].prompt == "{{ b }}"


def test_a_template_cannot_change_the_variables_other_shots_see(
    write_storyboard: WriteStoryboard,
) -> None:
    path = write_storyboard(
        """\
        version: 1
        vars: {cast: [keeper]}
        shots:
          - {id: a, prompt: "{{ cast.append('intruder') }}"}
          - {id: b, prompt: "{{ cast|join(',') }}"}
        """
    )
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert [p.field for p in info.value.problems] == ["shots[0].prompt"]
    assert "not allowed in a template" in info.value.problems[0].message


# -- includes -------------------------------------------------------------------------------------


def test_included_shots_come_first_in_include_order_then_the_files_own(
    write_storyboard: WriteStoryboard,
) -> None:
    write_storyboard("include: [deeper.yaml]\nshots:\n  - {id: one, prompt: x}\n", "parts/one.yaml")
    write_storyboard("shots:\n  - {id: deeper, prompt: x}\n", "parts/deeper.yaml")
    write_storyboard("shots:\n  - {id: two, prompt: x}\n", "two.yaml")
    path = write_storyboard(
        "version: 1\ninclude: [parts/one.yaml, two.yaml]\nshots:\n  - {id: own, prompt: x}\n"
    )
    assert [s.id for s in shots_of(path)] == ["deeper", "one", "two", "own"]


def test_templates_and_vars_cross_file_boundaries(write_storyboard: WriteStoryboard) -> None:
    write_storyboard(
        """\
        templates:
          night: {use: moody, params: {style: nocturne}}
        shots:
          - {id: "night-{{ beat }}", use: night, each: {beat: [arrival]}, prompt: "{{ hero }} arrives"}
        """,
        "parts/act2.yaml",
    )
    path = write_storyboard(
        """\
        version: 1
        vars: {hero: the keeper}
        include: [parts/act2.yaml]
        templates:
          moody: {camera: {angle: low}}
        shots:
          - {id: own, use: night, prompt: x}
        """
    )
    shots = shots_of(path)
    assert [(s.id, s.prompt, s.params) for s in shots] == [
        ("night-arrival", "the keeper arrives", {"style": "nocturne"}),
        ("own", "x", {"style": "nocturne"}),
    ]
    assert all(s.camera is not None and s.camera.angle == "low" for s in shots)


def test_a_template_defined_twice_across_files_is_an_error(write_storyboard: WriteStoryboard) -> None:
    write_storyboard("templates:\n  night: {duration: 3}\n", "parts/act2.yaml")
    path = write_storyboard(
        "version: 1\ninclude: [parts/act2.yaml]\ntemplates:\n  night: {duration: 4}\n"
        "shots:\n  - {id: a, prompt: x}\n"
    )
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert str(info.value) == (
        'film.yaml:4:3: templates.night: template "night" is already defined (parts/act2.yaml:2)'
    )


def test_include_cycle_is_refused(write_storyboard: WriteStoryboard) -> None:
    write_storyboard("include: [b.yaml]\nshots: [{id: a, prompt: x}]\n", "parts/a.yaml")
    write_storyboard("include: [a.yaml]\nshots: [{id: b, prompt: x}]\n", "parts/b.yaml")
    path = write_storyboard("version: 1\ninclude: [parts/a.yaml]\nshots: [{id: own, prompt: x}]\n")
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert str(info.value) == 'parts/b.yaml:1:11: include[0]: "a.yaml" includes itself'


# -- the sandbox ----------------------------------------------------------------------------------

#: Payloads that must fail as a storyboard error, each in the prompt of the only shot.
HOSTILE = [
    # Python internals
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__()[0] }}",
    "{{ x.__class__.__init__.__globals__ }}",
    "{{ x.__globals__ }}",
    "{{ x.upper.__self__ }}",
    "{{ {}.__class__ }}",
    "{{ (1).__class__ }}",
    "{{ x['__class__'] }}",
    "{{ ''.__doc__ }}",
    "{{ x.__len__() }}",
    "{{ 'x'.__add__('y') }}",
    "{{ __builtins__ }}",
    "{{ __builtins__.open('pwned', 'w') }}",
    "{{ __import__('os').system('touch pwned') }}",
    # Jinja2 globals and Flask-style objects
    "{{ config }}",
    "{{ config.__class__.__init__.__globals__['os'].system('touch pwned') }}",
    "{{ request.application.__globals__.__builtins__.open('pwned', 'w') }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch pwned') }}",
    "{{ cycler.__init__.__globals__.os.system('touch pwned') }}",
    "{{ lipsum.__globals__['os'].popen('touch pwned').read() }}",
    "{{ lipsum() }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__.os.environ }}",
    "{{ range(10) }}",
    "{{ dict(a=1) }}",
    "{{ environ }}",
    "{{ os.environ }}",
    # filter and format tricks
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__'))|attr('__mro__') }}",
    "{{ x|attr('__class__')|attr('__base__')|attr('__subclasses__')() }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0.__class__.__mro__}'.format(x) }}",
    "{{ '{0:{1}}'.format(x, 99999) }}",
    "{{ '{:>99999}'.format(x) }}",
    "{{ '%99999s' % x }}",
    "{{ '%99999s'|format(x) }}",
    "{{ '%*s' % (999999999, x) }}",
    "{{ '%.*f' % (999999999, 1.5) }}",
    "{{ '{0:{1}}'.format(x, 999999999) }}",
    "{{ x|selectattr('__class__')|list }}",
    "{{ x|groupby('__class__') }}",
    "{{ x|map(attribute='__class__')|map(attribute='__mro__')|first|first }}",
    # files
    "{% include '/etc/passwd' %}",
    "{% include 'film.yaml' %}",
    "{% import 'film.yaml' as f %}",
    "{% from 'film.yaml' import x %}",
    "{% extends 'film.yaml' %}",
    # changing what other shots see
    "{{ cast.append('intruder') }}",
    "{{ palette.update({'sky': 'red'}) }}",
    "{{ palette.clear() }}",
    "{{ cast.pop() }}",
    # resources
    "{{ 'a' * 100000000 }}",
    "{{ 'a' * 1000 * 1000 }}",
    "{{ [1] * 10000000 }}",
    "{{ 'a' * 2 ** 62 }}",
    "{{ (((9 ** 9) ** 60) ** 60) ** 60 }}",
    "{{ 9 ** 99999 }}",
    "{{ 'a'|center(100000000) }}",
    "{{ 'a'.ljust(1000000000) }}",
    "{{ 'a'|indent(100000000) }}",
    "{{ 'a\tb'.expandtabs(999999999) }}",
    "{{ x|list|batch(99999999, 'z')|list }}",
    "{{ ('a' * 9000)|replace('a', 'a' * 9000) }}",
    "{{ ('y' * 9000).join('x' * 9000) }}",
    "{% for i in x * 100 %}{{ x * 100 }}{% endfor %}",
    "{% set a = x * 1000 %}{% set a = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}"
    "{% set a = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}{% set a = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}",
    "{% set a = x * 1000 %}{% set a = a + a + a + a + a + a + a + a + a + a %}"
    "{% set a = a + a + a + a + a + a + a + a + a + a %}{% set a = a + a + a + a + a + a %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% macro a() %}{{ x * 1000 }}{% endmacro %}"
    "{% macro b() %}{{ a() }}{{ a() }}{{ a() }}{{ a() }}{{ a() }}{{ a() }}{{ a() }}{{ a() }}{% endmacro %}"
    "{% macro c() %}{{ b() }}{{ b() }}{{ b() }}{{ b() }}{{ b() }}{{ b() }}{{ b() }}{{ b() }}{% endmacro %}"
    "{{ c() }}",
    # plain mistakes
    "{{ 1 / 0 }}",
    "{{ x|filesizeformat }}",
    "{{ x.nope() }}",
]

#: Payloads that the sandbox turns into plain, harmless text.
HARMLESS = [
    ("{{ self }}", "<TemplateReference None>"),
    ("a{{ ''|format }}", "a"),
    ("{{ '%s'|format(x) }}", "hello"),
    ("{{ '{} at {:>5}'.format(x, 3) }}", "hello at     3"),
    ("{% raw %}{{ x.__class__ }}{% endraw %}", "{{ x.__class__ }}"),
    ("{{ x|string|list }}", "['h', 'e', 'l', 'l', 'o']"),
    ("{{ x|tojson }}", '"hello"'),
    ("{{ x|map(attribute='__class__')|list }}", "[Undefined, Undefined, Undefined, Undefined, Undefined]"),
    ("{{ [x]|sort(attribute='__class__') }}", "['hello']"),
    ("{{ x|attr('upper')() }}", "HELLO"),
    ("{{ 9 ** 9 ** 9 }}", str((9**9) ** 9)),
    ("{{ 'ab'|replace('a', 'a' * 5000)|length }}", "5001"),
    ("{% for i in 'a' * 9000 %}{% endfor %}done", "done"),
]


def _storyboard_with_prompt(payload: str) -> str:
    return (
        "version: 1\n"
        "vars: {x: hello, cast: [keeper], palette: {sky: teal}}\n"
        "shots:\n"
        f"  - id: a\n    prompt: {json.dumps(payload)}\n"
        "  - {id: b, prompt: \"{{ cast|join(',') }} {{ palette.sky }}\"}\n"
    )


@pytest.mark.timeout(20)
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_template_is_a_storyboard_error_without_side_effects(
    write_storyboard: WriteStoryboard, tmp_path: Path, payload: str
) -> None:
    path = write_storyboard(_storyboard_with_prompt(payload))
    limit = sys.getrecursionlimit()
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.column, problem.field) == (
        "film.yaml",
        5,
        13,
        "shots[0].prompt",
    )
    assert problem.message.startswith(
        ("not allowed in a template: ", "undefined variable ", "template error: ", "template syntax error: ")
    ), problem.message
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.yaml"]
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize(("payload", "text"), HARMLESS)
def test_harmless_template_renders_as_plain_text(
    write_storyboard: WriteStoryboard, tmp_path: Path, payload: str, text: str
) -> None:
    shots = shots_of(write_storyboard(_storyboard_with_prompt(payload)))
    assert [s.prompt for s in shots] == [text, "keeper teal"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.yaml"]


def test_hostile_template_messages_read_plainly(write_storyboard: WriteStoryboard) -> None:
    lines = []
    for payload in ["{{ ''.__class__ }}", "{{ config }}", "{% include 'x' %}", "{{ 'a' * 100000000 }}"]:
        with pytest.raises(StoryboardError) as info:
            load_storyboard(write_storyboard(_storyboard_with_prompt(payload)))
        lines.append(str(info.value))
    assert lines == [
        "film.yaml:5:13: shots[0].prompt: not allowed in a template:"
        " access to attribute '__class__' of 'str' object is unsafe",
        'film.yaml:5:13: shots[0].prompt: undefined variable "config" (variables: cast, palette, x)',
        "film.yaml:5:13: shots[0].prompt: not allowed in a template:"
        " templates cannot include or import files",
        "film.yaml:5:13: shots[0].prompt: not allowed in a template: value too large",
    ]


def test_a_macro_calling_itself_is_a_clear_error(write_storyboard: WriteStoryboard) -> None:
    payload = "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"
    with pytest.raises(StoryboardError) as info:
        load_storyboard(write_storyboard(_storyboard_with_prompt(payload)))
    assert str(info.value) == (
        "film.yaml:5:13: shots[0].prompt: not allowed in a template:"
        " calls nested too deeply (a macro calling itself?)"
    )


def test_hostile_template_in_every_kind_of_field_is_caught(write_storyboard: WriteStoryboard) -> None:
    path = write_storyboard(
        """\
        version: 1
        title: "{{ ''.__class__ }}"
        templates:
          t: {prompt: "{{ cycler }}"}
        shots:
          - id: "a-{{ x.__class__ }}"
            use: t
            each: {x: [1]}
            params: {nested: ["{{ lipsum }}"]}
        cut: {output: "{{ config }}.mp4"}
        """
    )
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert [(p.line, p.field) for p in info.value.problems] == [
        (2, "title"),
        (4, "shots[0].prompt"),
        (6, "shots[0].id"),
        (9, "shots[0].params.nested[0]"),
        (10, "cut.output"),
    ]


# -- bombs: refused within seconds, before the work or the memory is spent ------------------------

LONG = "x" * 5_000


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "payload",
    [
        "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in s %}{% for b in s %}{% if a == b and false %}{{ a }}{% endif %}{% endfor %}{% endfor %}",
        "{% for a in s|list %}{% for b in s|list %}{% set c = a ~ b %}{% endfor %}{% endfor %}",
        "{% macro m(n) %}{% for a in s %}{% endfor %}{% endmacro %}{% for a in s %}{{ m(a) }}{% endfor %}",
    ],
    ids=["three-loops", "loops-printing-nothing", "loops-with-sets", "macro-in-loop"],
)
def test_templates_that_would_run_for_hours_stop_within_seconds(
    write_storyboard: WriteStoryboard, payload: str
) -> None:
    path = write_storyboard(
        f"version: 1\nvars: {{s: {LONG}}}\nshots:\n"
        f"  - id: a\n    prompt: {json.dumps(payload)}\n"
        + "".join(f"  - {{id: b{n}, prompt: {json.dumps(payload)}}}\n" for n in range(20))
    )
    started = time.monotonic()
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert time.monotonic() - started < 10
    [problem] = info.value.problems  # once, not once per shot
    assert (problem.line, problem.field) == (5, "shots[0].prompt")
    assert problem.message.startswith("the templates do too much work")


def test_each_counts_its_shots_before_building_them(write_storyboard: WriteStoryboard) -> None:
    values = ", ".join(map(str, range(1000)))
    path = write_storyboard(
        "version: 1\nshots:\n"
        '  - id: "s-{{ a }}-{{ b }}-{{ c }}"\n'
        "    prompt: x\n"
        f"    each: {{a: [{values}], b: [{values}], c: [{values}]}}\n"
    )
    started = time.monotonic()
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        "film.yaml:5:11: shots[0].each: makes 1,000,000,000 shots (1000 x 1000 x 1000); "
        "a storyboard holds at most 10,000"
    )

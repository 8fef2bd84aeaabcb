"""The committed JSON Schemas agree with ``shotlist validate``, checked with the real
``check-jsonschema``: every example, a generated corpus of valid storyboards (templated
ids, numbers, choices and sizes, template-only shots, included parts) passes both, and
storyboards broken in ways JSON Schema can state fail both."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shotlist.storyboard.camera import Angle, Move, ShotSize, Speed
from shotlist.storyboard.model import FIT_MODES, TRANSITION_TYPES

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
CHECK_JSONSCHEMA = BIN / "check-jsonschema"
SHOTLIST = BIN / "shotlist"

pytestmark = pytest.mark.e2e

# The variables every generated storyboard declares, one per type a template may render to.
VARS: dict[str, Any] = {
    "d": 4,
    "seed": 77,
    "ar": "9:16",
    "w": 640,
    "h": 360,
    "res": "720p",
    "audio": True,
    "provider": "local",
    "move": "orbit_left",
    "speed": "slow",
    "size_word": "close_up",
    "angle": "low",
    "tr": "crossfade",
    "td": 0.25,
    "fps": 25,
    "fit": "letterbox",
    "loud": -16,
    "name": "generated",
    "img": "hero.png",
    "mute": False,
}


def check_jsonschema(schema: str, files: list[Path]) -> dict[str, Any]:
    """Run the real check-jsonschema; its JSON report."""
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "-o", "json", "--schemafile", str(SCHEMAS / schema), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    assert not report.get("parse_errors"), report["parse_errors"]
    return report


def failed_files(report: dict[str, Any]) -> set[str]:
    return {Path(error["filename"]).name for error in report["errors"]}


def validate(files: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHOTLIST), "validate", *(str(f.relative_to(cwd)) for f in files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# -- the examples ------------------------------------------------------------------------------


def test_every_example_passes_the_schema_of_its_kind() -> None:
    examples = sorted(EXAMPLES.rglob("*.yaml"))
    parts = [e for e in examples if "version" not in yaml.safe_load(e.read_text(encoding="utf-8"))]
    storyboards = [e for e in examples if e not in parts]
    assert len(storyboards) >= 3
    assert parts

    assert check_jsonschema("storyboard.schema.json", storyboards)["status"] == "ok"
    assert check_jsonschema("part.schema.json", parts)["status"] == "ok"


# -- a generated corpus of valid storyboards -----------------------------------------------------


def maybe_templated(rng: random.Random, literal: Any, template: str) -> Any:
    return template if rng.random() < 0.5 else literal


def camera(rng: random.Random) -> dict[str, Any]:
    fields = {
        "move": maybe_templated(rng, rng.choice(list(Move)).value, "{{ move }}"),
        "speed": maybe_templated(rng, rng.choice(list(Speed)).value, "{{ speed }}"),
        "shot": maybe_templated(rng, rng.choice(list(ShotSize)).value, "{{ size_word }}"),
        "angle": maybe_templated(rng, rng.choice(list(Angle)).value, "{{ angle }}"),
    }
    return {k: v for k, v in fields.items() if rng.random() < 0.7}


def shot_fields(rng: random.Random) -> dict[str, Any]:
    """Fields defaults, templates and shots share, each literal or templated."""
    choices: dict[str, Any] = {
        "duration": maybe_templated(rng, rng.choice([3, 4, 4.5, 5]), rng.choice(["{{ d }}", "{{ d + 1 }}"])),
        "seed": maybe_templated(rng, rng.randrange(0, 2**32), "{{ seed }}"),
        "provider": maybe_templated(rng, "local", "{{ provider }}"),
        "model": "seedance-2.0",
        "generate_audio": maybe_templated(rng, rng.random() < 0.5, "{{ audio }}"),
        "mute": maybe_templated(rng, False, "{{ mute }}"),
        "caption": maybe_templated(rng, True, "{{ not mute }}"),
        "camera": camera(rng),
        "params": {"watermark": False},
    }
    shape = rng.choice(["size", "aspect", "none"])
    if shape == "size":
        choices["size"] = maybe_templated(rng, "640x360", "{{ w }}x{{ h }}")
    elif shape == "aspect":
        choices["aspect_ratio"] = maybe_templated(rng, "16:9", "{{ ar }}")
        choices["resolution"] = maybe_templated(rng, "720p", "{{ res }}")
    return {k: v for k, v in choices.items() if rng.random() < 0.6}


def shot(rng: random.Random, index: int) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"s{index}", "prompt": f"Shot {index}: the harbour at dusk"}
    body.update(shot_fields(rng))
    if rng.random() < 0.4:
        body["id"] = f"s{index}-{{{{ side }}}}"
        body["each"] = {"side": ["left", "right"]}
        body["prompt"] = "The keeper looks {{ side }}"
    if rng.random() < 0.3:
        body["images"] = [maybe_templated(rng, "@hero", "refs/{{ img }}")]
    if index and rng.random() < 0.5:
        body["transition"] = {
            "type": maybe_templated(rng, rng.choice(TRANSITION_TYPES), "{{ tr }}"),
            "duration": maybe_templated(rng, 0.5, "{{ td }}"),
        }
    if rng.random() < 0.3:
        body["trim"] = {"start": maybe_templated(rng, 0.25, "{{ td }}"), "end": 2.5}
    if rng.random() < 0.3:
        body["dialogue"] = rng.choice(["Hold on!", ["One.", "{{ name }}"]])
    return body


def cut(rng: random.Random) -> dict[str, Any]:
    fields = {
        "output": maybe_templated(rng, "out/film.mp4", "out/{{ name }}.mp4"),
        "size": maybe_templated(rng, "640x360", "{{ w }}x{{ h }}"),
        "fps": maybe_templated(rng, 24, "{{ fps }}"),
        "fit": maybe_templated(rng, rng.choice(FIT_MODES), "{{ fit }}"),
        "loudness": maybe_templated(rng, -14, "{{ loud }}"),
        "fade_in": maybe_templated(rng, 0.5, "{{ td }}"),
        "transition": {"type": maybe_templated(rng, "dissolve", "{{ tr }}"), "duration": 0.25},
        "burn_subtitles": maybe_templated(rng, False, "{{ mute }}"),
    }
    return {k: v for k, v in fields.items() if rng.random() < 0.6}


def storyboard(rng: random.Random, number: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A valid storyboard and, for some, the part it includes."""
    document: dict[str, Any] = {
        "version": 1,
        "title": maybe_templated(rng, "Generated", "{{ name }} {{ d }}"),
        "vars": dict(VARS),
        "defaults": shot_fields(rng),
        "references": {
            "hero": maybe_templated(rng, "refs/hero.png", "refs/{{ img }}"),
            "theme": {"audio": maybe_templated(rng, "refs/theme.mp3", "refs/theme.{{ 'mp3' }}")},
        },
        "templates": {
            "close": {"camera": camera(rng), "duration": maybe_templated(rng, 3, "{{ d }}")},
            # A template may carry the id, loop and prompt of the shots that use it.
            "pair": {"use": "close", "id": "pair-{{ n }}", "each": {"n": [1, 2]}, "prompt": "Pair {{ n }}"},
        },
        "shots": [shot(rng, index) for index in range(rng.randint(1, 3))],
        "cut": cut(rng),
    }
    if rng.random() < 0.5:
        document["shots"].append({"use": "pair"})
    if rng.random() < 0.5:
        document["soundtrack"] = {"music": "@theme", "volume": maybe_templated(rng, -12, "{{ loud }}")}
    part = None
    if number % 3 == 0:
        part = {"templates": {"wide": {"camera": {"shot": "wide"}}}, "shots": [shot(rng, 90)]}
        part["shots"][0]["use"] = "wide"
        document["include"] = [f"parts/part{number}.yaml"]
        if number % 6 == 0:
            del document["shots"]  # every shot comes from the part
    return document, part


def write_corpus(folder: Path, count: int) -> tuple[list[Path], list[Path]]:
    shutil.copytree(EXAMPLES / "everything" / "refs", folder / "refs")
    storyboards, parts = [], []
    for number in range(count):
        rng = random.Random(number)
        document, part = storyboard(rng, number)
        path = folder / f"film{number}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        storyboards.append(path)
        if part is not None:
            part_path = folder / "parts" / f"part{number}.yaml"
            part_path.parent.mkdir(exist_ok=True)
            part_path.write_text(yaml.safe_dump(part, sort_keys=False), encoding="utf-8")
            parts.append(part_path)
    return storyboards, parts


def test_storyboards_validate_accepts_pass_the_schemas(tmp_path: Path) -> None:
    storyboards, parts = write_corpus(tmp_path, 60)
    templated = [p for p in storyboards if "{{" in p.read_text(encoding="utf-8")]
    assert len(templated) == len(storyboards)
    assert len(parts) == 20

    validated = validate(storyboards, tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count("ok ") == 60

    assert check_jsonschema("storyboard.schema.json", storyboards)["status"] == "ok"
    assert check_jsonschema("part.schema.json", parts)["status"] == "ok"


# -- broken storyboards --------------------------------------------------------------------------

MINIMAL = "version: 1\nshots:\n  - {id: a, prompt: The sea}\n"
SHOT = "version: 1\nshots:\n  - "
BROKEN: dict[str, str] = {
    "unknown-root-field": MINIMAL + "colour: blue\n",
    "unknown-shot-field": "version: 1\nshots:\n  - {id: a, prompt: The sea, lenght: 4}\n",
    "unknown-camera-move": SHOT + "{id: a, prompt: The sea, camera: {move: zoom_sideways}}\n",
    "duration-as-text": "version: 1\nshots:\n  - {id: a, prompt: The sea, duration: '5'}\n",
    "duration-too-long": "version: 1\nshots:\n  - {id: a, prompt: The sea, duration: 61}\n",
    "negative-seed": "version: 1\nshots:\n  - {id: a, prompt: The sea, seed: -1}\n",
    "id-with-space": "version: 1\nshots:\n  - {id: a b, prompt: The sea}\n",
    "size-in-words": "version: 1\nshots:\n  - {id: a, prompt: The sea, size: big}\n",
    "missing-prompt": "version: 1\nshots:\n  - {id: a}\n",
    "missing-version": "shots:\n  - {id: a, prompt: The sea}\n",
    "version-2": "version: 2\nshots:\n  - {id: a, prompt: The sea}\n",
    "no-shots": "version: 1\ntitle: Nothing\n",
    "empty-shots": "version: 1\nshots: []\n",
    "reference-name": MINIMAL + "references: {1st: refs/hero.png}\n",
    "reference-two-kinds": MINIMAL + "references: {hero: {image: refs/hero.png, video: refs/sea.mp4}}\n",
    "cut-not-mp4": MINIMAL + "cut: {output: out/film.mov}\n",
    "fps-zero": MINIMAL + "cut: {fps: 0}\n",
    "unknown-transition": MINIMAL + "cut: {transition: {type: spin}}\n",
    "volume-too-loud": MINIMAL + "soundtrack: {volume: 20}\n",
    "empty-loop": "version: 1\nshots:\n  - {id: 'a-{{ x }}', prompt: The sea, each: {x: []}}\n",
}


def test_storyboards_broken_where_json_schema_can_tell_fail_both(tmp_path: Path) -> None:
    files = []
    for name, text in BROKEN.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        files.append(path)

    validated = validate(files, tmp_path)
    named = {f.name for f in files if f"error: {f.name}:" in validated.stderr}
    assert sorted(f.name for f in files if f.name not in named) == []

    report = check_jsonschema("storyboard.schema.json", files)
    assert sorted({f.name for f in files} - failed_files(report)) == []


def test_a_part_with_storyboard_fields_fails_both(tmp_path: Path) -> None:
    (tmp_path / "film.yaml").write_text("version: 1\ninclude: [part.yaml]\n", encoding="utf-8")
    part = tmp_path / "part.yaml"
    part.write_text("cut: {fps: 30}\nshots:\n  - {id: a, prompt: The sea}\n", encoding="utf-8")

    validated = validate([tmp_path / "film.yaml"], tmp_path)
    assert "part.yaml:1:1: cut: unknown field" in validated.stderr
    assert failed_files(check_jsonschema("part.schema.json", [part])) == {"part.yaml"}

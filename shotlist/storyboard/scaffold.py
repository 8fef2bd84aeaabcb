"""``shotlist init``: a new storyboard project that validates and plans as created."""

from __future__ import annotations

import json
from pathlib import Path

from shotlist.errors import ProjectError
from shotlist.storyboard.schema import storyboard_schema

STORYBOARD_NAME = "storyboard.yaml"
SCHEMA_NAME = "storyboard.schema.json"

STORYBOARD = """\
# yaml-language-server: $schema=./storyboard.schema.json
# A shotlist storyboard. Validate with `shotlist validate storyboard.yaml`,
# see the exact requests and their cost with `shotlist plan storyboard.yaml`,
# and render the cut with `shotlist render storyboard.yaml`.
version: 1
title: My film

vars:                                  # Jinja2 variables, usable in every text field
  hero: a young cartographer in a green coat

defaults:                              # every shot takes these unless it sets its own
  provider: local                      # local previz (free); lumenfall, fal, ark, replicate are paid
  duration: 4                          # seconds
  aspect_ratio: "16:9"
  resolution: 720p
  seed: 1234                           # shots without a seed derive theirs from this and their id

references: {}                         # named media in refs/, used in prompts as @name
  # hero: refs/hero.png

templates:                             # reusable partial shots, applied with `use:`
  closeup: {camera: {shot: close_up, move: push_in, speed: slow}}

shots:
  - id: opening
    prompt: A harbour town at dawn, fishing boats leaving the quay
    camera: {move: dolly_in, speed: slow, shot: extreme_wide}
  - id: "hero-{{ mood }}"              # one shot per value of `mood`
    use: closeup
    each: {mood: [curious, worried]}
    prompt: "{{ hero }} studies an old map, {{ mood }}"
  - id: departure
    prompt: 'The cartographer boards a boat and says: "We leave at noon."'
    transition: {type: crossfade, duration: 0.5}

cut:
  size: 1280x720
  fps: 24
  loudness: -14                        # integrated LUFS (EBU R128)
  fade_in: 0.5
  fade_out: 1.0
"""

GITIGNORE = """\
# shotlist's cache of rendered shots and its job journal (never commit)
.shotlist/
# rendered cuts
out/
"""


def init_project(directory: Path) -> list[Path]:
    """Create the project files in ``directory``; refuse to overwrite a storyboard."""
    storyboard = directory / STORYBOARD_NAME
    if storyboard.exists():
        raise ProjectError(f"{storyboard} already exists; init does not overwrite it")
    try:
        (directory / "refs").mkdir(parents=True, exist_ok=True)
        created = [storyboard, directory / SCHEMA_NAME, directory / "refs"]
        storyboard.write_text(STORYBOARD, encoding="utf-8")
        (directory / SCHEMA_NAME).write_text(
            json.dumps(storyboard_schema(), indent=2) + "\n", encoding="utf-8"
        )
        gitignore = directory / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text(GITIGNORE, encoding="utf-8")
            created.append(gitignore)
        keep = directory / "refs" / ".gitkeep"
        keep.touch()
    except OSError as exc:
        raise ProjectError(f"cannot create the project in {directory}: {exc.strerror}") from exc
    return created

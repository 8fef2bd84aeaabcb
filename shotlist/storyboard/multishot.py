"""Multi-shot generations: a shot's ``segments`` compiled into one timecoded prompt.

Seedance-style models cut inside one generation when the prompt directs it as a
timeline of shots. The words live here, once (``SEEDANCE_MULTI_SHOT``); each model's
capability record names the wording it takes (``ModelLimits.multi_shot``, None for a
model that cannot), and ``compile_multishot`` writes the prompt from it, so every
provider of a Seedance model (Lumenfall, fal, Ark, Replicate) compiles segments the
same way and only its reference tokens differ (``refs.render_tokens``).

For a shot of three segments (4 + 3 + 5 s) with a shot-wide prompt::

    A car chase on a cliff road at dusk. Multi-shot sequence: 3 shots in 12 s, a hard cut between each.
    Shot 1 (0-4 s): Wide: the car speeds along the cliff road. Camera: tracking shot.
    Shot 2 (4-7 s), cut to: Close-up: the driver says "Hold on."
    Shot 3 (7-12 s), cut to: Aerial: the car vanishes into fog. Camera: crane up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shotlist.request import CameraDirection
from shotlist.storyboard.camera import append_camera


@dataclass(frozen=True)
class MultiShotWording:
    """How a model is told that one generation holds several shots.

    ``header`` follows the shot-wide prompt; then one line per segment, ``first`` for
    the opening one and ``following`` (with its cut language) for each after it. They
    are ``str.format`` templates: ``{count}`` and ``{total}`` in the header; ``{n}``,
    ``{start}``, ``{end}`` (seconds) and ``{text}`` (the segment's prompt and camera
    language) in the lines.
    """

    header: str
    first: str
    following: str


# Numbered, timecoded beats with explicit cut language, as Seedance 2.0's prompt guides
# write them: without "cut to" the model reads one continuous take and averages the beats.
SEEDANCE_MULTI_SHOT = MultiShotWording(
    header="Multi-shot sequence: {count} shots in {total} s, a hard cut between each.",
    first="Shot {n} ({start}-{end} s): {text}",
    following="Shot {n} ({start}-{end} s), cut to: {text}",
)


@dataclass(frozen=True)
class Beat:
    """One segment placed in the generation: from ``start`` to ``end`` seconds."""

    start: float
    end: float
    prompt: str
    camera: CameraDirection = field(default_factory=CameraDirection)


def place(durations: Sequence[float]) -> list[tuple[float, float]]:
    """Each segment's (start, end) in seconds, back to back from 0."""
    spans, start = [], 0.0
    for duration in durations:
        spans.append((start, start + duration))
        start += duration
    return spans


_CLOSING = ".!?\"')]…"  # a prompt ending in one of these needs no full stop before the header


def _seconds(value: float) -> str:
    return f"{round(value, 3):g}"


def compile_multishot(prompt: str | None, beats: Sequence[Beat], wording: MultiShotWording) -> str:
    """One prompt for the whole generation: the shot-wide text and header, then a line per
    beat with its time range, its cut language and its camera direction."""
    total = beats[-1].end if beats else 0.0
    header = wording.header.format(count=len(beats), total=_seconds(total))
    shot_wide = (prompt or "").strip()
    if shot_wide and shot_wide[-1] not in _CLOSING:
        shot_wide += "."
    lines = [f"{shot_wide} {header}" if shot_wide else header]
    for n, beat in enumerate(beats, start=1):
        template = wording.first if n == 1 else wording.following
        text = append_camera(beat.prompt, beat.camera)
        lines.append(template.format(n=n, start=_seconds(beat.start), end=_seconds(beat.end), text=text))
    return "\n".join(lines).strip()

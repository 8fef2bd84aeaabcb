"""What the cut is made of, for other programs: subtitles (SRT) and an editor timeline (OTIO).

Pure: both are built from the :class:`~shotlist.cut.timeline.CutPlan` the cut was
rendered from, so their timing matches the cut frame for frame; ``stitch`` writes
them beside the cut.

Where two shots overlap in a transition, each shot owns the cut up to the
transition's midpoint (its *cut point*). Subtitles are spread over that span,
and the timeline uses it as the clip's range, with the overlap carried by an
``otio.schema.Transition`` (``in_offset`` before the cut point, ``out_offset``
after), as editors model a dissolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from shotlist.cut.timeline import CutPlan, ShotTiming
from shotlist.cut.transitions import transition


# The transitions an editor knows as a dissolve; the others are written as custom ones.
@dataclass(frozen=True)
class Cue:
    """One subtitle: text shown from ``start`` to ``end`` (milliseconds into the cut)."""

    start: int
    end: int
    text: str


def cut_points(plan: CutPlan) -> list[int]:
    """Frame where each shot takes over the cut, plus the cut's end as the last entry."""
    points = [t.offset + t.transition_frames // 2 for t in plan.shots]
    return [0, *points[1:], plan.total_frames]


def subtitle_cues(plan: CutPlan) -> list[Cue]:
    """Each shot's dialogue lines, spread evenly over the span the shot owns."""
    points = cut_points(plan)
    cues = []
    for index, timing in enumerate(plan.shots):
        lines = [line.strip() for line in timing.shot.dialogue if line.strip()]
        start_ms = round(plan.seconds(points[index]) * 1000)
        end_ms = round(plan.seconds(points[index + 1]) * 1000)
        for number, line in enumerate(lines):
            cues.append(
                Cue(
                    start=start_ms + (end_ms - start_ms) * number // len(lines),
                    end=start_ms + (end_ms - start_ms) * (number + 1) // len(lines),
                    text=line,
                )
            )
    return cues


def srt_text(cues: list[Cue]) -> str:
    """The cues as an SRT document."""
    blocks = [
        f"{number}\n{_srt_time(cue.start)} --> {_srt_time(cue.end)}\n{cue.text}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _srt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def build_timeline(
    plan: CutPlan, *, name: str, metadata: Mapping[str, Any] | None = None
) -> otio.schema.Timeline:
    """An OpenTimelineIO timeline of the cut: one clip per shot, transitions between them.

    Clips point at the rendered clips, with the trimmed range as their visible
    range; per-clip metadata (prompt, seed, request hash, provider, ...) is kept
    under the ``"shotlist"`` key.
    """
    rate = plan.fps
    track = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    for index, timing in enumerate(plan.shots):
        if index and timing.transition_frames:
            track.append(_transition(timing, rate))
        following = plan.shots[index + 1].transition_frames if index + 1 < len(plan.shots) else 0
        track.append(_clip(timing, rate, handle_out=following - following // 2))
    timeline = otio.schema.Timeline(
        name=name,
        global_start_time=otio.opentime.RationalTime(0, rate),
        metadata={"shotlist": _plain(dict(metadata or {}))},
    )
    timeline.tracks.append(track)
    return timeline


def timeline_json(timeline: otio.schema.Timeline) -> str:
    return str(otio.adapters.write_to_string(timeline, "otio_json"))


def _frames(value: int, rate: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(value, rate)


def _clip(timing: ShotTiming, rate: int, *, handle_out: int) -> otio.schema.Clip:
    handle_in = timing.transition_frames // 2
    shot = timing.shot
    source_length = round((timing.source.video_duration or timing.source.duration) * rate)
    media = otio.schema.ExternalReference(
        target_url=Path(shot.clip).resolve().as_uri(),
        available_range=otio.opentime.TimeRange(_frames(0, rate), _frames(source_length, rate)),
    )
    info = {
        "id": shot.id,
        "clip_sha256": shot.clip_sha256,
        "mute": shot.mute,
        "dialogue": list(shot.dialogue),
        **shot.metadata,
    }
    return otio.schema.Clip(
        name=shot.id,
        media_reference=media,
        source_range=otio.opentime.TimeRange(
            _frames(timing.start_frame + handle_in, rate),
            _frames(timing.frames - handle_in - handle_out, rate),
        ),
        metadata={"shotlist": _plain(info)},
    )


def _transition(timing: ShotTiming, rate: int) -> otio.schema.Transition:
    frames = timing.transition_frames
    kind = timing.transition
    return otio.schema.Transition(
        name=kind,
        transition_type=(
            otio.schema.TransitionTypes.SMPTE_Dissolve
            if transition(kind).timeline == "dissolve"
            else otio.schema.TransitionTypes.Custom
        ),
        in_offset=_frames(frames // 2, rate),
        out_offset=_frames(frames - frames // 2, rate),
        metadata={"shotlist": {"type": kind, "duration": frames / rate}},
    )


def _plain(value: Any) -> Any:
    """``value`` as the JSON-like data OTIO metadata holds."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

"""The timeline of a cut, counted in frames.

Pure: from the shots, the cut settings and what probing the clips found, decide
how many frames of each shot are seen, where each one sits in the cut, and which
frames at its edges have to be re-encoded (transition windows and the cut's
fades). Everything after this step works in whole frames of the cut, so video
and audio lengths are exact integers and nothing drifts.

The overlap rule: a transition of d seconds into a shot plays the last d seconds
of the previous shot over the first d seconds of this one, so it shortens the
cut by d. A cut's length is the sum of its shots' trimmed lengths minus the
transition durations. Trims, transitions and fades are rounded to whole frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shotlist.cut.types import CutSettings, CutShot, TransitionSpec
from shotlist.errors import CutError

if TYPE_CHECKING:
    from shotlist.media.probe import MediaInfo

AUDIO_RATE = 48_000


@dataclass(frozen=True)
class ShotTiming:
    """Where one shot sits in the cut. All counts are frames at the cut's fps."""

    shot: CutShot
    source: MediaInfo
    start_frame: int  # the trim in point, counted in the source from its first frame
    frames: int  # frames the shot shows, including the windows shared with its neighbours
    offset: int  # the cut frame this shot's first frame lands on
    transition: str  # the transition from the previous shot into this one ("cut" for none)
    transition_frames: int  # overlap with the previous shot (0 for a cut and the first shot)
    head: int  # frames at the start rendered apart: the transition in, or the cut's fade in
    tail: int  # frames at the end rendered apart: the next transition, or the cut's fade out

    @property
    def body(self) -> int:
        """Frames between the windows, joined to the cut without re-encoding."""
        return self.frames - self.head - self.tail

    @property
    def end(self) -> int:
        return self.offset + self.frames

    @property
    def source_size(self) -> tuple[int, int]:
        return (self.source.width or 0, self.source.height or 0)


@dataclass(frozen=True)
class CutPlan:
    """The whole cut: the shots in order, the cut's fades and the total length."""

    fps: int
    shots: tuple[ShotTiming, ...]
    fade_in: int
    fade_out: int
    notices: tuple[str, ...] = ()

    @property
    def total_frames(self) -> int:
        return self.shots[-1].end if self.shots else 0

    @property
    def duration(self) -> float:
        return self.seconds(self.total_frames)

    def seconds(self, frames: int) -> float:
        return frames / self.fps

    def samples(self, frames: int) -> int:
        """Audio samples spanning ``frames`` video frames at 48 kHz."""
        return round(frames * AUDIO_RATE / self.fps)


def plan_cut(shots: Sequence[CutShot], settings: CutSettings, sources: Sequence[MediaInfo]) -> CutPlan:
    """Lay the shots out in the cut. Raises ``CutError`` when they cannot fit."""
    if not shots:
        raise CutError("the cut has no shots")
    fps = settings.fps
    notices: list[str] = []
    spans = [_visible_span(shot, source, fps, notices) for shot, source in zip(shots, sources, strict=True)]
    overlaps = [0] + [_transition_frames(shot.transition or settings.transition, fps) for shot in shots[1:]]
    if shots[0].transition is not None and shots[0].transition.type != "cut":
        notices.append(
            f"shot {shots[0].id!r} opens the cut; its transition is ignored (use the cut's fade in)"
        )
    fade_in, fade_out = _frames(settings.fade_in, fps), _frames(settings.fade_out, fps)
    timings: list[ShotTiming] = []
    offset = 0
    for index, (shot, source, (start, frames)) in enumerate(zip(shots, sources, spans, strict=True)):
        overlap = overlaps[index]
        offset -= overlap
        last = index == len(shots) - 1
        timing = ShotTiming(
            shot=shot,
            source=source,
            start_frame=start,
            frames=frames,
            offset=offset,
            transition=_transition_type(shot.transition or settings.transition, overlap),
            transition_frames=overlap,
            head=fade_in if index == 0 else overlap,
            tail=fade_out if last else overlaps[index + 1],
        )
        _check_windows_fit(timing, fps)
        timings.append(timing)
        offset += frames
    return CutPlan(fps, tuple(timings), fade_in, fade_out, tuple(notices))


def _frames(seconds: float, fps: int) -> int:
    return max(0, round(seconds * fps))


def _transition_frames(spec: TransitionSpec, fps: int) -> int:
    if spec.type == "cut" or spec.duration <= 0:
        return 0
    return max(1, _frames(spec.duration, fps))


def _transition_type(spec: TransitionSpec, frames: int) -> str:
    return spec.type if frames else "cut"


def _visible_span(shot: CutShot, source: MediaInfo, fps: int, notices: list[str]) -> tuple[int, int]:
    """The trim as (first source frame, frame count), clamped to the clip's length."""
    length = source.video_duration or source.duration
    start = _frames(shot.trim_start or 0.0, fps)
    available = _frames(length, fps)
    end = available if shot.trim_end is None else _frames(shot.trim_end, fps)
    if end > available:
        notices.append(
            f"shot {shot.id!r}: trim end {shot.trim_end:g} s is past the clip's end"
            f" ({length:.3f} s); using the clip's end"
        )
        end = available
    if end <= start:
        raise CutError(
            f"shot {shot.id!r}: the trim leaves nothing to show"
            f" (start {start / fps:.3f} s, end {end / fps:.3f} s, clip {length:.3f} s)"
        )
    return start, end - start


def _check_windows_fit(timing: ShotTiming, fps: int) -> None:
    if timing.head + timing.tail <= timing.frames:
        return
    raise CutError(
        f"shot {timing.shot.id!r} shows {timing.frames / fps:.3f} s but the transitions and"
        f" fades at its edges need {timing.head / fps:.3f} s + {timing.tail / fps:.3f} s;"
        " shorten them or trim less"
    )

"""The cut's value types: what the pipeline hands the stitcher and what it gets back.

Pure data with their own checks; every module of the cut (timeline, picture, sound,
export) and the pipeline import them from here, never from the orchestrator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shotlist.cut.transitions import TRANSITION_TYPES

# How a clip of another shape fills the frame (the four resize modes of editly; ``video`` draws them).
FIT_MODES: tuple[str, ...] = ("fit", "fill", "letterbox", "stretch")


@dataclass(frozen=True)
class TransitionSpec:
    """How the cut passes from the previous shot into this one.

    ``type`` is one of :data:`TRANSITION_TYPES`; ``duration`` is the overlap in
    seconds, which shortens the cut by as much. A ``cut`` (or a duration of 0)
    has no overlap.
    """

    type: str
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.type not in TRANSITION_TYPES:
            raise ValueError(
                f"unknown transition {self.type!r}; expected one of {', '.join(TRANSITION_TYPES)}"
            )
        if self.duration < 0:
            raise ValueError(f"transition duration must be >= 0, not {self.duration}")


@dataclass(frozen=True)
class CutSegment:
    """One shot inside a multi-shot clip: seconds ``start`` to ``end`` of the clip, what it
    shows and what is said in it (subtitled at its own time)."""

    start: float
    end: float
    prompt: str
    dialogue: tuple[str, ...] = ()


@dataclass(frozen=True)
class CutShot:
    """One rendered shot as the cut uses it.

    ``trim_start``/``trim_end`` are in/out points in seconds inside the clip
    (``None``: its start/end). ``transition`` leads from the previous shot into
    this one (``None``: the cut's default; ignored on the first shot). ``mute``
    drops the shot's own sound. ``dialogue`` lines become subtitles over the
    shot (or, with ``segments``, over each segment). ``metadata`` (prompt, seed,
    request hash, provider, model) goes into the timeline export, and each segment
    becomes a marker on the clip.
    """

    id: str
    clip: Path
    clip_sha256: str
    trim_start: float | None = None
    trim_end: float | None = None
    transition: TransitionSpec | None = None
    mute: bool = False
    dialogue: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    segments: tuple[CutSegment, ...] = ()


@dataclass(frozen=True)
class CutSettings:
    """The cut's format and finish.

    ``fit`` is one of :data:`FIT_MODES` (see ``video``). ``loudness`` is
    the integrated target in LUFS (``None``: leave levels alone); the true peak
    is held at or under -1 dBTP. ``fade_in``/``fade_out`` fade picture and sound
    from/to black at the cut's ends. ``music`` is laid under the whole cut at
    ``music_volume_db`` relative to the shots' sound, lowered under it when
    ``duck``. ``burn_subtitles`` draws the dialogue into the picture (which
    re-encodes the whole picture).
    """

    width: int
    height: int
    fps: int
    fit: str = "fit"
    transition: TransitionSpec = TransitionSpec("cut")
    loudness: float | None = -14.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    music: Path | None = None
    music_volume_db: float = -12.0
    duck: bool = True
    burn_subtitles: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(f"cut size must be positive and even, not {self.width}x{self.height}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, not {self.fps}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"unknown fit {self.fit!r}; expected one of {', '.join(FIT_MODES)}")
        if self.fade_in < 0 or self.fade_out < 0:
            raise ValueError("fade_in and fade_out must be >= 0")


@dataclass(frozen=True)
class CutResult:
    """What a stitch wrote: the cut, its length in seconds, its SRT (if any dialogue), its OTIO."""

    output: Path
    duration: float
    srt: Path | None
    otio: Path

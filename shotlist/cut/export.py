"""What the cut is made of, for other programs: subtitles (SRT) and an editor timeline (OTIO).

Pure: both are built from the :class:`~shotlist.cut.timeline.CutPlan` the cut was
rendered from, so their timing matches the cut frame for frame; ``stitch`` writes
them beside the cut (and the media folder the timeline points into).

Where two shots overlap in a transition, each shot owns the cut up to the
transition's midpoint (its *cut point*). Subtitles are spread over that span,
and the timeline uses it as the clip's range, with the overlap carried by an
``otio.schema.Transition`` (``in_offset`` before the cut point, ``out_offset``
after), as editors model a dissolve.

The timeline has three tracks: *Picture* (the shots and transitions), *Sound*
(each shot's own sound on the same clips, a gap where a shot is muted) and,
with a soundtrack, *Music* (the bed from the cut's start; its level, ducking
and fades are clip metadata, as no timeline construct holds them). The cut's
fades are transitions from and to black at the ends of the picture and sound. What the
editor formats read is written where their adapters look for it:
``metadata["fcp_xml"]`` carries each transition's FCP 7 effect (so a dip or a
wipe stays one), the sequence format (frame size and rate) and each file's
sample characteristics; ``cmx_3600`` readers get the wipe code from
``shotlist.cut.nle``, which writes the EDL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from shotlist.cut.timeline import AUDIO_RATE, CutPlan, ShotTiming
from shotlist.cut.transitions import TimelineKind, Transition, transition
from shotlist.cut.types import CutSegment, CutSettings

PICTURE, SOUND, MUSIC = "Picture", "Sound", "Music"
FADE_IN, FADE_OUT = "fade_in", "fade_out"
SMPTE_WIPE = "SMPTE_Wipe"  # the type OTIO's EDL reader gives a W### event


# How an OTIO timeline names each kind of transition of the table.
_OTIO_TYPES: Mapping[TimelineKind, str] = {
    "cut": otio.schema.TransitionTypes.SMPTE_Dissolve,
    "dissolve": otio.schema.TransitionTypes.SMPTE_Dissolve,
    "wipe": SMPTE_WIPE,
    "custom": otio.schema.TransitionTypes.Custom,
}
# The cut's fades: dissolves from and to black, as FCP 7 and EDLs draw them.
_FADE = transition("dissolve")
AUDIO_CROSSFADE = ("Cross Fade (+3dB)", "KGAudioTransCrossFade3dB")


@dataclass(frozen=True)
class TimelineMedia:
    """Where the timeline finds its media: a URL per shot id (relative to the timeline for a
    portable one) and, with a soundtrack, the music bed's URL and length in seconds."""

    clips: Mapping[str, str] = field(default_factory=dict)
    music: str | None = None
    music_seconds: float | None = None


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
    """Each shot's dialogue lines, spread evenly over the span the shot owns; a shot of
    segments spreads each segment's lines over the part of that span the segment fills."""
    points = cut_points(plan)
    cues: list[Cue] = []
    for index, timing in enumerate(plan.shots):
        owned = (points[index], points[index + 1])
        if not timing.shot.segments:
            cues += _spread(plan, timing.shot.dialogue, owned)
            continue
        for segment in timing.shot.segments:
            # Clip seconds to cut frames: the clip's frame f lands on offset + f - trim in point.
            start, end = (
                timing.offset + round(t * plan.fps) - timing.start_frame for t in (segment.start, segment.end)
            )
            cues += _spread(plan, segment.dialogue, (max(start, owned[0]), min(end, owned[1])))
    return cues


def _spread(plan: CutPlan, dialogue: tuple[str, ...], span: tuple[int, int]) -> list[Cue]:
    lines = [line.strip() for line in dialogue if line.strip()]
    if span[1] <= span[0]:
        return []  # trimmed out of the cut
    start_ms = round(plan.seconds(span[0]) * 1000)
    end_ms = round(plan.seconds(span[1]) * 1000)
    return [
        Cue(
            start=start_ms + (end_ms - start_ms) * number // len(lines),
            end=start_ms + (end_ms - start_ms) * (number + 1) // len(lines),
            text=line,
        )
        for number, line in enumerate(lines)
    ]


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
    plan: CutPlan,
    settings: CutSettings,
    *,
    name: str,
    media: TimelineMedia | None = None,
) -> otio.schema.Timeline:
    """An OpenTimelineIO timeline of the cut: picture, sound and music tracks.

    Clips point at ``media`` (absolute file URLs of the rendered clips where it
    has none), with the trimmed range as their visible range; per-clip metadata
    (prompt, seed, request hash, provider, fit, ...) is kept under the
    ``"shotlist"`` key.
    """
    media = media or TimelineMedia()
    timeline = otio.schema.Timeline(
        name=name,
        global_start_time=otio.opentime.RationalTime(0, plan.fps),
        metadata={"shotlist": _plain(timeline_info(settings)), "fcp_xml": _fcp_sequence(settings)},
    )
    timeline.tracks.append(_shots_track(plan, settings, media, PICTURE))
    timeline.tracks.append(_shots_track(plan, settings, media, SOUND))
    if settings.music is not None:
        timeline.tracks.append(_music_track(plan, settings, media))
    return timeline


def timeline_info(settings: CutSettings) -> dict[str, Any]:
    """The cut's settings as the timeline records them."""
    return {
        "size": [settings.width, settings.height],
        "fps": settings.fps,
        "fit": settings.fit,
        "loudness": settings.loudness,
        "fade_in": settings.fade_in,
        "fade_out": settings.fade_out,
        "music": settings.music.name if settings.music else None,
        "music_volume_db": settings.music_volume_db,
        "duck": settings.duck,
    }


def timeline_json(timeline: otio.schema.Timeline) -> str:
    return str(otio.adapters.write_to_string(timeline, "otio_json"))


def _frames(value: int, rate: int) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(value, rate)


# -- tracks ----------------------------------------------------------------------------


def _shots_track(plan: CutPlan, settings: CutSettings, media: TimelineMedia, name: str) -> otio.schema.Track:
    picture = name == PICTURE
    kind = otio.schema.TrackKind.Video if picture else otio.schema.TrackKind.Audio
    track = otio.schema.Track(name=name, kind=kind)
    rate = plan.fps
    if plan.fade_in:
        track.append(_fade(FADE_IN, plan.fade_in, rate, picture))
    for index, timing in enumerate(plan.shots):
        # Sound fades into a muted shot's silence; editors read a transition beside a gap as
        # shortening it, so there the sound track cuts (the gap keeps the shot's length).
        muted = not picture and (timing.shot.mute or plan.shots[index - 1].shot.mute)
        if index and timing.transition_frames and not muted:
            track.append(_transition(timing, rate, picture))
        following = plan.shots[index + 1].transition_frames if index + 1 < len(plan.shots) else 0
        clip = _clip(timing, rate, settings, media, handle_out=following - following // 2, picture=picture)
        track.append(clip)
    if plan.fade_out:
        track.append(_fade(FADE_OUT, plan.fade_out, rate, picture))
    return track


def _clip(
    timing: ShotTiming,
    rate: int,
    settings: CutSettings,
    media: TimelineMedia,
    *,
    handle_out: int,
    picture: bool,
) -> otio.schema.Item:
    handle_in = timing.transition_frames // 2
    shot = timing.shot
    visible = otio.opentime.TimeRange(
        _frames(timing.start_frame + handle_in, rate),
        _frames(timing.frames - handle_in - handle_out, rate),
    )
    info = {
        # The role keeps a shot's sound clip apart from its picture clip: FCP 7 XML would
        # otherwise write it as a reference to the picture's clipitem and its transitions.
        "role": "picture" if picture else "sound",
        "id": shot.id,
        "clip_sha256": shot.clip_sha256,
        "mute": shot.mute,
        "fit": settings.fit,
        "dialogue": list(shot.dialogue),
        **shot.metadata,
    }
    if not picture and shot.mute:
        # A muted shot's sound is not in the cut: the sound track is silent there.
        return otio.schema.Gap(source_range=visible, metadata={"shotlist": _plain(info)})
    source_length = round((timing.source.video_duration or timing.source.duration) * rate)
    reference = otio.schema.ExternalReference(
        target_url=media.clips.get(shot.id) or Path(shot.clip).resolve().as_uri(),
        available_range=otio.opentime.TimeRange(_frames(0, rate), _frames(source_length, rate)),
        metadata={"fcp_xml": _fcp_file(timing, rate)},
    )
    clip = otio.schema.Clip(
        name=shot.id,
        media_reference=reference,
        source_range=visible,
        metadata={"shotlist": _plain(info)},
    )
    if picture:
        add_segment_markers(clip, shot.segments, rate)
    return clip


def add_segment_markers(clip: otio.schema.Clip, segments: tuple[CutSegment, ...], rate: int) -> None:
    """One marker per segment of a multi-shot clip, over its time range in the clip's media,
    named after its number and prompt; its prompt, times and lines in the metadata."""
    for number, segment in enumerate(segments, start=1):
        start, end = round(segment.start * rate), round(segment.end * rate)
        clip.markers.append(
            otio.schema.Marker(
                name=f"segment {number}: {segment.prompt}",
                marked_range=otio.opentime.TimeRange(_frames(start, rate), _frames(end - start, rate)),
                color=otio.schema.MarkerColor.CYAN,
                metadata={
                    "shotlist": {
                        "segment": number,
                        "prompt": segment.prompt,
                        "start": segment.start,
                        "end": segment.end,
                        "dialogue": list(segment.dialogue),
                    }
                },
            )
        )


def _music_track(plan: CutPlan, settings: CutSettings, media: TimelineMedia) -> otio.schema.Track:
    """The bed under the whole cut from its first frame; it ends with the cut or its file."""
    rate = plan.fps
    track = otio.schema.Track(name=MUSIC, kind=otio.schema.TrackKind.Audio)
    assert settings.music is not None
    length = plan.total_frames
    if media.music_seconds is not None:
        length = min(length, round(media.music_seconds * rate))
    available = round(media.music_seconds * rate) if media.music_seconds is not None else length
    track.append(
        otio.schema.Clip(
            name=settings.music.stem,
            media_reference=otio.schema.ExternalReference(
                target_url=media.music or settings.music.resolve().as_uri(),
                available_range=otio.opentime.TimeRange(_frames(0, rate), _frames(available, rate)),
                metadata={"fcp_xml": _fcp_audio_file()},
            ),
            source_range=otio.opentime.TimeRange(_frames(0, rate), _frames(length, rate)),
            metadata={
                "shotlist": {
                    "role": "music",
                    # Relative to the shots' own sound, lowered under it when duck is on.
                    "volume_db": settings.music_volume_db,
                    "duck": settings.duck,
                    "loudness": settings.loudness,
                    # The cut's fades lower the whole mix, the bed with it. Not transitions
                    # here: FCP 7 XML cannot hold a lone clip between two (its reader fails).
                    "fade_in": plan.seconds(plan.fade_in),
                    "fade_out": plan.seconds(plan.fade_out),
                }
            },
        )
    )
    if length < plan.total_frames:
        track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
            _frames(0, rate), _frames(plan.total_frames - length, rate))))  # fmt: skip
    return track


# -- transitions and fades -------------------------------------------------------------


def _transition(timing: ShotTiming, rate: int, picture: bool) -> otio.schema.Transition:
    frames = timing.transition_frames
    kind = timing.transition
    row = transition(kind)
    return otio.schema.Transition(
        name=kind,
        transition_type=_OTIO_TYPES[row.timeline] if picture else otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=_frames(frames // 2, rate),
        out_offset=_frames(frames - frames // 2, rate),
        metadata={
            "shotlist": {"type": kind, "duration": frames / rate},
            "fcp_xml": _fcp_effect(row, picture),
            "cmx_3600": {"transition": row.edl if picture else "D"},
        },
    )


def _fade(kind: str, frames: int, rate: int, picture: bool) -> otio.schema.Transition:
    """The cut's fade from black (at a track's start) or to black (at its end)."""
    into = kind == FADE_IN
    return otio.schema.Transition(
        name=kind,
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=_frames(0 if into else frames, rate),
        out_offset=_frames(frames if into else 0, rate),
        metadata={
            "shotlist": {"type": kind, "duration": frames / rate},
            "fcp_xml": _fcp_effect(_FADE, picture),
            "cmx_3600": {"transition": "D"},
        },
    )


# -- what the FCP 7 XML adapter reads --------------------------------------------------


def _fcp_effect(row: Transition, picture: bool) -> dict[str, Any]:
    """The ``<effect>`` of a ``<transitionitem>``."""
    if not picture:
        name, effect_id = AUDIO_CROSSFADE
        return {"effect": {"name": name, "effectid": effect_id, "effectcategory": "audiotransition",
                           "effecttype": "transition", "mediatype": "audio"}}  # fmt: skip
    effect: dict[str, Any] = {
        "name": row.fcp_effect,
        "effectid": row.fcp_effect,
        "effectcategory": row.fcp_category,
        "effecttype": "transition",
        "mediatype": "video",
    }
    if row.dip is not None:
        level = 255 if row.dip == "white" else 0
        effect["parameter"] = {
            "parameterid": "color",
            "name": "Color",
            "value": {"alpha": 255, "red": level, "green": level, "blue": level},
        }
    return {"effect": effect}


def _fcp_rate(fps: int) -> dict[str, Any]:
    return {"timebase": fps, "ntsc": "FALSE"}


def _fcp_sequence(settings: CutSettings) -> dict[str, Any]:
    """The sequence's ``<media>``: the frame size and rate of the cut, its sound format."""
    return {
        "media": {
            "video": {
                "format": {
                    "samplecharacteristics": _fcp_picture(settings.width, settings.height, settings.fps)
                }
            },
            "audio": {"format": {"samplecharacteristics": {"depth": 16, "samplerate": AUDIO_RATE}}},
        }
    }


def _fcp_picture(width: int, height: int, rate: int) -> dict[str, Any]:
    return {
        "rate": _fcp_rate(rate),
        "width": width,
        "height": height,
        "anamorphic": "FALSE",
        "pixelaspectratio": "square",
        "fielddominance": "none",
    }


def _fcp_file(timing: ShotTiming, rate: int) -> dict[str, Any]:
    """A clip file's ``<media>``: its own frame size (``fit`` says how it fills the cut's)."""
    width, height = timing.source_size
    media: dict[str, Any] = {"video": {"samplecharacteristics": _fcp_picture(width, height, rate)}}
    if timing.source.has_audio:
        media["audio"] = _fcp_audio_file()["media"]["audio"]
    return {"media": media}


def _fcp_audio_file() -> dict[str, Any]:
    return {
        "media": {
            "audio": {
                "samplecharacteristics": {"depth": 16, "samplerate": AUDIO_RATE},
                "channelcount": 2,
            }
        }
    }


def _plain(value: Any) -> Any:
    """``value`` as the JSON-like data OTIO metadata holds."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

"""Reading media with PyAV: what a file holds, and whether it decodes.

The one home of ``av``. Probing never runs the ffmpeg executable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from shotlist.errors import MediaError


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds. Durations in seconds; ``None`` where a stream is absent."""

    duration: float
    width: int | None
    height: int | None
    fps: Fraction | None
    video_codec: str | None
    pix_fmt: str | None
    video_duration: float | None
    frames: int | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    audio_duration: float | None
    video_extradata: str | None = None
    """The sha256 of the video's codec parameters (H.264: SPS and PPS): clips that share them
    can be joined without re-encoding."""
    plain_picture: bool = False
    """Square pixels, BT.709 (or untagged) colour in limited (or untagged) range: what a cut
    encodes, so the picture may be copied into one."""

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def probe(path: Path) -> MediaInfo:
    """Probe ``path`` with PyAV. Raises ``MediaError`` when it is not readable media."""
    import av

    try:
        with av.open(str(path)) as container:
            return _media_info(container)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{path}: not readable media ({exc})") from exc


def _stream_seconds(stream: object) -> float | None:
    duration = getattr(stream, "duration", None)
    time_base = getattr(stream, "time_base", None)
    if duration is None or time_base is None:
        return None
    return float(duration * time_base)


def _media_info(container: object) -> MediaInfo:
    import av

    assert isinstance(container, av.container.InputContainer)
    video = next(iter(container.streams.video), None)
    audio = next(iter(container.streams.audio), None)
    total = float(container.duration / av.time_base) if container.duration else 0.0
    return MediaInfo(
        duration=total,
        width=video.codec_context.width if video else None,
        height=video.codec_context.height if video else None,
        fps=Fraction(video.average_rate) if video and video.average_rate else None,
        video_codec=video.codec_context.name if video else None,
        pix_fmt=video.codec_context.pix_fmt if video else None,
        video_duration=_stream_seconds(video) if video else None,
        frames=(video.frames or None) if video else None,
        audio_codec=audio.codec_context.name if audio else None,
        sample_rate=audio.codec_context.sample_rate if audio else None,
        channels=audio.codec_context.channels if audio else None,
        audio_duration=_stream_seconds(audio) if audio else None,
        video_extradata=_extradata_hash(video) if video else None,
        plain_picture=_plain_picture(video) if video else False,
    )


# libavutil's values: BT.709, unspecified; the range unspecified or limited ("tv").
_BT709_OR_UNTAGGED = (1, 2)
_LIMITED_OR_UNTAGGED = (0, 1)


def _extradata_hash(video: Any) -> str | None:
    extradata = video.codec_context.extradata
    return hashlib.sha256(extradata).hexdigest() if extradata else None


def _plain_picture(video: Any) -> bool:
    context = video.codec_context
    sar = context.sample_aspect_ratio
    return (
        (sar is None or sar == 1)
        and context.colorspace in _BT709_OR_UNTAGGED
        and context.color_primaries in _BT709_OR_UNTAGGED
        and context.color_trc in _BT709_OR_UNTAGGED
        and context.color_range in _LIMITED_OR_UNTAGGED
    )


def decodes(path: Path) -> bool:
    """Whether the first frame of ``path``'s first stream decodes (a container that opens
    can still hold garbage, such as a PNG signature in front of nothing)."""
    import av

    try:
        with av.open(str(path)) as container:
            for _frame in container.decode(container.streams[0]):
                return True
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return False
    return False


_END_TOLERANCE = 0.25
"""How far short of its declared end a decoded stream may stop (the last frame's rounding)."""


def clip_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete clip, or None when it is.

    Opening is not enough: a download cut short behind a valid header (an MP4 whose
    ``moov`` comes first, say) opens and even declares its full length. So every
    packet of the video and audio streams is decoded, and the decoded end must
    reach the end each stream declares. Blocking: run it in a worker thread.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "it has no video stream"
            streams = [container.streams.video[0], *container.streams.audio[:1]]
            # (type, declared seconds) by index, read while the container is open.
            declared = {s.index: (s.type, _stream_seconds(s)) for s in streams}
            reached: dict[int, float] = {}
            for packet in container.demux(streams):
                for frame in packet.decode():
                    start = getattr(frame, "time", None)
                    if start is not None:
                        end = float(start) + _frame_seconds(frame)
                        reached[packet.stream.index] = max(reached.get(packet.stream.index, 0.0), end)
            video = streams[0].index
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        return f"it does not decode ({exc})"
    if video not in reached:
        return "its video stream holds no frames"
    for index, (kind, want) in declared.items():
        got = reached.get(index, 0.0)
        if want and got < want - _END_TOLERANCE:
            return f"its {kind} decodes to {got:.2f} s of the {want:.2f} s it declares (truncated)"
    return None


def _frame_seconds(frame: object) -> float:
    samples = getattr(frame, "samples", None)
    rate = getattr(frame, "sample_rate", None)
    if samples and rate:
        return float(samples) / float(rate)
    duration = getattr(frame, "duration", None)
    time_base = getattr(frame, "time_base", None)
    return float(duration * time_base) if duration and time_base else 0.0


def frame_index(clip: Path, at: float | None, before: bool = False) -> int:
    """The number (0 is the first) of the frame of ``clip`` shown at ``at`` seconds, or with
    ``before`` of the last one shown before it; ``at`` None is the last frame, a time before
    the first frame the first. Raises ``MediaError``."""
    import av

    try:
        with av.open(str(clip)) as container:
            index = -1
            for frame in container.decode(container.streams.video[0]):
                if index >= 0 and _past(frame.time, at, before):
                    break
                index += 1
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(f"{clip}: cannot take a frame ({exc})") from exc
    if index < 0:
        raise MediaError(f"{clip}: no picture to take a frame from")
    return index


def _past(seconds: float | None, at: float | None, before: bool) -> bool:
    """Whether a frame shown from ``seconds`` on comes after the one wanted at ``at``."""
    if at is None or seconds is None:
        return False
    return seconds >= at - 1e-6 if before else seconds > at + 1e-6

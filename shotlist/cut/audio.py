"""ffmpeg arguments (built with ``media.graph``) and decisions for the sound of a cut. Pure.

Sound never goes through a copy join. Lossy audio codecs work in frames (1024
samples for AAC) that do not line up with video frames, and every AAC stream
starts with encoder priming; copy-joining AAC clips adds ~35 ms of sound per
join and the picture drifts out of sync. So the sound is built like this:

1. each clip's sound is normalized to raw PCM of exactly its picture's length,
   with a few milliseconds of fade at its edges so a hard join does not click;
2. each transition's sound is rendered apart, like the picture's windows;
3. the shots' sound is assembled from those pieces by sample offsets (exact,
   and cheap), then one filter graph adds the music bed, ducking, the cut's
   fades and the loudness meter;
4. the result is levelled and encoded to AAC once, in chunks on every core.

Hard cuts with nothing over the whole cut (no transitions, music, loudness
target, cut fades or muted shots) skip steps 3 and 4: each shot's sound is
encoded to AAC once, on its own frame grid, and cached beside its PCM; the cut's
track is those packets spliced, each shot starting on the AAC frame boundary
nearest its picture's start (so within 512 samples of it, never accumulating).
Only the few packets around each join are encoded apart, from the PCM around
it as the cut plays it (see :func:`splice_spans`), because a packet decodes to the
overlap of two frames and frames from two encoders do not overlap cleanly; each
join's encode is cached by the two shots' sound, so a restitch after one shot
changed encodes the two joins beside it and nothing else.

ffmpeg's ``acrossfade`` is not used: in the bundled ffmpeg 7.0 its output
changes from run to run and can shift blocks of the first input.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shotlist.cut.timeline import AUDIO_RATE, CutPlan
from shotlist.cut.types import CutSettings
from shotlist.media import graph
from shotlist.media.graph import Stream
from shotlist.media.mp4 import PacketSpan

# How normalized sound is stored: raw 48 kHz stereo s16, read back with these input options.
PCM_FORMAT: dict[str, graph.Value] = {"f": "s16le", "ar": AUDIO_RATE, "ch_layout": "stereo"}
# ...and written with these output options.
_PCM_OUTPUT: dict[str, graph.Value] = {"c:a": "pcm_s16le", "f": "s16le"}
_WAV_OUTPUT: dict[str, graph.Value] = {"c:a": "pcm_f32le", "f": "wav"}
# The cut's AAC: the "fast" coder, see encode_args.
_AAC_OUTPUT: dict[str, graph.Value] = {
    "c:a": "aac", "aac_coder": "fast", "b:a": "192k", "ar": AUDIO_RATE, "ac": 2, "f": "mp4",
}  # fmt: skip
# Edge fades on every clip's sound: long enough to remove the click of a hard
# join, short enough to be inaudible as a fade.
EDGE_FADE_SECONDS = 0.01
# Aim below the -1 dBTP ceiling: AAC encoding adds a few tenths of a dB of overshoot.
TRUE_PEAK_TARGET = -1.5
# Ducking: the music drops while the shots' own sound rises above about -36 dBFS,
# by about 10 dB under speech at -24 dBFS.
_DUCK: dict[str, graph.Value] = {"threshold": 0.015, "ratio": 10, "attack": 20, "release": 400}
# sidechaincompress follows how its inputs are framed; fixed frames make it reproducible.
_FRAMES: dict[str, graph.Value] = {"n": 1024, "p": 0}
# The limiter's ceiling, applied at 4x oversampling so it bounds the true peak.
_LIMIT_DBFS = -2.0
# How close a limited mix must land to the loudness target before another pass.
LIMITED_TOLERANCE_LU = 0.5
# AAC codes sound in frames of this many samples.
AAC_FRAME = 1024
# Sound shorter than two of these is encoded in one piece.
MIN_CHUNK_SECONDS = 20
# Frames each chunk's encoder runs before and after the packets it contributes.
_PREROLL_FRAMES = 2
_POSTROLL_FRAMES = 4
# Packets taken from a join's own encode on each side of a spliced join.
JOIN_FRAMES = 2
# The PCM of one join's encode: pre-roll, the packets kept, post-roll.
JOIN_WINDOW_SAMPLES = (_PREROLL_FRAMES + 2 * JOIN_FRAMES + _POSTROLL_FRAMES) * AAC_FRAME
# Shots shorter than this go through the whole-track encode: their join windows would meet.
MIN_SPLICED_SAMPLES = JOIN_WINDOW_SAMPLES + 2 * AAC_FRAME


def normalize_sound_args(clip: Path, start: float, has_audio: bool, samples: int, output: Path) -> list[str]:
    """Normalize a clip's sound into raw PCM (:data:`PCM_FORMAT`), exactly ``samples`` long.

    Starts ``start`` seconds in (the trim), pads or cuts to the picture's length
    and fades the edges over a few milliseconds so a hard join does not click.
    A clip without sound gets silence.
    """
    return graph.command(*normalize_sound_outputs(clip, start, has_audio, samples, output))


def normalize_sound_outputs(
    clip: Path, start: float, has_audio: bool, samples: int, output: Path, encoded: Path | None = None
) -> list[graph.Output]:
    """The outputs of :func:`normalize_sound_args`, to run with others in one ffmpeg; with
    ``encoded``, also that PCM encoded as :func:`pcm_encode_args` encodes it (the same bytes)."""
    fade = min(round(EDGE_FADE_SECONDS * AUDIO_RATE), samples // 2)
    if has_audio:
        source = graph.Input(graph.url(clip), {"ss": f"{start:.6f}"} if start else None)
        # first_pts=0 pads the start when a clip's sound begins after its picture.
        resampled = source.stream("a").filter("aresample", AUDIO_RATE, **{"async": 1, "first_pts": 0})
        sound = resampled.filter("aformat", sample_fmts="s16", channel_layouts="stereo").filter("apad")
    else:
        sound = graph.source("anullsrc", r=AUDIO_RATE, cl="stereo")
    sound = sound.filter("atrim", end_sample=samples)
    if fade:
        sound = sound.filter("afade", t="in", ns=fade).filter("afade", t="out", ss=samples - fade, ns=fade)
    sound = sound.filter("aformat", sample_fmts="s16")
    if encoded is None:
        return [graph.output([sound], graph.url(output), _PCM_OUTPUT)]
    pcm, aac = sound.asplit()
    return [
        graph.output([pcm], graph.url(output), _PCM_OUTPUT),
        graph.output([aac], graph.url(encoded), _AAC_OUTPUT),
    ]


def _pcm(path: Path) -> Stream:
    """The sound of a raw PCM file (:data:`PCM_FORMAT`)."""
    return graph.Input(graph.url(path), PCM_FORMAT).stream("a")


def sound_window_output(
    tail: Path | None, tail_start: int, head: Path | None, samples: int, dip: bool, output: Path
) -> graph.Output:
    """The sound of a transition, ``samples`` of one shot's end into the next's start: an
    output to run with others in one ffmpeg.

    ``tail`` is the earlier shot's PCM, whose overlap starts at ``tail_start``;
    ``head`` is the later shot's PCM; ``None`` stands for a muted shot. A
    crossfade keeps the power constant; a dip fades out over the first half and
    in over the rest, silent at the midpoint like the picture is black.
    """

    def source(path: Path | None, start: int) -> Stream:
        if path is None:
            return graph.source("anullsrc", r=AUDIO_RATE, cl="stereo").filter("atrim", end_sample=samples)
        cut = _pcm(path).filter("atrim", start_sample=start, end_sample=start + samples)
        return cut.filter("asetpts", "PTS-STARTPTS")

    half = samples // 2
    before, after = source(tail, tail_start), source(head, 0)
    if dip:
        before = before.filter("afade", t="out", curve="tri", ns=half)
        after = after.filter("afade", t="in", curve="tri", ss=half, ns=samples - half)
    else:
        before = before.filter("afade", t="out", curve="qsin", ns=samples)
        after = after.filter("afade", t="in", curve="qsin", ns=samples)
    mixed = graph.merge("amix", [before, after], inputs=2, duration="longest", normalize=0)
    sound = mixed.filter("aformat", sample_fmts="s16")
    return graph.output([sound], graph.url(output), _PCM_OUTPUT)


def mix_args(
    shots_sound: Path, plan: CutPlan, settings: CutSettings, output: Path, *, measure: bool
) -> list[str]:
    """Mix the cut's sound into a float WAV at ``output``.

    ``shots_sound`` is the shots' sound already joined (raw PCM, see
    :data:`PCM_FORMAT`); this adds the music bed, ducking and the cut's fades.
    With ``measure`` the graph also runs ffmpeg's EBU R128 meter over the result
    (see :func:`parse_ebur128`).
    """
    total = plan.samples(plan.total_frames)
    # Rounding at odd frame rates can leave the join a sample off; pin it to the picture.
    sound = _pcm(shots_sound).filter("apad", whole_len=total).filter("atrim", end_sample=total)
    if settings.music is not None:
        sound = _with_music(sound, graph.Input(graph.url(settings.music)).stream("a"), settings, total)
    sound = _cut_fades(sound, plan)
    if not measure:
        return graph.command(graph.output([sound], graph.url(output), _WAV_OUTPUT))
    sound, meter = sound.asplit()
    return graph.command(graph.output([sound], graph.url(output), _WAV_OUTPUT), _meter(meter))


def _meter(sound: Stream) -> graph.Output:
    """ebur128 over ``sound``, its summary printed on stderr (see :func:`parse_ebur128`)."""
    metered = sound.filter("ebur128", peak="true", framelog="quiet")
    return graph.output([metered], "-", {"f": "null"})


def _with_music(shots: Stream, music: Stream, settings: CutSettings, total: int) -> Stream:
    music = music.filter("aresample", AUDIO_RATE)
    music = music.filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
    music = music.filter("volume", volume=f"{settings.music_volume_db:.2f}dB")
    music = music.filter("apad").filter("atrim", end_sample=total)
    if settings.duck:
        shots, key = shots.asplit()
        framed_music, framed_key = (
            music.filter("asetnsamples", **_FRAMES),
            key.filter("asetnsamples", **_FRAMES),
        )
        music = graph.merge("sidechaincompress", [framed_music, framed_key], **_DUCK)
    return graph.merge("amix", [shots, music], inputs=2, duration="first", normalize=0)


def _cut_fades(sound: Stream, plan: CutPlan) -> Stream:
    if plan.fade_in:
        sound = sound.filter("afade", t="in", ns=plan.samples(plan.fade_in))
    if plan.fade_out:
        length = plan.samples(plan.fade_out)
        sound = sound.filter("afade", t="out", ss=plan.samples(plan.total_frames) - length, ns=length)
    return sound


@dataclass(frozen=True)
class Loudness:
    """An EBU R128 measurement: integrated loudness (LUFS), its gate, range (LU), true peak."""

    integrated: float
    threshold: float
    lra: float
    true_peak: float


_SUMMARY_FIELDS = {
    "integrated": r"Integrated loudness:\s+I:\s+(\S+) LUFS",
    "threshold": r"Integrated loudness:\s+I:\s+\S+ LUFS\s+Threshold:\s+(\S+) LUFS",
    "lra": r"Loudness range:\s+LRA:\s+(\S+) LU",
    "true_peak": r"True peak:\s+Peak:\s+(\S+) dBFS",
}


def parse_ebur128(stderr: str) -> Loudness:
    """Read the summary ebur128 prints at the end of a run. Raises ``ValueError`` without one."""
    at = stderr.rfind("Summary:")
    if at < 0:
        raise ValueError("ebur128 printed no summary")
    summary = stderr[at:]
    values = {}
    for name, pattern in _SUMMARY_FIELDS.items():
        found = re.search(pattern, summary)
        if not found:
            raise ValueError(f"no {name} in the ebur128 summary")
        values[name] = float(found.group(1))
    return Loudness(**values)


def encode_args(source: Path, gain_db: float | None, chunk: EncodeChunk, output: Path) -> list[str]:
    """Encode one chunk of the cut's sound to AAC, in an M4A; ``media.splice_audio`` joins the chunks.

    ``gain_db`` levels the sound on the way (see :func:`leveling`). The "fast"
    coder: at 192 kb/s it sounds as good as the default "twoloop" (which is
    tuned for low bitrates) and costs about a third of the time on broadband
    sound such as speech, ambience and music.
    """
    trim: dict[str, graph.Value] = {"start_sample": chunk.start_sample}
    if chunk.end_sample is not None:
        trim["end_sample"] = chunk.end_sample
    sound = (
        graph.Input(graph.url(source)).stream("a").filter("atrim", **trim).filter("asetpts", "PTS-STARTPTS")
    )
    if gain_db is not None:
        sound = sound.filter("volume", volume=f"{gain_db:.2f}dB")
    return graph.command(graph.output([sound], graph.url(output), _AAC_OUTPUT))


@dataclass(frozen=True)
class EncodeChunk:
    """A stretch of the cut's sound encoded by its own encoder, in parallel with the others.

    An AAC packet decodes to the overlap of two frames, so a chunk's encoder
    starts a few frames early on the same 1024-sample grid as one encoder over
    the whole sound would use; its first packets are dropped and the rest line
    up with the previous chunk's last packet as if one encoder had made both.
    Positions are samples of the cut; ``keep_from``/``keep_until`` are packet
    timestamps in the chunk's own timeline (``None``: open end).
    """

    start_sample: int
    end_sample: int | None
    keep_from: int | None
    keep_until: int | None


def encode_chunks(samples: int, count: int) -> list[EncodeChunk]:
    """Split ``samples`` of sound into at most ``count`` chunks of at least MIN_CHUNK_SECONDS."""
    packets = samples // AAC_FRAME + 2  # the priming packet, whole frames, the last partial one
    count = max(1, min(count, samples // (MIN_CHUNK_SECONDS * AUDIO_RATE)))
    bounds = [0, *(round(i * packets / count) for i in range(1, count)), None]
    chunks = []
    for first, end in itertools.pairwise(bounds):
        assert first is not None
        start = max(0, (first - 1 - _PREROLL_FRAMES) * AAC_FRAME) if first else 0
        stop = None if end is None else (end + _POSTROLL_FRAMES) * AAC_FRAME
        chunks.append(
            EncodeChunk(
                start_sample=start,
                end_sample=None if stop is None or stop >= samples else stop,
                keep_from=(first - 1) * AAC_FRAME - start if first else None,
                keep_until=None if end is None else (end - 1) * AAC_FRAME - start,
            )
        )
    return chunks


@dataclass(frozen=True)
class Leveling:
    """How the second loudness pass reaches the target: a gain, limited or not."""

    gain_db: float
    limit: bool


def leveling(measured: Loudness, target: float) -> Leveling | None:
    """Decide the second loudness pass from the first pass's measurement.

    Where the gain keeps the true peak under the ceiling this is loudnorm's
    linear mode, a plain gain. Otherwise the gain goes through a true-peak
    limiter (see :func:`limit_args`); loudnorm's dynamic mode is not used because
    it misses the integrated target by several LU on short or peaky programmes.
    Silence is left alone.
    """
    if not math.isfinite(measured.integrated) or measured.integrated <= -70:
        return None
    gain = target - measured.integrated
    return Leveling(gain, limit=measured.true_peak + gain > TRUE_PEAK_TARGET)


def limit_args(source: Path, gain_db: float, samples: int, output: Path) -> list[str]:
    """Apply ``gain_db`` through a true-peak limiter into ``output``, metering the result.

    The limiter runs at 192 kHz so inter-sample peaks are caught; its lookahead
    delay is compensated and the length pinned, so the sound stays in sync.
    """
    limit = 10 ** (_LIMIT_DBFS / 20)
    sound = graph.Input(graph.url(source)).stream("a").filter("volume", volume=f"{gain_db:.2f}dB")
    limiter: dict[str, graph.Value] = {
        "limit": f"{limit:.4f}",
        "attack": 1,
        "release": 50,
        "level": 0,
        "latency": 1,
    }
    sound = sound.filter("aresample", 192000).filter("alimiter", **limiter).filter("aresample", AUDIO_RATE)
    sound, meter = sound.filter("apad", whole_len=samples).filter("atrim", end_sample=samples).asplit()
    return graph.command(graph.output([sound], graph.url(output), _WAV_OUTPUT), _meter(meter))


def pcm_encode_args(pcm: Path, output: Path) -> list[str]:
    """Encode raw PCM (:data:`PCM_FORMAT`) to AAC in an M4A, as :func:`encode_args` encodes the cut."""
    return graph.command(pcm_encode_output(pcm, output))


def pcm_encode_output(pcm: Path, output: Path) -> graph.Output:
    """The output of :func:`pcm_encode_args`, to run with others in one ffmpeg."""
    return graph.output([_pcm(pcm)], graph.url(output), _AAC_OUTPUT)


def splice_starts(picture_starts: Sequence[int]) -> list[int]:
    """Where each shot's sound starts in a spliced track: the AAC frame boundary nearest its picture."""
    return [(start + AAC_FRAME // 2) // AAC_FRAME * AAC_FRAME for start in picture_starts]


def join_window_start(join: int) -> int:
    """The cut sample where the PCM of the join window at cut sample ``join`` begins."""
    return join - (_PREROLL_FRAMES + JOIN_FRAMES) * AAC_FRAME


def end_window_start(end: int) -> int:
    """The cut sample where the PCM of the window that ends the track at ``end`` begins."""
    return join_window_start(end // AAC_FRAME * AAC_FRAME)


def splice_spans(
    starts: Sequence[int], end: int, shots: Sequence[Path], joins: Sequence[Path], ending: Path
) -> list[PacketSpan]:
    """The packets of a spliced track, in order: each shot's own, and each join's between them.

    ``starts`` are from :func:`splice_starts` and ``end`` is the picture's end
    (samples); ``shots`` are the shots' encodes (:func:`pcm_encode_args`),
    ``joins`` the encodes of each join window's PCM (``JOIN_WINDOW_SAMPLES`` from
    :func:`join_window_start`; the window into shot 1 first), ``ending`` the encode
    of the end window (from :func:`end_window_start` to ``end``), so the track ends
    with the picture. Timestamps are the encoder's: the packet at ``pts`` decodes
    samples ``pts .. pts + 1024`` and the first packet is the priming one at
    -1024. Each window's encode runs on the same frame grid as the shots around
    it and agrees with them on the frames at its edges, so the seams decode as
    if one encoder had made the whole track.
    """
    margin = JOIN_FRAMES * AAC_FRAME
    preroll = _PREROLL_FRAMES * AAC_FRAME
    ending_at = end_window_start(end)
    spans = []
    for index, (start, shot) in enumerate(zip(starts, shots, strict=True)):
        if index:
            window = join_window_start(start)
            spans.append(PacketSpan(joins[index - 1], preroll, preroll + 2 * margin, shift=window))
        until = ending_at + preroll if index == len(starts) - 1 else starts[index + 1] - margin
        spans.append(PacketSpan(shot, margin if index else None, until - start, shift=start))
    spans.append(PacketSpan(ending, preroll, None, shift=ending_at))
    return spans

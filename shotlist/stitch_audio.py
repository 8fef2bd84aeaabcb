"""ffmpeg arguments and decisions for the sound of a cut. Pure: runs nothing.

Sound never goes through a copy join. Lossy audio codecs work in frames (1024
samples for AAC) that do not line up with video frames, and every AAC stream
starts with encoder priming; copy-joining AAC clips adds ~35 ms of sound per join
and the picture drifts out of sync. So each clip's sound is normalized to PCM of
exactly its picture's length, the cut's sound is mixed from those sample-exact
pieces in one filter graph (crossfades, mutes, music bed, ducking, fades) and
encoded to AAC once, beside the copied picture.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist.stitch_plan import AUDIO_RATE, CutPlan

if TYPE_CHECKING:
    from shotlist.stitch import CutSettings

# Edge fades on every clip's sound: long enough to remove the click of a hard
# join, short enough to be inaudible as a fade.
EDGE_FADE_SECONDS = 0.01
# Aim below the -1 dBTP ceiling: AAC encoding adds a few tenths of a dB of overshoot.
TRUE_PEAK_TARGET = -1.5
# Ducking: the music drops while the shots' own sound rises above about -36 dBFS,
# by about 10 dB under speech at -24 dBFS.
_DUCK = "threshold=0.015:ratio=10:attack=20:release=400"
# Transitions that pass through black or white also dip the sound in the middle.
_DIP_TRANSITIONS = frozenset({"fade_black", "dip_white"})
# The limiter's ceiling, applied at 4x oversampling so it bounds the true peak.
_LIMIT_DBFS = -2.0
# How close a limited mix must land to the loudness target before another pass.
LIMITED_TOLERANCE_LU = 0.5


def normalize_sound_args(clip: Path, start: float, has_audio: bool, samples: int, output: Path) -> list[str]:
    """Normalize a clip's sound into a WAV: 48 kHz stereo, exactly ``samples`` long.

    Starts ``start`` seconds in (the trim), pads or cuts to the picture's length
    and fades the edges over a few milliseconds so a hard join does not click.
    A clip without sound gets silence.
    """
    fade = min(round(EDGE_FADE_SECONDS * AUDIO_RATE), samples // 2)
    if has_audio:
        seek = ["-ss", f"{start:.6f}"] if start else []
        inputs = [*seek, "-i", str(clip)]
        # first_pts=0 pads the start when a clip's sound begins after its picture.
        source = (
            f"[0:a]aresample={AUDIO_RATE}:async=1:first_pts=0,"
            "aformat=sample_fmts=s16:channel_layouts=stereo,apad"
        )
    else:
        inputs, source = [], f"anullsrc=r={AUDIO_RATE}:cl=stereo"
    fades = f"afade=t=in:ns={fade},afade=t=out:ss={samples - fade}:ns={fade}" if fade else "anull"
    graph = f"{source},atrim=end_sample={samples},{fades},aformat=sample_fmts=s16[a]"
    return [
        *inputs, "-filter_complex", graph,
        "-map", "[a]", "-c:a", "pcm_s16le", "-f", "wav", str(output),
    ]  # fmt: skip


def mix_args(
    plan: CutPlan, sounds: Sequence[Path], settings: CutSettings, output: Path, *, measure: bool
) -> list[str]:
    """Mix the cut's sound into a float WAV at ``output``.

    ``sounds`` are the normalized clips' WAVs in shot order. With ``measure`` the
    graph also runs ffmpeg's EBU R128 meter over the result (see :func:`parse_ebur128`).
    """
    inputs: list[Path] = []
    graph: list[str] = []
    labels = []
    for index, (timing, sound) in enumerate(zip(plan.shots, sounds, strict=True)):
        samples = plan.samples(timing.frames)
        if timing.shot.mute:
            graph.append(f"anullsrc=r={AUDIO_RATE}:cl=stereo,atrim=end_sample={samples}[s{index}]")
        else:
            graph.append(f"[{len(inputs)}:a]anull[s{index}]")
            inputs.append(sound)
        labels.append(f"[s{index}]")
    total = plan.samples(plan.total_frames)
    graph += _join_chain(plan, labels)
    # Rounding of odd frame rates can leave the chain a sample off; pin it to the picture.
    graph.append(f"[joined]apad=whole_len={total},atrim=end_sample={total}[shots]")
    last = "[shots]"
    if settings.music is not None:
        graph.append(_music_chain(len(inputs), settings, total))
        inputs.append(settings.music)
        last = "[mixed]"
    graph.append(f"{last}{_cut_fades(plan)}[out]")
    outputs = ["-map", "[out]", "-c:a", "pcm_f32le", "-f", "wav", str(output)]
    if measure:
        graph[-1] = f"{last}{_cut_fades(plan)},asplit=2[out][meter]"
        graph.append("[meter]ebur128=peak=true:framelog=quiet[metered]")
        outputs += ["-map", "[metered]", "-f", "null", "-"]
    input_args = [arg for path in inputs for arg in ("-i", str(path))]
    return [*input_args, "-filter_complex", ";".join(graph), *outputs]


def _join_chain(plan: CutPlan, labels: Sequence[str]) -> list[str]:
    """Join the shots' sound: concatenated at cuts, crossfaded over transitions."""
    steps: list[str] = []
    current = labels[0]
    for index, timing in enumerate(plan.shots[1:], start=1):
        out = f"[j{index}]"
        if timing.transition_frames:
            curve = "cub" if timing.transition in _DIP_TRANSITIONS else "qsin"
            overlap = plan.samples(timing.transition_frames)
            steps.append(f"{current}{labels[index]}acrossfade=ns={overlap}:c1={curve}:c2={curve}{out}")
        else:
            steps.append(f"{current}{labels[index]}concat=n=2:v=0:a=1{out}")
        current = out
    steps.append(f"{current}anull[joined]")
    return steps


def _music_chain(input_index: int, settings: CutSettings, total: int) -> str:
    music = (
        f"[{input_index}:a]aresample={AUDIO_RATE},"
        "aformat=sample_fmts=fltp:channel_layouts=stereo,"
        f"volume={settings.music_volume_db:.2f}dB,apad,atrim=end_sample={total}[music]"
    )
    if not settings.duck:
        return f"{music};[shots][music]amix=inputs=2:duration=first:normalize=0[mixed]"
    return (
        f"{music};[shots]asplit=2[dry][key];[music][key]sidechaincompress={_DUCK}[ducked];"
        "[dry][ducked]amix=inputs=2:duration=first:normalize=0[mixed]"
    )


def _cut_fades(plan: CutPlan) -> str:
    fades = ["anull"]
    if plan.fade_in:
        fades.append(f"afade=t=in:ns={plan.samples(plan.fade_in)}")
    if plan.fade_out:
        length = plan.samples(plan.fade_out)
        fades.append(f"afade=t=out:ss={plan.samples(plan.total_frames) - length}:ns={length}")
    return ",".join(fades)


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


def encode_args(source: Path, audio_filter: str | None, output: Path) -> list[str]:
    """Encode the cut's sound once, to AAC in an M4A the join copies from."""
    level = ["-af", audio_filter] if audio_filter else []
    return [
        "-i", str(source), *level,
        "-c:a", "aac", "-b:a", "192k", "-ar", str(AUDIO_RATE), "-ac", "2",
        "-f", "mp4", str(output),
    ]  # fmt: skip


@dataclass(frozen=True)
class Leveling:
    """How the second loudness pass reaches the target: a gain, limited or not."""

    gain_db: float
    limit: bool

    def filter(self) -> str:
        return f"volume={self.gain_db:.2f}dB"


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
    graph = (
        f"[0:a]volume={gain_db:.2f}dB,aresample=192000,"
        f"alimiter=limit={limit:.4f}:attack=1:release=50:level=0:latency=1,"
        f"aresample={AUDIO_RATE},apad=whole_len={samples},atrim=end_sample={samples},"
        "asplit=2[out][meter];[meter]ebur128=peak=true:framelog=quiet[metered]"
    )
    return [
        "-i", str(source), "-filter_complex", graph,
        "-map", "[out]", "-c:a", "pcm_f32le", "-f", "wav", str(output),
        "-map", "[metered]", "-f", "null", "-",
    ]  # fmt: skip

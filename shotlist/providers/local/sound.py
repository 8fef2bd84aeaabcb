"""The sound of the local previz engine: seeded ambience, or the shot's audio reference.

Ambience is a bed of stereo noise (two seeded ``anoisesrc``, which is
deterministic for a fixed seed) shaped by filters, under a quiet two-note
drone. Words in the prompt pick the character (sea: slow swells; rain or
storm: brighter hiss; city: a low rumble), the seed picks the rest, so that
different shots sound different and a shot always sounds the same.

Everything here builds graph streams (``media.graph``); nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from shotlist.media import graph
from shotlist.media.graph import Stream
from shotlist.providers.local.scene import prompt_words, scene_rng

SAMPLE_RATE = 48_000
FADE = 0.04  # seconds; short fades keep cuts between shots free of clicks

# Roots of the drone (Hz): low notes that sit under dialogue.
_ROOTS = (98.0, 110.0, 123.47, 130.81, 146.83, 164.81)
# Intervals above the root: fifth, fourth, major and minor third, octave.
_INTERVALS = (1.5, 4 / 3, 1.25, 1.2, 2.0)


@dataclass(frozen=True)
class Ambience:
    noise_color: str
    lowpass: int
    highpass: int
    swell_hz: float  # 0 for none
    root: float
    interval: float
    drone_gain: float
    seeds: tuple[int, int]


def ambience_for(seed: int, prompt: str) -> Ambience:
    rng = scene_rng(seed, prompt, "sound")
    words = prompt_words(prompt)
    color, lowpass, highpass, swell = "brown", rng.randint(380, 1100), 30, 0.0
    if words & {"sea", "ocean", "waves", "wave", "beach", "shore", "coast", "surf"}:
        swell = rng.uniform(0.1, 0.16)
        lowpass = rng.randint(700, 1400)
    elif words & {"rain", "rainy", "storm", "stormy", "wind", "windy", "thunder"}:
        color, lowpass, highpass = "pink", rng.randint(2500, 5000), 200
    elif words & {"city", "street", "traffic", "town", "downtown", "crowd"}:
        lowpass, highpass = rng.randint(250, 500), 40
    return Ambience(
        noise_color=color,
        lowpass=lowpass,
        highpass=highpass,
        swell_hz=round(swell, 3),
        root=rng.choice(_ROOTS),
        interval=rng.choice(_INTERVALS),
        drone_gain=round(rng.uniform(0.1, 0.22), 3),
        seeds=(rng.randrange(1, 2**31), rng.randrange(1, 2**31)),
    )


def samples(duration: float) -> int:
    return round(duration * SAMPLE_RATE)


def _finish(sound: Stream, duration: float) -> Stream:
    """Exact length, gentle ends, one format: 48 kHz stereo float."""
    fade_out = max(duration - FADE, 0.0)
    sound = sound.filter("atrim", end_sample=samples(duration)).filter("asetpts", "N/SR/TB")
    sound = sound.filter("afade", t="in", d=FADE).filter("afade", t="out", st=f"{fade_out:.6f}", d=FADE)
    return sound.filter("aformat", sample_fmts="fltp", sample_rates=SAMPLE_RATE, channel_layouts="stereo")


def ambience(seed: int, prompt: str, duration: float) -> Stream:
    """The shot's ambience, generated: seeded noise shaped by the prompt, under a drone."""
    a = ambience_for(seed, prompt)
    d = f"{duration + 0.5:.3f}"  # sources run a little long; _finish cuts exactly
    left, right = (
        graph.source("anoisesrc", d=d, r=SAMPLE_RATE, c=a.noise_color, a=0.5, seed=part) for part in a.seeds
    )
    noise = graph.merge("join", [left, right], inputs=2, channel_layout="stereo")
    noise = noise.filter("highpass", f=a.highpass).filter("lowpass", f=a.lowpass)
    if a.swell_hz:
        noise = noise.filter("tremolo", f=a.swell_hz, d=0.7)
    tones = [
        graph.source("sine", f=f"{freq:.3f}", r=SAMPLE_RATE, d=d)
        .filter("pan", args="stereo|c0=c0|c1=c0")
        .filter("tremolo", f=f"{0.13 + 0.07 * i:.2f}", d=0.5)
        for i, freq in enumerate((a.root, a.root * a.interval))
    ]
    weights = f"1 {a.drone_gain} {a.drone_gain * 0.7:.3f}"
    mixed = graph.merge("amix", [noise, *tones], inputs=3, duration="first", normalize=0, weights=weights)
    return _finish(mixed.filter("volume", volume=0.7), duration)


def reference_sound(sound: Stream, duration: float) -> Stream:
    """The shot's audio reference (an input looped without end) cut to the shot."""
    return _finish(sound.filter("aresample", SAMPLE_RATE), duration)

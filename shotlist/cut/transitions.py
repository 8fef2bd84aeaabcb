"""The one table of transitions: what the storyboard names, what ffmpeg draws, what a timeline says.

Each transition has one row: its xfade name (``None`` for a plain cut), the colour it
dips through at its midpoint (the sound dips there too), and how an editor's timeline
names it (a SMPTE dissolve, or a custom transition that keeps its shotlist name).
Pure data: the picture, the sound and the export all read it; none defines its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

TimelineKind = Literal["cut", "dissolve", "custom"]


@dataclass(frozen=True)
class Transition:
    name: str
    xfade: str | None
    """ffmpeg's xfade transition drawing it; ``None``: no window (a hard cut)."""
    dip: str | None = None
    """The colour the picture passes through at the midpoint (black, white), if any."""
    timeline: TimelineKind = "custom"


# Transitions that ffmpeg's xfade draws under the same name.
_XFADE_NATIVE = (
    "wipeleft", "wiperight", "wipeup", "wipedown",
    "slideleft", "slideright", "slideup", "slidedown",
    "smoothleft", "smoothright", "smoothup", "smoothdown",
    "circleopen", "circleclose", "pixelize", "radial", "zoomin",
)  # fmt: skip

TRANSITIONS: Mapping[str, Transition] = {
    t.name: t
    for t in (
        Transition("cut", None, timeline="cut"),
        Transition("crossfade", "fade", timeline="dissolve"),
        Transition("dissolve", "dissolve", timeline="dissolve"),
        # xfade's fadeblack/fadewhite never reach the colour: the picture builds these as two fades.
        Transition("fade_black", "fadeblack", dip="black"),
        Transition("dip_white", "fadewhite", dip="white"),
        *(Transition(name, name) for name in _XFADE_NATIVE),
    )
}

TRANSITION_TYPES: tuple[str, ...] = tuple(TRANSITIONS)

# Storyboard name -> ffmpeg xfade name, for the transitions that have a window.
XFADE_TRANSITIONS: Mapping[str, str] = {t.name: t.xfade for t in TRANSITIONS.values() if t.xfade}

# Transitions that pass through a colour at their midpoint.
DIP_COLOURS: Mapping[str, str] = {t.name: t.dip for t in TRANSITIONS.values() if t.dip}


def transition(name: str) -> Transition:
    """The row of ``name``; ``KeyError`` for a name the table does not hold."""
    return TRANSITIONS[name]

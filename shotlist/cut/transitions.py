"""The one table of transitions: what the storyboard names, what ffmpeg draws, what a timeline says.

Each transition has one row: its xfade name (``None`` for a plain cut), the colour it
dips through at its midpoint (the sound dips there too), how an editor's timeline
names it (a SMPTE dissolve or wipe, or a custom transition that keeps its shotlist
name), and what the editor formats call it: Final Cut Pro 7's nearest built-in
transition (whose name is its effect id) and the CMX 3600 EDL code.
Pure data: the picture, the sound and the export all read it; none defines its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

TimelineKind = Literal["cut", "dissolve", "wipe", "custom"]


@dataclass(frozen=True)
class Transition:
    name: str
    xfade: str | None
    """ffmpeg's xfade transition drawing it; ``None``: no window (a hard cut)."""
    dip: str | None = None
    """The colour the picture passes through at the midpoint (black, white), if any."""
    timeline: TimelineKind = "custom"
    fcp_effect: str = "Cross Dissolve"
    """Final Cut Pro 7's built-in transition nearest to it; FCP identifies it by this name."""
    fcp_category: str = "Dissolve"
    edl: str = "D"
    """The CMX 3600 code: D (dissolve), W001 (horizontal wipe) or W002 (vertical wipe). EDLs
    have no slides, irises or clocks: those are the wipe nearest in direction."""


def _wipe(name: str, fcp_effect: str, fcp_category: str = "Wipe") -> Transition:
    """A transition xfade draws under its own name that editors know as a wipe."""
    vertical = name.endswith(("up", "down"))
    return Transition(
        name, name, timeline="wipe", fcp_effect=fcp_effect, fcp_category=fcp_category,
        edl="W002" if vertical else "W001",
    )  # fmt: skip


_DIRECTIONS = ("left", "right", "up", "down")

TRANSITIONS: Mapping[str, Transition] = {
    t.name: t
    for t in (
        Transition("cut", None, timeline="cut"),
        Transition("crossfade", "fade", timeline="dissolve"),
        Transition("dissolve", "dissolve", timeline="dissolve"),
        # xfade's fadeblack/fadewhite never reach the colour: the picture builds these as two fades.
        Transition(
            "fade_black", "fadeblack", dip="black", timeline="dissolve", fcp_effect="Dip to Color Dissolve"
        ),
        Transition(
            "dip_white", "fadewhite", dip="white", timeline="dissolve", fcp_effect="Dip to Color Dissolve"
        ),
        *(_wipe(f"wipe{d}", "Edge Wipe") for d in _DIRECTIONS),
        *(_wipe(f"slide{d}", "Push Slide", "Slide") for d in _DIRECTIONS),
        *(_wipe(f"smooth{d}", "Edge Wipe") for d in _DIRECTIONS),
        _wipe("circleopen", "Oval Iris", "Iris"),
        _wipe("circleclose", "Oval Iris", "Iris"),
        # No editor has pixelize or zoomin: custom in OTIO, a dissolve in FCP 7 and EDLs.
        Transition("pixelize", "pixelize"),
        _wipe("radial", "Clock Wipe"),
        Transition("zoomin", "zoomin"),
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

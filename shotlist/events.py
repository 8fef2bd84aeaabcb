"""Typed events the library emits while it works.

The library never prints. It calls a hook with these events; the CLI turns
them into a progress display or plain lines, the watch page into updates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Base of every event. ``shot_id`` is empty for events about the whole cut."""

    shot_id: str


@dataclass(frozen=True)
class ShotQueued(Event):
    provider: str


@dataclass(frozen=True)
class ShotCached(Event):
    file: str


@dataclass(frozen=True)
class ShotSubmitted(Event):
    provider: str
    job_id: str
    resumed: bool = False


@dataclass(frozen=True)
class ShotProgress(Event):
    state: str
    progress: float | None = None


@dataclass(frozen=True)
class ShotRetrying(Event):
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class ShotDownloaded(Event):
    file: str


@dataclass(frozen=True)
class ShotFailed(Event):
    error: str


@dataclass(frozen=True)
class StitchStarted(Event):
    output: str


@dataclass(frozen=True)
class StitchStep(Event):
    step: str


@dataclass(frozen=True)
class StitchFinished(Event):
    output: str


@dataclass(frozen=True)
class Notice(Event):
    message: str


@dataclass(frozen=True)
class RowFinished(Event):
    """One row of a ``--matrix`` batch has its cut (or failed: ``error`` says why)."""

    row: str
    output: str
    shots: int
    rendered: int
    cached: int
    cost_usd: float
    error: str = ""


Hook = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default hook: events go nowhere."""

"""Showing the library's events: a live table per shot on a terminal, plain lines elsewhere.

Part of the CLI (rich lives here and in cli.py); the library only emits events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from shotlist.events import (
    Event,
    Notice,
    ShotCached,
    ShotDownloaded,
    ShotFailed,
    ShotProgress,
    ShotQueued,
    ShotRetrying,
    ShotSubmitted,
    StitchFinished,
    StitchStarted,
    StitchStep,
)

COLOURS = {
    "queued": "dim",
    "submitted": "cyan",
    "running": "cyan",
    "retrying": "yellow",
    "done": "green",
    "cached": "green",
    "failed": "red",
}


@dataclass
class ShotLine:
    """What the display knows of one shot."""

    provider: str = ""
    state: str = "queued"
    progress: float | None = None
    job: str = ""
    started: float | None = None
    ended: float | None = None
    note: str = ""

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        return f"{(self.ended or now) - self.started:5.1f}s"


@dataclass
class Display:
    """An event hook that draws progress; use as a context manager around the work."""

    console: Console
    quiet: bool = False
    shots: dict[str, ShotLine] = field(default_factory=dict)
    stitch: str = ""
    _live: Live | None = None

    def __enter__(self) -> Display:
        if self.console.is_terminal and not self.quiet:
            self._live = Live(self.table(), console=self.console, refresh_per_second=8, transient=False)
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self.table())
            self._live.stop()
            self._live = None

    def hook(self, event: Event) -> None:
        line = self.shots.setdefault(event.shot_id, ShotLine()) if event.shot_id else None
        text = self.apply(event, line)
        if self._live is not None:
            self._live.update(self.table())
            if isinstance(event, Notice | ShotFailed):
                self._live.console.print(text)
        elif text and not self.quiet:
            self.console.print(text)

    def apply(self, event: Event, line: ShotLine | None) -> str:
        """Update the state for ``event``; return the plain line to show for it (or "")."""
        now = time.monotonic()
        sid = escape(event.shot_id)
        if isinstance(event, ShotQueued) and line:
            line.provider = event.provider
            return ""
        if isinstance(event, ShotCached) and line:
            line.state = "cached"
            return f"{sid}: from the cache"
        if isinstance(event, ShotSubmitted) and line:
            line.state, line.job, line.started = "submitted", event.job_id, line.started or now
            verb = "resumed" if event.resumed else "submitted"
            return f"{sid}: {verb} to {event.provider} (job {escape(event.job_id)})"
        if isinstance(event, ShotProgress) and line:
            line.state = "running" if event.state in ("running", "queued") else event.state
            line.progress = event.progress
            return ""
        if isinstance(event, ShotRetrying) and line:
            line.state, line.note = "retrying", event.reason
            return f"{sid}: retrying in {event.delay:.1f}s (attempt {event.attempt}): {escape(event.reason)}"
        if isinstance(event, ShotDownloaded) and line:
            line.state, line.progress, line.ended = "done", 1.0, now
            return f"{sid}: done"
        if isinstance(event, ShotFailed) and line:
            line.state, line.note, line.ended = "failed", event.error, now
            return f"[red]failed:[/] {escape(event.error)}"  # the error names the shot
        if isinstance(event, StitchStarted):
            self.stitch = "stitching"
            return f"stitching {escape(event.output)}"
        if isinstance(event, StitchStep):
            self.stitch = event.step + (f" {event.shot_id}" if event.shot_id else "")
            return ""
        if isinstance(event, StitchFinished):
            self.stitch = "cut written"
            return f"cut written: {escape(event.output)}"
        if isinstance(event, Notice):
            about = f"{sid}: " if sid else ""
            return f"[yellow]note:[/] {about}{escape(event.message)}"
        return ""

    def table(self) -> Table:
        now = time.monotonic()
        table = Table(box=None, pad_edge=False, show_header=True)
        for column in ("shot", "provider", "state", "progress", "time", "job"):
            table.add_column(column, no_wrap=True)
        for shot_id, line in self.shots.items():
            colour = COLOURS.get(line.state, "white")
            progress = "" if line.progress is None else _bar(line.progress)
            table.add_row(
                escape(shot_id),
                line.provider,
                f"[{colour}]{line.state}[/]",
                progress,
                line.elapsed(now),
                escape(line.job),
            )
        if self.stitch:
            table.add_row("[bold]cut[/]", "", self.stitch, "", "", "")
        return table


def _bar(fraction: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction * 100:3.0f}%"

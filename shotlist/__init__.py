"""shotlist: a declarative shot-list renderer for AI video models.

The library is the same path the command line takes, in layers (each imports only
the ones above it)::

    errors, events, files, request      shared types and the one home of file I/O
    storyboard/                         model, YAML positions, Jinja2 expansion, loading
    refs, planner, review               references and hashes; one exact request per shot; diffs
    providers/                          capability records, local previz, paid HTTP routes
    store/, engine                      clip cache, journal, lock; async scheduling
    media/, cut/                        ffmpeg and probing; the cut and its export
    pipeline                            plan -> budget -> render -> lock -> stitch
    batch/                              one cut per row of a table, locally or on Ray
    watchmode/, cli/                    watch mode and its page; the command line

Use it as a library::

    import shotlist

    plan = shotlist.plan(Path("film.yaml"))              # submits nothing
    result = shotlist.render(Path("film.yaml"))       # or: await shotlist.arender(...)
    print(result.output)

Names are imported on first use, so ``import shotlist`` (and the CLI's start-up) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the path
    "load_storyboard": "shotlist.storyboard.loader",
    "plan": "shotlist.pipeline",
    "plan_against": "shotlist.pipeline",
    "render": "shotlist.pipeline",
    "arender": "shotlist.pipeline",
    "stitch": "shotlist.pipeline",
    "watch": "shotlist.watchmode.session",
    "plan_matrix": "shotlist.batch.run",
    "render_matrix": "shotlist.batch.run",
    "arender_matrix": "shotlist.batch.run",
    # results
    "LoadedStoryboard": "shotlist.storyboard.loader",
    "Plan": "shotlist.planner",
    "PlannedShot": "shotlist.planner",
    "Review": "shotlist.review",
    "ShotRequest": "shotlist.request",
    "RenderedCut": "shotlist.pipeline",
    "RenderedShot": "shotlist.engine",
    "CutResult": "shotlist.cut.types",
    "WatchOptions": "shotlist.watchmode.session",
    "Cycle": "shotlist.watchmode.session",
    "Event": "shotlist.events",
    "MatrixPlan": "shotlist.batch.matrix",
    "BatchResult": "shotlist.batch.run",
    # errors
    "ShotlistError": "shotlist.errors",
    "Problem": "shotlist.errors",
    "StoryboardError": "shotlist.errors",
    "ConfigError": "shotlist.errors",
    "ProjectError": "shotlist.errors",
    "RevisionError": "shotlist.errors",
    "BudgetError": "shotlist.errors",
    "ProviderError": "shotlist.errors",
    "RenderError": "shotlist.errors",
    "FrozenError": "shotlist.errors",
    "NotRenderedError": "shotlist.errors",
    "StoreError": "shotlist.errors",
    "SharedCacheError": "shotlist.errors",
    "MediaError": "shotlist.errors",
    "CutError": "shotlist.errors",
    "FFmpegError": "shotlist.errors",
    "StitchError": "shotlist.errors",
}

# The public API, pinned by tests/test_public_api.py (the same names as _EXPORTS).
__all__ = [
    "BatchResult",
    "BudgetError",
    "ConfigError",
    "CutError",
    "CutResult",
    "Cycle",
    "Event",
    "FFmpegError",
    "FrozenError",
    "LoadedStoryboard",
    "MatrixPlan",
    "MediaError",
    "NotRenderedError",
    "Plan",
    "PlannedShot",
    "Problem",
    "ProjectError",
    "ProviderError",
    "RenderError",
    "RenderedCut",
    "RenderedShot",
    "Review",
    "RevisionError",
    "SharedCacheError",
    "ShotRequest",
    "ShotlistError",
    "StitchError",
    "StoreError",
    "StoryboardError",
    "WatchOptions",
    "__version__",
    "arender",
    "arender_matrix",
    "load_storyboard",
    "plan",
    "plan_against",
    "plan_matrix",
    "render",
    "render_matrix",
    "stitch",
    "watch",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shotlist' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from shotlist.batch.matrix import MatrixPlan
    from shotlist.batch.run import BatchResult, arender_matrix, plan_matrix, render_matrix
    from shotlist.cut.types import CutResult
    from shotlist.engine import RenderedShot
    from shotlist.errors import (
        BudgetError,
        ConfigError,
        CutError,
        FFmpegError,
        FrozenError,
        MediaError,
        NotRenderedError,
        Problem,
        ProjectError,
        ProviderError,
        RenderError,
        RevisionError,
        SharedCacheError,
        ShotlistError,
        StitchError,
        StoreError,
        StoryboardError,
    )
    from shotlist.events import Event
    from shotlist.pipeline import RenderedCut, arender, plan, plan_against, render, stitch
    from shotlist.planner import Plan, PlannedShot
    from shotlist.request import ShotRequest
    from shotlist.review import Review
    from shotlist.storyboard.loader import LoadedStoryboard, load_storyboard
    from shotlist.watchmode.session import Cycle, WatchOptions, watch

"""The library's front door: one call per command, each running the steps in order.

    load -> expand -> plan -> render -> stitch -> export

Each function takes plain arguments, emits events to ``hook`` and returns a
result or raises a ShotlistError; the CLI and the watch loop both call these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shotlist.errors import BudgetError
from shotlist.loader import load_storyboard, parse_var_overrides
from shotlist.plan import Lookup, Plan, build_plan
from shotlist.providers import capabilities as caps


def plan(
    file: Path,
    *,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    provider: str | None = None,
    allow_outside: bool = False,
    budget: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Plan:
    """Load, expand and plan ``file``; check the budget. Submits nothing, writes nothing."""
    values = overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    loaded = load_storyboard(file, overrides=values)
    result = build_plan(
        loaded,
        provider=provider,
        allow_outside=allow_outside,
        lookup=_lookup(loaded.path, env),
        engine_salt=engine_salts(),
    )
    check_budget(result, budget)
    return result


def check_budget(result: Plan, budget: float | None) -> None:
    if budget is not None and result.total_estimated_cost_usd > budget + 1e-9:
        raise BudgetError(
            f"estimated cost ${result.total_estimated_cost_usd:.2f} exceeds the budget of ${budget:.2f}; "
            "nothing was submitted"
        )


def engine_salts() -> dict[str, str]:
    """Text mixed into the hashes of local shots: their bytes depend on these versions."""
    from shotlist.media import ffmpeg_version

    try:
        from shotlist.providers.local import LOCAL_ENGINE_VERSION
    except ImportError:  # pragma: no cover - the local engine is part of the package
        LOCAL_ENGINE_VERSION = "0"
    return {"local": f"engine {LOCAL_ENGINE_VERSION}; {ffmpeg_version()}"}


def _lookup(storyboard: Path, env: Mapping[str, str] | None) -> Lookup:
    del storyboard, env
    return Lookup()


def provider_rows(env: Mapping[str, str] | None = None) -> list[tuple[str, ...]]:
    """One row per provider and model for ``shotlist providers``: never a secret's value."""
    environ = os.environ if env is None else env
    rows = []
    for name in caps.PROVIDERS:
        record = caps.capabilities(name)
        needs = record.key_env or "-"
        is_set = "-" if not record.key_env else ("yes" if environ.get(record.key_env) else "no")
        for limits in record.models:
            durations = f"{limits.min_duration:g}-{limits.max_duration:g}s"
            counts = "/".join(
                "any" if n is None else str(n)
                for n in (limits.max_images, limits.max_videos, limits.max_audios, limits.max_files)
            )
            models = ", ".join((limits.name, *limits.aliases))
            rows.append(
                (
                    name,
                    models,
                    durations,
                    counts,
                    f"{limits.price_per_second_usd:.2f}",
                    needs,
                    is_set,
                )
            )
    return rows

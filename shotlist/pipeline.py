"""The library's front door: one call per command, each running the steps in order.

    load -> expand -> plan -> render -> stitch -> export

Each function takes plain arguments, emits events to ``hook`` and returns a
result or raises a ShotlistError; the CLI and the watch loop both call these.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shotlist.errors import BudgetError, ConfigError, FrozenError, RenderError
from shotlist.events import Hook, Notice, ignore
from shotlist.plan import Lookup, Plan, PlannedShot, build_plan
from shotlist.providers import capabilities as caps
from shotlist.providers.base import Provider
from shotlist.store.cache import Store, lock_path, read_lock, store_root, update_lock, write_lock
from shotlist.storyboard.loader import load_storyboard, parse_var_overrides
from shotlist.suggest import suggest

if TYPE_CHECKING:
    from shotlist.cut.types import CutResult


class NotRenderedError(FrozenError):
    """The cut needs shots that are not rendered yet (``shotlist stitch`` submits nothing)."""

    def __init__(self, missing: Sequence[str], storyboard: str) -> None:
        super().__init__(missing)
        # FrozenError's own message speaks of --frozen, which the user of stitch did not give.
        self.args = (
            f"these shots are not rendered yet: {', '.join(self.missing)}; "
            f"render them with: shotlist render {storyboard}",
        )


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
    if provider is not None and provider not in caps.PROVIDERS:
        hint = suggest(provider, caps.PROVIDERS)
        extra = f'; did you mean "{hint}"?' if hint else f"; providers: {', '.join(caps.PROVIDERS)}"
        raise ConfigError(f'--provider: unknown provider "{provider}"{extra}')
    environ = os.environ if env is None else env
    values = overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    loaded = load_storyboard(file, overrides=values)
    refuse_secrets(loaded.storyboard.model_dump(mode="json"), loaded.label, environ)
    result = build_plan(
        loaded,
        provider=provider,
        allow_outside=allow_outside,
        lookup=_lookup(loaded.path, environ),
        engine_salt=engine_salts(),
    )
    check_budget(result, budget)
    return result


def refuse_secrets(document: Any, label: str, env: Mapping[str, str]) -> None:
    """A storyboard holding the value of a provider's API key is refused (it would be committed,
    hashed and sent as text); the message names the variable, never the value."""
    keys = {
        name: env[name]
        for name in (caps.capabilities(p).api_key_env for p in caps.PROVIDERS)
        if name and len(env.get(name, "")) >= 8
    }
    if not keys:
        return
    texts = list(_strings(document))
    for name, value in keys.items():
        if any(value in text for text in texts):
            raise ConfigError(
                f"{label}: the storyboard contains the value of {name}; API keys come from the "
                "environment only. Remove it from the file (and from its history)"
            )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_budget(result: Plan, budget: float | None) -> None:
    if budget is not None and result.total_estimated_cost_usd > budget + 1e-9:
        raise BudgetError(
            f"estimated cost ${result.total_estimated_cost_usd:.2f} exceeds the budget of ${budget:.2f}; "
            "nothing was submitted"
        )


def engine_salts() -> dict[str, str]:
    """Text mixed into the hashes of local shots: their bytes depend on these versions."""
    from shotlist.media.ffmpeg import ffmpeg_version

    try:
        from shotlist.providers.local.engine import LOCAL_ENGINE_VERSION
    except ImportError:  # pragma: no cover - the local engine is part of the package
        LOCAL_ENGINE_VERSION = "0"
    return {"local": f"engine {LOCAL_ENGINE_VERSION}; {ffmpeg_version()}"}


def _lookup(storyboard: Path, env: Mapping[str, str]) -> Lookup:
    """The lock's hashes and the cache, for new/changed/cached. Reads, never writes."""
    lock = read_lock(lock_path(storyboard))
    store = Store(store_root(storyboard, env))
    return Lookup(locked={entry.id: entry.hash for entry in lock.shots}, cached=store.has)


@dataclass(frozen=True)
class RenderedCut:
    """What ``render`` did: the cut (None with ``--no-stitch`` or a partial ``--only``),
    every shot's clip and where it came from, and how many jobs were submitted."""

    plan: Plan
    output: Path | None
    shots: tuple[Any, ...]
    submitted: int

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.output) if self.output else None,
            "shots": [
                {
                    "id": s.id,
                    "hash": s.hash,
                    "source": s.source,
                    "job_id": s.job_id,
                    "file": str(s.file),
                    "cost_usd": s.cost_usd,
                }
                for s in self.shots
            ],
            "submitted": self.submitted,
        }


def render(
    file: Path,
    *,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    provider: str | None = None,
    concurrency: int | None = None,
    only: Sequence[str] = (),
    budget: float | None = None,
    frozen: bool = False,
    stitch: bool = True,
    output: Path | None = None,
    allow_outside: bool = False,
    hook: Hook = ignore,
    env: Mapping[str, str] | None = None,
    providers: Any = None,
    timing: Any = None,
) -> RenderedCut:
    """Plan, render what is missing, record the lock, and stitch the cut.

    Budget and provider settings are checked before anything is submitted. A shot
    that fails does not stop the others; the lock records every shot that finished,
    then ``RenderError`` names the failures. ``providers`` and ``timing`` replace
    the provider sessions and the engine's delays (tests).
    """
    from shotlist.engine import Timing, render_shots

    environ = os.environ if env is None else env
    result = plan(file, overrides=overrides, provider=provider, allow_outside=allow_outside, env=environ)
    selected = select_shots(result, only)
    to_pay = sum(s.estimated_cost_usd for s in selected)
    if budget is not None and to_pay > budget + 1e-9:
        raise BudgetError(
            f"estimated cost ${to_pay:.2f} exceeds the budget of ${budget:.2f}; nothing was submitted"
        )
    for warning in result.warnings:
        hook(Notice("", str(warning)))
    store = Store(store_root(result.loaded.path, environ))
    requests = [s.request for s in selected]
    report = asyncio.run(
        render_shots(
            requests,
            store=store,
            providers=providers or provider_factory(store, environ),
            concurrency=concurrency,
            hook=hook,
            frozen=frozen,
            timing=timing or Timing(),
        )
    )
    lock_file = lock_path(result.loaded.path)
    previous = read_lock(lock_file)
    lock = update_lock(previous, [s.request for s in result.shots], report.shots)
    if lock.shots or lock_file.exists():  # no lock of nothing after a first render that all failed
        write_lock(lock_file, lock)
    if report.failures:
        raise RenderError(report.failures, partial=RenderedCut(result, None, report.shots, report.submitted))
    cut = None
    if stitch and len(selected) == len(result.shots):
        # The engine has just verified every clip: the cut need not hash them again.
        verified = {shot.hash: (shot.file, shot.sha256) for shot in report.shots}
        cut = stitch_plan(result, store, output=output, hook=hook, verified=verified).output
    elif stitch:
        cut = _stitch_if_complete(result, store, output, hook)
    return RenderedCut(result, cut, report.shots, report.submitted)


def select_shots(result: Plan, only: Sequence[str]) -> list[PlannedShot]:
    """The shots ``--only`` names (all when empty); an unknown id is an error with a suggestion."""
    if not only:
        return list(result.shots)
    ids = [s.request.id for s in result.shots]
    unknown = [i for i in only if i not in ids]
    if unknown:
        hint = suggest(unknown[0], ids)
        extra = f'; did you mean "{hint}"?' if hint else f"; shots: {', '.join(ids)}"
        raise ConfigError(f'--only: no shot "{unknown[0]}" in {result.loaded.label}{extra}')
    wanted = set(only)
    return [s for s in result.shots if s.request.id in wanted]


def provider_factory(store: Store, env: Mapping[str, str]) -> Any:
    """Opens a session per provider the render needs; a missing key is a ConfigError then."""

    def open_provider(name: str) -> Provider:
        if name == "local":
            from shotlist.providers.local.engine import LocalProvider

            return LocalProvider(store.root / "local")
        if name == "lumenfall":
            from shotlist.providers.lumenfall import LumenfallProvider

            return LumenfallProvider.from_env(env)
        raise ConfigError(
            f"rendering through {name} is not available yet; plan with it, or render with "
            "--provider local or lumenfall"
        )

    return open_provider


def stitch(
    file: Path,
    *,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    provider: str | None = None,
    output: Path | None = None,
    allow_outside: bool = False,
    hook: Hook = ignore,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Rebuild the cut from rendered shots only; submits nothing. Raises NotRenderedError
    (a FrozenError) when a shot is not rendered."""
    environ = os.environ if env is None else env
    result = plan(file, overrides=overrides, provider=provider, allow_outside=allow_outside, env=environ)
    store = Store(store_root(result.loaded.path, environ))
    return stitch_plan(result, store, output=output, hook=hook).output


def _stitch_if_complete(result: Plan, store: Store, output: Path | None, hook: Hook) -> Path | None:
    if all(store.has(s.request.hash) for s in result.shots):
        return stitch_plan(result, store, output=output, hook=hook).output
    hook(Notice("", "--only: other shots are not rendered yet, so the cut was not rebuilt"))
    return None


def cut_output(result: Plan, output: Path | None) -> Path:
    """``-o`` beats ``cut.output``, which beats ``out/<storyboard name>.mp4`` beside the storyboard."""
    if output is not None:
        return output
    written = result.loaded.storyboard.cut.output
    folder = result.loaded.folder
    return folder / written if written else folder / "out" / f"{result.loaded.path.stem}.mp4"


def stitch_plan(
    result: Plan,
    store: Store,
    *,
    output: Path | None,
    hook: Hook,
    verified: Mapping[str, tuple[Path, str]] | None = None,
) -> CutResult:
    """Build the cut of a fully rendered plan.

    ``verified`` maps request hashes to clips (file, sha256) this process has just
    checked (a render's report), so they are not hashed again; the rest are read
    from the cache, verified.
    """
    from shotlist.cut.stitch import stitch_cut
    from shotlist.cut.types import CutSettings, CutShot, TransitionSpec

    board = result.loaded.storyboard
    clips: dict[str, tuple[Path, str] | None] = dict(verified or {})
    for planned in result.shots:
        if planned.request.hash not in clips:
            cached = store.get(planned.request.hash)
            clips[planned.request.hash] = (cached.file, cached.sha256) if cached else None
    missing = [s.request.id for s in result.shots if clips[s.request.hash] is None]
    if missing:
        raise NotRenderedError(missing, result.loaded.label)
    shots = []
    for planned in result.shots:
        shot, request = planned.shot, planned.request
        clip = clips[request.hash]
        assert clip is not None
        trim = shot.trim
        transition = shot.transition
        shots.append(
            CutShot(
                id=request.id,
                clip=clip[0],
                clip_sha256=clip[1],
                trim_start=trim.start if trim else None,
                trim_end=trim.end if trim else None,
                transition=TransitionSpec(transition.type, transition.duration) if transition else None,
                mute=planned.mute,
                dialogue=request.dialogue,
                metadata={
                    "prompt": request.prompt,
                    "seed": request.seed,
                    "request_hash": request.hash,
                    "provider": request.provider,
                    "model": request.model,
                },
            )
        )
    cut = board.cut
    width, height = (int(n) for n in cut.size.split("x"))
    soundtrack = board.soundtrack
    settings = CutSettings(
        width=width,
        height=height,
        fps=cut.fps,
        fit=cut.fit,
        transition=TransitionSpec(cut.transition.type, cut.transition.duration),
        loudness=cut.loudness,
        fade_in=cut.fade_in,
        fade_out=cut.fade_out,
        music=result.music,
        music_volume_db=soundtrack.volume if soundtrack else -12.0,
        duck=soundtrack.duck if soundtrack else True,
        burn_subtitles=cut.burn_subtitles,
    )
    target = cut_output(result, output)
    target.parent.mkdir(parents=True, exist_ok=True)
    return stitch_cut(shots, settings, work_dir=store.root / "cut", output=target, hook=hook)


def provider_rows(env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """What ``shotlist providers`` shows, per provider: never a secret's value, only whether it is set."""
    environ = os.environ if env is None else env
    rows = []
    for name in caps.PROVIDERS:
        record = caps.capabilities(name)
        key = record.api_key_env
        models = []
        for limits in record.models:
            counts = (limits.max_images, limits.max_videos, limits.max_audios, limits.max_files)
            models.append(
                {
                    "name": limits.name,
                    "aliases": list(limits.aliases),
                    "durations": f"{limits.min_duration:g}-{limits.max_duration:g} s"
                    + (" (whole seconds)" if limits.whole_seconds else ""),
                    "references": "images/videos/audios/files "
                    + "/".join("any" if n is None else str(n) for n in counts),
                    "aspect_ratios": list(limits.aspect_ratios or ["any"]),
                    "resolutions": list(limits.resolutions or ["any"]),
                    "seeds": limits.honours_seed,
                    "price_per_second_usd": limits.price_per_second_usd,
                }
            )
        rows.append(
            {
                "provider": name,
                "key_env": key,
                "key_set": bool(key and environ.get(key)),
                "base_url_env": record.base_url_env,
                "default_base_url": record.default_base_url,
                "renders": name in RENDERABLE,
                "models": models,
            }
        )
    return rows


# Providers with a rendering session (the others are planned and priced only, for now).
RENDERABLE = ("local", "lumenfall")

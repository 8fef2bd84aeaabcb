"""The library's front door: the one path every command and watch mode take.

    load -> expand -> plan -> budget -> render -> lock -> stitch -> export

Each function takes plain arguments, emits events to ``hook`` and returns a result
or raises a ShotlistError. ``arender`` is the path itself; ``render`` runs it for
callers without an event loop; the CLI and watch mode both call these.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shotlist import files
from shotlist.errors import BudgetError, ConfigError, NotRenderedError, RenderError, StoryboardError
from shotlist.events import Event, Hook, Notice, ignore
from shotlist.planner import (
    Lookup,
    Plan,
    PlannedShot,
    build_plan,
    cost_to_render,
    cut_output_conflict,
    with_completed,
)
from shotlist.providers import capabilities as caps
from shotlist.providers import registry
from shotlist.store.backend import cache_url
from shotlist.store.cache import Store, store_root
from shotlist.store.lock import Lock, lock_path, read_lock, update_lock, write_lock
from shotlist.store.shared import SharedCache, open_shared_cache
from shotlist.storyboard.loader import load_storyboard, parse_var_overrides
from shotlist.suggest import suggest

# What only rendering, stitching and reviewing need is imported where it is used, so
# ``validate`` and ``plan`` start without asyncio, the engine or the cut (issue 17).
if TYPE_CHECKING:
    from shotlist.cut.types import CutResult
    from shotlist.engine import ProviderSource, RenderedShot, Timing
    from shotlist.providers.base import Provider
    from shotlist.review import Review

T = TypeVar("T")


def plan(
    file: Path,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    allow_outside: bool = False,
    budget: float | None = None,
    env: Mapping[str, str] | None = None,
    cache: str | None = None,
) -> Plan:
    """Load, expand and plan ``file``; check the budget. Submits nothing and writes nothing but
    the cache's copies of frames taken from rendered clips (continuity: a dependent shot's
    request holds its parent's frame by content).
    With a team cache (``cache`` or ``SHOTLIST_CACHE_URL``) a shot there counts as cached."""
    check_provider_name(provider)
    environ = os.environ if env is None else env
    values = overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    loaded = load_storyboard(file, overrides=values)
    refuse_secrets(loaded.storyboard.model_dump(mode="json"), loaded.label, environ)
    result = build_plan(
        loaded,
        provider=provider,
        allow_outside=allow_outside,
        lookup=_lookup(loaded.path, environ, team_cache(cache, environ)),
        engine_salt=engine_salts(),
    )
    check_budget(cost_to_render(result.shots), budget)
    return result


def plan_against(
    file: Path,
    ref: str,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    allow_outside: bool = False,
    env: Mapping[str, str] | None = None,
) -> Review:
    """What changed in ``file`` since the git revision ``ref``, and what rendering it costs.

    Plans the storyboard as it is and as it was at ``ref`` (the storyboard, its includes,
    its references and its lock all read from git, nothing checked out). A storyboard
    that did not exist at ``ref`` is all added. Raises RevisionError outside a git
    repository or for an unknown revision; a storyboard invalid at ``ref`` raises
    StoryboardError with its problems located as ``REF:file``.
    """
    from shotlist.review import compare
    from shotlist.storyboard.gitrev import GitRevision

    values = overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    revision = GitRevision.open(file.resolve().parent, ref)
    after = plan(file, overrides=values, provider=provider, allow_outside=allow_outside, env=env)
    before: Plan | None = None
    ref_lock = Lock()
    if revision.kind(file.resolve()) == "file":
        with files.reading_from(revision):
            try:
                loaded = load_storyboard(file, overrides=values)
                before = build_plan(
                    loaded, provider=provider, allow_outside=allow_outside, engine_salt=engine_salts()
                )
            except StoryboardError as exc:
                raise StoryboardError(replace(p, file=f"{ref}:{p.file}") for p in exc.problems) from None
            ref_lock = read_lock(lock_path(loaded.path))
    return compare(
        after, before, ref_lock, against=ref, commit=revision.commit, storyboard=after.loaded.label
    )


def refuse_secrets(document: Any, label: str, env: Mapping[str, str]) -> None:
    """A storyboard holding the value of a provider's API key is refused (it would be committed,
    hashed and sent as text); the message names the variable, never the value."""
    keys = {
        name: env[name]
        for name in (registry.capabilities(p).api_key_env for p in registry.names())
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


def check_provider_name(provider: str | None) -> None:
    """``--provider`` names a known provider (one message, with a suggestion, wherever it is given)."""
    if provider is not None and provider not in registry.names():
        hint = suggest(provider, registry.names())
        extra = f'; did you mean "{hint}"?' if hint else f"; providers: {', '.join(registry.names())}"
        raise ConfigError(f'--provider: unknown provider "{provider}"{extra}')


def check_budget(needed: float, budget: float | None, *, spent: float | None = None) -> None:
    """The one budget check: ``needed`` (each distinct request once) must fit in ``budget``.

    ``spent`` is what a watch session has already spent of the same budget."""
    if budget is None or (spent or 0.0) + needed <= budget + 1e-9:
        return
    if spent is None:
        raise BudgetError(
            f"estimated cost ${needed:.2f} exceeds the budget of ${budget:.2f}; nothing was submitted",
            needed_usd=needed,
            remaining_usd=budget,
        )
    remaining = max(0.0, budget - spent)
    raise BudgetError(
        f"rendering the changed shots would cost an estimated ${needed:.2f}, but only "
        f"${remaining:.2f} of the session's ${budget:.2f} budget is left; nothing was "
        "submitted (the last good cut stays; edit the storyboard or restart with a higher --budget)",
        needed_usd=needed,
        remaining_usd=remaining,
    )


def engine_salts() -> dict[str, str]:
    """Text mixed into the hashes of local shots: their bytes depend on these versions."""
    from shotlist.media.ffmpeg import ffmpeg_version
    from shotlist.providers.local.version import LOCAL_ENGINE_VERSION

    return {caps.LOCAL_PROVIDER: f"engine {LOCAL_ENGINE_VERSION}; {ffmpeg_version()}"}


def _lookup(storyboard: Path, env: Mapping[str, str], shared: SharedCache | None = None) -> Lookup:
    """The lock's hashes and the cache, for new/changed/cached. Reads, never writes."""
    from shotlist.continuity import frame_lookup

    lock = read_lock(lock_path(storyboard))
    store = Store(store_root(storyboard, env))
    locked = {key: value for entry in lock.shots for key, value in entry.take_hashes().items()}

    def cached(request_hash: str) -> bool:
        return store.has(request_hash) or (shared is not None and shared.has(request_hash))

    return Lookup(locked=locked, cached=cached, frame=frame_lookup(store))


def team_cache(cache: str | None, env: Mapping[str, str]) -> SharedCache | None:
    """The team cache: ``cache`` (``--cache URL``) beats ``SHOTLIST_CACHE_URL``; None without."""
    return open_shared_cache(cache_url(cache, env), env)


@dataclass(frozen=True)
class RenderedCut:
    """What ``render`` did: the cut (None with ``stitch=False`` or a partial ``only``),
    every shot's clip and where it came from, and how many jobs were submitted."""

    plan: Plan
    output: Path | None
    shots: tuple[RenderedShot, ...]
    submitted: int

    def to_json(self) -> dict[str, object]:
        """One entry per shot: its picked take (``take``) and every take rendered (``takes``)."""
        by_key = {s.key: s for s in self.shots}
        shots = []
        for planned in self.plan.shots:
            picked = by_key.get(planned.request.key)
            if picked is None:
                continue  # not rendered this time (--only, or it failed)
            takes = [by_key[r.key] for r in planned.requests if r.key in by_key]
            shots.append(
                {
                    "id": picked.id,
                    "hash": picked.hash,
                    "source": picked.source,
                    "job_id": picked.job_id,
                    "file": str(picked.file),
                    "cost_usd": picked.cost_usd,
                    "take": planned.pick,
                    "takes": [{"take": t.take, "hash": t.hash, "file": str(t.file)} for t in takes],
                }
            )
        return {
            "output": str(self.output) if self.output else None,
            "shots": shots,
            "submitted": self.submitted,
        }


def render(
    file: Path | Plan,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
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
    providers: ProviderSource | None = None,
    timing: Timing | None = None,
    cache: str | None = None,
) -> RenderedCut:
    """``arender`` for callers without an event loop (it runs one). Inside a running loop
    (a notebook, an async service), await ``arender`` instead."""
    import asyncio

    return asyncio.run(
        arender(
            file,
            overrides=overrides,
            provider=provider,
            concurrency=concurrency,
            only=only,
            budget=budget,
            frozen=frozen,
            stitch=stitch,
            output=output,
            allow_outside=allow_outside,
            hook=hook,
            env=env,
            providers=providers,
            timing=timing,
            cache=cache,
        )
    )


async def arender(
    file: Path | Plan,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
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
    providers: ProviderSource | None = None,
    timing: Timing | None = None,
    record_lock: bool = True,
    spent: float | None = None,
    cache: str | None = None,
) -> RenderedCut:
    """Plan, check the budget, render what is missing, record the lock, stitch: the one path.

    ``file`` is the storyboard, or a ``Plan`` already made from it (``overrides``,
    ``provider`` and ``allow_outside`` then went to ``plan``). The budget and the
    providers' settings are checked before anything is submitted; each distinct request
    is rendered and counted once. A shot that fails does not stop the others: the lock
    records every shot that finished, then ``RenderError`` names the failures.
    ``record_lock=False`` leaves the lock alone (watch's free previews); ``spent`` is a
    watch session's spend so far against ``budget``. ``cache`` is the team cache's URL
    (default ``SHOTLIST_CACHE_URL``): shots are fetched from it, published to it and claimed
    in it before they are paid for. ``providers`` and ``timing`` replace
    the provider sessions and the engine's delays (tests). Planning and stitching run in
    a thread, so the event loop stays free.
    """
    from shotlist.engine import Pending, Timing, render_shots

    environ = os.environ if env is None else env
    if isinstance(file, Plan):
        result = file
    else:
        result = await in_thread(
            plan,
            file,
            overrides=overrides,
            provider=provider,
            allow_outside=allow_outside,
            env=environ,
            cache=cache,
        )
    selected = select_shots(result, only)
    check_budget(cost_to_render(selected), budget, spent=spent)
    if stitch:
        cut_output(result, output)  # a cut that may not be written is refused before spending
    for warning in result.warnings:
        hook(Notice("", str(warning)))
    store = Store(store_root(result.loaded.path, environ))
    from shotlist.continuity import completer

    shared = team_cache(cache, environ)
    report = await render_shots(
        [r for s in selected if not s.waits_on for r in s.requests],
        store=store,
        providers=providers or provider_factory(store, environ),
        concurrency=concurrency,
        hook=hook,
        frozen=frozen,
        timing=timing or Timing(),
        pending=[Pending(s.requests, s.frames) for s in selected if s.waits_on],
        complete=completer(store, engine_salts()),
        shared=shared,
    )
    result = with_completed(result, report.completed)
    if record_lock:
        lock_file = lock_path(result.loaded.path)
        lock = update_lock(
            read_lock(lock_file),
            [r for s in result.shots for r in s.requests],
            report.shots,
            picks={s.request.id: s.pick for s in result.shots},
        )
        if lock.shots or lock_file.exists():  # no lock of nothing after a first render that all failed
            write_lock(lock_file, lock)
    if report.failures:
        raise RenderError(report.failures, partial=RenderedCut(result, None, report.shots, report.submitted))
    cut = None
    if stitch and len(selected) == len(result.shots):
        # The engine has just verified every clip: the cut need not hash them again.
        verified = {shot.hash: (shot.file, shot.sha256) for shot in report.shots}
        cut = (await astitch_plan(result, store, output=output, hook=hook, verified=verified)).output
    elif stitch:
        if all(store.has(s.request.hash) for s in result.shots):
            cut = (await astitch_plan(result, store, output=output, hook=hook)).output
        else:
            hook(Notice("", "--only: other shots are not rendered yet, so the cut was not rebuilt"))
    return RenderedCut(result, cut, report.shots, report.submitted)


async def astitch_plan(
    result: Plan,
    store: Store,
    *,
    output: Path | None,
    hook: Hook,
    verified: Mapping[str, tuple[Path, str]] | None = None,
) -> CutResult:
    """``stitch_plan`` in a thread; its events reach ``hook`` on the event loop's thread."""
    import asyncio

    loop = asyncio.get_running_loop()

    def from_thread(event: Event) -> None:
        loop.call_soon_threadsafe(hook, event)

    return await in_thread(stitch_plan, result, store, output=output, hook=from_thread, verified=verified)


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (planning, stitching) in a thread. Cancelling waits for the thread
    to finish: its ffmpeg cannot be killed from here and must not outlive the caller."""
    import asyncio
    import contextlib
    import functools

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, functools.partial(function, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        if not future.cancelled():
            future.exception()  # retrieved; the cancellation is what matters now
        raise


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


def provider_factory(store: Store, env: Mapping[str, str]) -> Callable[[str], Provider]:
    """Opens a session per provider the render needs; a missing key is a ConfigError then."""

    def open_provider(name: str) -> Provider:
        return registry.open_provider(name, env, store)

    return open_provider


def stitch(
    file: Path,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    output: Path | None = None,
    allow_outside: bool = False,
    hook: Hook = ignore,
    env: Mapping[str, str] | None = None,
    cache: str | None = None,
) -> Path:
    """Rebuild the cut from rendered shots only (here or in the team cache); submits nothing.
    Raises NotRenderedError (a FrozenError) when a shot is not rendered."""
    environ = os.environ if env is None else env
    result = plan(file, overrides=overrides, provider=provider, allow_outside=allow_outside, env=environ)
    cut_output(result, output)  # where the cut goes is checked before what it needs
    store = Store(store_root(result.loaded.path, environ))
    shared = team_cache(cache, environ)
    return stitch_plan(result, store, output=output, hook=hook, shared=shared).output


def export(
    file: Path,
    fmt: str,
    *,
    output: Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    allow_outside: bool = False,
) -> Path:
    """Write the timeline of ``file``'s cut as ``fmt`` (``otio``, ``otioz``, ``edl``, ``fcp7xml``,
    ``fcpxml``) to ``output`` or beside the cut; returns the file written."""
    from shotlist.cut.nle import export_timeline

    result = plan(file, overrides=overrides, allow_outside=allow_outside)
    return export_timeline(cut_output(result, None).with_suffix(".otio"), fmt, output)


def cut_output(result: Plan, output: Path | None) -> Path:
    """``-o`` beats ``cut.output``, which beats ``out/<storyboard name>.mp4`` beside the storyboard.
    Raises ``ConfigError`` (``-o``) or ``StoryboardError`` when the cut may not go there."""
    written = result.loaded.storyboard.cut.output
    folder = result.loaded.folder
    if output is not None:
        target = output
    else:
        target = folder / written if written else folder / "out" / f"{result.loaded.path.stem}.mp4"
    conflict = cut_output_conflict(target, result.loaded, result.media_paths())
    if conflict is not None and output is not None:
        raise ConfigError(f'-o "{output}": {conflict}')
    if conflict is not None:
        raise StoryboardError([result.loaded.problem(("cut", "output"), f'"{written}" {conflict}')])
    return target


def stitch_plan(
    result: Plan,
    store: Store,
    *,
    output: Path | None,
    hook: Hook,
    verified: Mapping[str, tuple[Path, str]] | None = None,
    shared: SharedCache | None = None,
) -> CutResult:
    """Build the cut of a fully rendered plan.

    ``verified`` maps request hashes to clips (file, sha256) this process has just
    checked (a render's report), so they are not hashed again; the rest are read
    from the cache, verified.
    """
    from shotlist.cut.stitch import stitch_cut
    from shotlist.cut.types import CutSegment, CutSettings, CutShot, TransitionSpec

    board = result.loaded.storyboard
    clips: dict[str, tuple[Path, str] | None] = dict(verified or {})
    for planned in result.shots:
        if planned.request.hash not in clips:
            cached = store.get(planned.request.hash)
            if cached is None and shared is not None:
                cached = shared.fetch(planned.request.hash, store).clip
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
                segments=tuple(
                    CutSegment(seg.start, seg.end, seg.prompt, seg.dialogue) for seg in request.segments
                ),
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
    for name in registry.names():
        record = registry.capabilities(name)
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
                    "sizes": [f"{r} {t}: {w}x{h}" for r, t, w, h in limits.frame_sizes],
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
                "renders": name in registry.renderable(),
                "token_form": record.token_style.value,
                "models": models,
            }
        )
    return rows


def pick(
    file: Path, shot_id: str, take: int, *, overrides: Sequence[str] | Mapping[str, object] = ()
) -> Path:
    """Set ``pick: take`` for ``shot_id`` in the storyboard, in place, keeping comments and
    layout (``shotlist pick``). Submits nothing; the next render restitches from the cache.
    Returns the file edited (the storyboard, or the include that holds the shot)."""
    from shotlist.storyboard.edit import set_pick

    values = overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    return set_pick(load_storyboard(file, overrides=values), shot_id, take)


def takes_sheet(
    file: Path,
    shot_id: str,
    *,
    output: Path | None = None,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    allow_outside: bool = False,
    env: Mapping[str, str] | None = None,
) -> Path:
    """A contact sheet of a shot's rendered takes (``shotlist takes``): one row per take with
    frames from its start, middle and end, labelled with the take, its seed and whether it is
    picked. Default output: ``out/<storyboard>.<shot>.takes.png``. Submits nothing; raises
    NotRenderedError when a take is not rendered yet."""
    from shotlist.media.sheet import SheetRow, write_sheet
    from shotlist.storyboard.edit import shot_index

    environ = os.environ if env is None else env
    result = plan(file, overrides=overrides, provider=provider, allow_outside=allow_outside, env=environ)
    planned = result.shots[shot_index(result.loaded, shot_id)]
    store = Store(store_root(result.loaded.path, environ))
    rows = []
    for take in planned.all_takes:
        clip = store.get(take.request.hash) if take.request.hash else None
        if clip is None:
            raise NotRenderedError([take.request.key], result.loaded.label)
        rows.append(SheetRow(clip.file, take.take, take.request.seed, take.take == planned.pick))
    target = output or result.loaded.folder / "out" / f"{result.loaded.path.stem}.{shot_id}.takes.png"
    return write_sheet(rows, target)

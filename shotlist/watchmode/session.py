"""Watch mode: on every save, re-plan, render only what changed and restitch.

::

    watch(file, options) ──► Cycle, Cycle, ...        an async generator; a stop event ends it

    pump   watchfiles.awatch(folders) ─► relevant paths only ─► pending changes (in the background,
           so an edit made while a cycle runs starts the next one)
    cycle  plan ─► money guard ─► render_shots (what is not cached) ─► lock ─► thumbnails ─► stitch

*Relevant paths* are the storyboard, the files it includes and the media it references.
They are read again from the raw YAML on every cycle (so an include or reference added
by an invalid edit is watched too) and taken from the plan after each good one
(references written with templates). The folders holding them are watched, not the
files: editors that save by truncating, by writing in place and by writing a temporary
file and renaming it over the old one are all seen.

A cycle never ends the session. An invalid storyboard, a refused budget, a failed shot
or stitch make a ``Cycle`` with that outcome and its messages, and the last good cut
stays where it is.

Money: with ``budget`` set, a cycle whose new renders are estimated to take the
session's spend past it is refused before anything is submitted. The spend counts the
estimate of every job actually submitted in this session. ``preview`` renders every shot
whose real render is not cached with the local engine instead, for free.

Stopping (the stop event, or cancelling the consumer as Ctrl-C under ``asyncio.run``
does) cancels a running cycle and waits for it: the engine kills local ffmpeg work, and
work running in a thread (planning, stitching) is waited for, so no ffmpeg outlives the
session.

The module never prints: it emits the engine's events and its own (``CycleStarted``,
``CycleFinished``...) to a hook; the CLI shows them and the preview page
(``shotlist.watchmode.server``) turns them into what it displays.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from shotlist import files, pipeline
from shotlist.engine import ProviderSource, Timing
from shotlist.errors import BudgetError, ConfigError, RenderError, ShotlistError, StoryboardError
from shotlist.events import Event, Hook, Notice, ShotSubmitted, ignore
from shotlist.media import graph
from shotlist.planner import Plan, estimate_cost
from shotlist.providers.capabilities import LOCAL_PROVIDER
from shotlist.store.cache import Store, store_root
from shotlist.storyboard.loader import parse_var_overrides
from shotlist.storyboard.source import load_plain

T = TypeVar("T")

DEBOUNCE_ENV = "SHOTLIST_WATCH_DEBOUNCE_MS"
BUDGET_ENV = "SHOTLIST_BUDGET"
POLLING_ENV = "WATCHFILES_FORCE_POLLING"
PORT_ENV = "SHOTLIST_PREVIEW_PORT"
DEFAULT_DEBOUNCE_MS = 50
"""Quiet time after the last change before a cycle starts: long enough to take an
editor's truncate-then-write as one save, short enough not to be felt."""
DEFAULT_PORT = 8765
MAX_GROUPING_MS = 1600
"""However busy the files are, a cycle starts after this long (watchfiles' ``debounce``)."""
THUMB_WIDTH = 320
CUT_SNAPSHOTS_KEPT = 3

Outcome = Literal["built", "unchanged", "invalid", "refused", "failed"]


# ---------------------------------------------------------------- settings


def setting(
    argument: T | None, env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]
) -> T:
    """The one place where an argument beats an environment variable beats a default."""
    if argument is not None:
        return argument
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from None


def _non_negative(kind: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"expected {what}") from None
        if value < 0:
            raise ValueError(f"expected {what}")
        return value

    return parse


def _flag(raw: str) -> bool:
    # watchfiles turns polling on when the variable merely exists; "0" and "false" say no.
    return raw.lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class WatchOptions:
    """How a watch session plans, renders and watches. Build with ``resolve``, which reads
    the environment for what the caller leaves as None."""

    overrides: Sequence[str] | Mapping[str, object] = ()
    provider: str | None = None
    preview: bool = False
    budget: float | None = None
    allow_outside: bool = False
    output: Path | None = None
    concurrency: int | None = None
    page_assets: bool = False
    """Make what the preview page shows: a thumbnail per shot and a snapshot of each cut."""
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    force_polling: bool = False

    @classmethod
    def resolve(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        budget: float | None = None,
        debounce_ms: int | None = None,
        force_polling: bool | None = None,
        **given: Any,
    ) -> WatchOptions:
        environ = os.environ if env is None else env
        overrides = given.pop("overrides", ())
        provider = given.pop("provider", None)
        return cls(
            # Checked once here: no edit of the storyboard could fix them later.
            overrides=overrides if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides)),
            provider=_known_provider(provider),
            budget=setting(budget, environ, BUDGET_ENV, None, _non_negative(float, "an amount in USD")),
            debounce_ms=setting(
                debounce_ms,
                environ,
                DEBOUNCE_ENV,
                DEFAULT_DEBOUNCE_MS,
                _non_negative(int, "milliseconds as a whole number"),
            ),
            force_polling=setting(force_polling, environ, POLLING_ENV, False, _flag),
            **given,
        )


def _known_provider(name: str | None) -> str | None:
    pipeline.check_provider_name(name)
    return name


def preview_port(argument: int | None, env: Mapping[str, str] | None = None) -> int:
    """The port of the preview page: ``--serve PORT``, else ``SHOTLIST_PREVIEW_PORT``, else 8765.
    0 picks a free one."""
    environ = os.environ if env is None else env
    port: int = setting(argument, environ, PORT_ENV, DEFAULT_PORT, _non_negative(int, "a port number"))
    if port > 65535:
        raise ConfigError(f"port {port} is not a port number (0-65535)")
    return port


# ---------------------------------------------------------------- events and results


@dataclass(frozen=True)
class TakeView:
    """One take of a shot with several, as the page lists it."""

    take: int
    hash: str
    seed: int
    status: str


@dataclass(frozen=True)
class ShotView:
    """One shot as watch mode shows it: from the plan, before rendering."""

    id: str
    hash: str
    status: str
    """new, changed or cached, as ``plan`` says."""
    provider: str
    model: str
    prompt: str
    seed: int
    duration: float
    price_usd: float
    """What rendering this request costs (estimated), cached or not."""
    to_pay_usd: float
    """What this plan will spend on it: the price unless it is cached."""
    previewed: bool = False
    """Rendered with the local engine in place of its own provider (``preview``)."""
    pick: int = 1
    takes: tuple[TakeView, ...] = ()
    """Every take (take 1 alone for a shot without takes)."""


@dataclass(frozen=True)
class Cycle:
    """What one cycle did. ``cut`` is the latest good cut, kept when this cycle failed."""

    number: int
    changes: tuple[Path, ...]
    outcome: Outcome
    shots: tuple[ShotView, ...] = ()
    rendered: tuple[str, ...] = ()
    """Ids of the shots rendered (not taken from the cache) in this cycle (``id#k`` for take k >= 2)."""
    cut: Path | None = None
    errors: tuple[str, ...] = ()
    spent_usd: float = 0.0
    """The session's estimated spend so far, this cycle included."""
    budget_usd: float | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in ("built", "unchanged")


@dataclass(frozen=True)
class WatchStarted(Event):
    file: str
    watching: tuple[str, ...]


@dataclass(frozen=True)
class CycleStarted(Event):
    number: int
    changes: tuple[str, ...]


@dataclass(frozen=True)
class CyclePlanned(Event):
    number: int
    title: str
    shots: tuple[ShotView, ...]
    preview: bool
    spent_usd: float
    budget_usd: float | None


@dataclass(frozen=True)
class BudgetRefused(Event):
    needed_usd: float
    remaining_usd: float


@dataclass(frozen=True)
class ThumbnailReady(Event):
    hash: str
    file: str


@dataclass(frozen=True)
class CutReady(Event):
    """A new cut; ``snapshot`` is a copy of it that stays unchanged while a player reads it."""

    version: str
    file: str
    snapshot: str


@dataclass(frozen=True)
class CycleFinished(Event):
    cycle: Cycle


# ---------------------------------------------------------------- the loop


async def watch(
    file: Path,
    options: WatchOptions | None = None,
    *,
    hook: Hook = ignore,
    stop_event: asyncio.Event | None = None,
    env: Mapping[str, str] | None = None,
    providers: ProviderSource | None = None,
    timing: Timing | None = None,
) -> AsyncGenerator[Cycle, None]:
    """Build the cut once, then again after every change to what it is made of.

    Yields one ``Cycle`` per build, the first for the build at start. Ends when
    ``stop_event`` is set (a running cycle is cancelled). ``providers`` and ``timing``
    replace the provider sessions and the engine's delays (tests). Raises only for
    what makes watching impossible (no storyboard at ``file``, a folder that cannot be
    watched); everything a storyboard, provider or stitch does wrong is a cycle's outcome.
    """
    session = _Session(
        file=Path(file),
        options=options or WatchOptions(),
        hook=hook,
        env=os.environ if env is None else env,
        providers=providers,
        timing=timing,
    )
    stop = stop_event or asyncio.Event()
    session.refresh_paths(None)
    pump = await _Pump.start(session)
    try:
        hook(WatchStarted("", str(file), tuple(sorted(map(str, session.paths)))))
        changes: tuple[Path, ...] = ()
        while not stop.is_set():
            cycle = await _until_stopped(session.run_cycle(changes), stop)
            if cycle is None:
                return
            if pump.roots != session.roots():
                pump = await pump.restarted()
            yield cycle
            batch = await _until_stopped(pump.next_batch(), stop)
            if batch is None:
                return
            changes = batch
    finally:
        await pump.aclose()


async def _until_stopped(work: Any, stop: asyncio.Event) -> Any:
    """Await ``work`` unless ``stop`` is set first (then cancel it and return None).
    Whatever happens, ``work`` has finished when this returns or raises."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        # Cancelled ourselves (Ctrl-C): the cycle must still wind down before we go.
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        await asyncio.wait({stopper})
    if task.cancelled():
        return None
    return task.result()


class _Pump:
    """Collects relevant changes in the background (one ``awatch`` per set of folders)."""

    def __init__(self, session: _Session) -> None:
        self.roots = session.roots()
        self.pending: set[Path] = set()
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.session = session
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, session: _Session) -> _Pump:
        pump = cls(session)
        pump.task = asyncio.create_task(pump._run(), name="shotlist-watch-pump")
        # One turn of the loop runs the task up to the point where the watcher is live.
        await asyncio.sleep(0)
        return pump

    async def restarted(self) -> _Pump:
        """A pump on the session's folders as they are now, with the changes not yet taken."""
        await self.aclose()
        pump = await _Pump.start(self.session)
        if self.pending:
            pump.pending |= self.pending
            pump.ready.set()
        return pump

    async def _run(self) -> None:
        from watchfiles import awatch

        options = self.session.options
        async for changes in awatch(
            *self.roots,
            watch_filter=self.session.is_relevant,
            step=max(1, options.debounce_ms),
            debounce=max(MAX_GROUPING_MS, options.debounce_ms),
            stop_event=self.stop,
            force_polling=options.force_polling,
            ignore_permission_denied=True,
        ):
            self.pending |= {Path(path) for _, path in changes}
            self.ready.set()

    async def next_batch(self) -> tuple[Path, ...]:
        assert self.task is not None
        waiter = asyncio.ensure_future(self.ready.wait())
        try:
            await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            await asyncio.wait({waiter})
        if not self.ready.is_set():
            # The watcher ended on its own: a watched folder went away, say.
            self.task.result()
            raise ConfigError(f"stopped watching {', '.join(map(str, self.roots))}")
        self.ready.clear()
        batch, self.pending = tuple(sorted(self.pending)), set()
        return batch

    async def aclose(self) -> None:
        self.stop.set()
        task = self.task
        if task is None:
            return
        # The watcher notices the stop event within one debounce step.
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: a watcher failing as the session ends changes nothing


# ---------------------------------------------------------------- one session


@dataclass
class _Session:
    file: Path
    options: WatchOptions
    hook: Hook
    env: Mapping[str, str]
    providers: ProviderSource | None
    timing: Timing | None
    number: int = 0
    spent_usd: float = 0.0
    paths: frozenset[Path] = frozenset()
    cut: Path | None = None
    cut_key: str = ""
    warnings: frozenset[str] = frozenset()
    _relevant: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        if not self.file.is_file():
            raise ConfigError(f"{self.file}: file not found")

    @property
    def store(self) -> Store:
        return Store(store_root(self.file.resolve(), self.env))

    # -- what to watch

    def refresh_paths(self, result: Plan | None) -> None:
        """Everything the cut is made of: read from the raw files, plus the plan's media."""
        found = set(written_paths(self.file))
        if result is not None:
            found |= plan_paths(result)
        else:
            found |= self.paths
        self.paths = frozenset(found)
        forms = {os.path.normpath(os.path.abspath(p)) for p in found}
        forms |= {os.path.normpath(os.path.realpath(p)) for p in found}
        self._relevant = frozenset(forms)

    def is_relevant(self, _change: Any, path: str) -> bool:
        return os.path.normpath(path) in self._relevant

    def roots(self) -> tuple[str, ...]:
        """The folders to watch: the storyboard's, and the nearest existing folder of each
        path outside it."""
        home = self.file.resolve().parent
        roots = {home}
        for path in self.paths:
            if not path.resolve().is_relative_to(home):
                folder = path.parent
                while not folder.is_dir() and folder != folder.parent:
                    folder = folder.parent
                roots.add(folder.resolve())
        # A folder inside another watched one adds nothing (the watch is recursive).
        kept = [r for r in roots if not any(r != o and r.is_relative_to(o) for o in roots)]
        return tuple(sorted(map(str, kept)))

    # -- one cycle

    async def run_cycle(self, changes: tuple[Path, ...]) -> Cycle:
        self.number += 1
        started = time.monotonic()
        self.hook(CycleStarted("", self.number, tuple(map(str, changes))))
        if any(p.suffix.lower() not in (".yaml", ".yml") for p in changes):
            # A media file edited twice within one clock tick keeps its size and mtime.
            from shotlist.refs import clear_hash_cache

            clear_hash_cache()
        try:
            cycle = await self._build(changes)
        except StoryboardError as exc:
            self.refresh_paths(None)
            cycle = self._failed(changes, "invalid", [str(p) for p in exc.problems])
        except BudgetError as exc:
            cycle = self._failed(changes, "refused", [str(exc)])
        except RenderError as exc:
            cycle = self._failed(changes, "failed", [str(f) for f in exc.failures])
        except ShotlistError as exc:
            cycle = self._failed(changes, "failed", [str(exc)])
        except Exception as exc:  # one bad cycle must never end the session
            # A bug or an unforeseen OS error (a full disk, a folder made read-only): shown
            # like any failure, and the last good cut stays.
            cycle = self._failed(changes, "failed", [unexpected_error_line(exc)])
        cycle = replace(cycle, seconds=time.monotonic() - started)
        self.hook(CycleFinished("", cycle))
        return cycle

    def _failed(self, changes: tuple[Path, ...], outcome: Outcome, errors: list[str]) -> Cycle:
        return Cycle(
            number=self.number,
            changes=changes,
            outcome=outcome,
            cut=self.cut,
            errors=tuple(errors),
            spent_usd=self.spent_usd,
            budget_usd=self.options.budget,
        )

    async def _build(self, changes: tuple[Path, ...]) -> Cycle:
        real, result = await pipeline.in_thread(self._plan)
        self.refresh_paths(result)
        self._notify_warnings(result)
        views = shot_views(result, previewed_ids(real, result))
        self.hook(
            CyclePlanned(
                "",
                self.number,
                result.title,
                views,
                self.options.preview,
                self.spent_usd,
                self.options.budget,
            )
        )
        rendered, stitched = await self._render_and_stitch(result)
        if self.options.page_assets:
            await self._thumbnails(result)
            if stitched:
                await self._announce_cut()
        outcome: Outcome = "built" if stitched else "unchanged"
        return Cycle(
            number=self.number,
            changes=changes,
            outcome=outcome,
            shots=views,
            rendered=rendered,
            cut=self.cut,
            spent_usd=self.spent_usd,
            budget_usd=self.options.budget,
        )

    def _plan(self) -> tuple[Plan, Plan]:
        """The plan with the shots' own providers, and the one to render (they differ
        with ``preview``)."""
        options = self.options
        plan_with = functools.partial(
            pipeline.plan,
            self.file,
            overrides=options.overrides,
            allow_outside=options.allow_outside,
            env=self.env,
        )
        real = plan_with(provider=options.provider)
        if not options.preview:
            return real, real
        return real, preview_plan(real, plan_with(provider=LOCAL_PROVIDER))

    def _notify_warnings(self, result: Plan) -> None:
        warnings = frozenset(str(w) for w in result.warnings)
        for warning in sorted(warnings - self.warnings):
            self.hook(Notice("", warning))
        self.warnings = warnings

    async def _render_and_stitch(self, result: Plan) -> tuple[tuple[str, ...], bool]:
        """The pipeline's one path for this plan; returns the shots generated and whether
        a new cut was stitched (an unchanged cut is not stitched again)."""
        submitted: list[str] = []

        def record(event: Event) -> None:
            if isinstance(event, ShotSubmitted) and not event.resumed:
                submitted.append(event.shot_id)
            self.hook(event)

        key = cut_key(result, self.options.output)
        restitch = key != self.cut_key or self.cut is None or not self.cut.exists()
        try:
            rendered = await pipeline.arender(
                result,
                stitch=restitch,
                output=self.options.output,
                # Preview renders are drafts: the committed lock keeps the real renders.
                record_lock=not self.options.preview,
                budget=self.options.budget,
                spent=self.spent_usd,
                concurrency=self.options.concurrency,
                hook=record,
                env=self.env,
                providers=self.providers,
                timing=self.timing or watch_timing(),
            )
        except BudgetError as exc:
            self.hook(BudgetRefused("", exc.needed_usd, exc.remaining_usd))
            raise
        finally:
            by_key = {r.key: r for s in result.shots for r in s.requests}
            self.spent_usd += sum(estimate_cost(by_key[k]) for k in submitted)
        if rendered.output is not None:
            self.cut, self.cut_key = rendered.output, key
        return tuple(s.key for s in rendered.shots if s.source == "generated"), rendered.output is not None

    async def _announce_cut(self) -> None:
        if self.cut is None:
            return
        version, snapshot = await pipeline.in_thread(snapshot_cut, self.cut, self.store.root / "preview")
        self.hook(CutReady("", version, str(self.cut), str(snapshot)))

    async def _thumbnails(self, result: Plan) -> None:
        store = self.store
        folder = store.root / "preview" / "thumbs"
        for request in (r for planned in result.shots for r in planned.requests if r.hash):
            target = folder / f"{request.hash}.jpg"
            if not target.exists():
                clip = store.clip_path(request.hash)
                if not clip.exists():
                    continue
                try:
                    await make_thumbnail(clip, target, at=request.duration / 2)
                except ShotlistError as exc:
                    self.hook(Notice(request.key, f"no thumbnail: {exc}"))
                    continue
            self.hook(ThumbnailReady(request.key, request.hash, str(target)))


# ---------------------------------------------------------------- decisions (pure)


def watch_timing() -> Timing:
    """The engine's delays for watch mode: local renders take a second or two, so the
    first poll comes quickly (a paid job's polls back off to the usual cap)."""
    return Timing(poll_initial=0.1, poll_min=0.05)


def preview_plan(real: Plan, local: Plan) -> Plan:
    """Each shot whose real render is cached keeps it; every other shot is previewed
    with the local engine, so a preview cut costs nothing."""
    shots = tuple(
        mine if mine.status == "cached" or mine.request.provider == LOCAL_PROVIDER else draft
        for mine, draft in zip(real.shots, local.shots, strict=True)
    )
    return replace(real, shots=shots)


def previewed_ids(real: Plan, shown: Plan) -> frozenset[str]:
    """The shots ``shown`` renders with the local engine in place of their own provider."""
    return frozenset(
        a.request.id
        for a, b in zip(real.shots, shown.shots, strict=True)
        if a.request.provider != b.request.provider
    )


def shot_views(result: Plan, previewed: frozenset[str] = frozenset()) -> tuple[ShotView, ...]:
    views = []
    for planned in result.shots:
        r = planned.request
        views.append(
            ShotView(
                id=r.id,
                hash=r.hash,
                status=planned.status,
                provider=r.provider,
                model=r.model,
                prompt=r.prompt,
                seed=r.seed,
                duration=r.duration,
                price_usd=estimate_cost(r),
                to_pay_usd=planned.estimated_cost_usd,
                previewed=r.id in previewed,
                pick=planned.pick,
                takes=tuple(
                    TakeView(t.take, t.request.hash, t.request.seed, t.status) for t in planned.all_takes
                ),
            )
        )
    return tuple(views)


def cut_key(result: Plan, output: Path | None) -> str:
    """What decides the cut's bytes: the storyboard as loaded, every shot's request and
    the soundtrack's file. Equal keys need no new stitch."""
    loaded = result.loaded
    music = None
    with contextlib.suppress(OSError):
        if result.music is not None:
            stat = result.music.stat()
            music = [str(result.music), stat.st_size, stat.st_mtime_ns]
    form = {
        "storyboard": loaded.storyboard.model_dump(mode="json"),
        "requests": [s.request.hash for s in result.shots],
        "music": music,
        "output": str(pipeline.cut_output(result, output)),
    }
    return files.json_hash(form)


def _declared(result: Plan) -> Mapping[str, Any]:
    from shotlist import refs

    board = result.loaded.storyboard
    return refs.declare(board.references, result.loaded.folder, allow_outside=True)


def plan_paths(result: Plan) -> set[Path]:
    """The local files a good plan reads: every shot's media and the soundtrack."""
    paths: set[Path] = set()
    for planned in result.shots:
        paths |= {m.path for m in planned.request.media if m.path is not None}
    paths |= {d.path for d in _declared(result).values() if d.path is not None}
    if result.music is not None:
        paths.add(result.music)
    return paths


def written_paths(file: Path) -> set[Path]:
    """The storyboard, the files it includes and the local media it names, read from the
    raw YAML without validating anything: a broken storyboard still tells what to watch,
    so the save that fixes it (or creates a missing file) is seen."""
    root = file.resolve()
    folder = root.parent
    found = {root}
    queue = [root]
    while queue:
        current = queue.pop()
        document = _raw_yaml(current)
        if not isinstance(document, dict):
            continue
        for item in _strings(document.get("include")):
            child = (current.parent / item).resolve()
            if child not in found:
                found.add(child)
                queue.append(child)
        for written in _named_media(document):
            media = _media_path(folder, written)
            if media is not None:
                found.add(media)
    return found


def _raw_yaml(path: Path) -> Any:
    from shotlist.storyboard.source import read_text

    try:
        # read_text: a regular file of bounded size (a FIFO include must not hang the session).
        return load_plain(read_text(path, str(path)))
    except (ShotlistError, ValueError, RecursionError):
        return None


def unexpected_error_line(exc: BaseException) -> str:
    """One line for an error no part of shotlist translated."""
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return f"unexpected error: {type(exc).__name__}: {exc}".rstrip(": ")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _named_media(document: Mapping[str, Any]) -> Iterable[str]:
    references = document.get("references")
    if isinstance(references, dict):
        for value in references.values():
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                yield from (v for v in value.values() if isinstance(v, str))
    shots = document.get("shots")
    for shot in shots if isinstance(shots, list) else []:
        if isinstance(shot, dict):
            for key in ("images", "videos", "audios"):
                yield from _strings(shot.get(key))
    soundtrack = document.get("soundtrack")
    if isinstance(soundtrack, dict):
        yield from _strings(soundtrack.get("music"))


def _media_path(folder: Path, written: str) -> Path | None:
    if written.startswith("@") or "://" in written or "{" in written:
        return None  # a reference name, a URL, or a template the plan resolves
    return (folder / written).resolve()


# ---------------------------------------------------------------- effects


def thumbnail_args(clip: Path, output: Path, *, at: float) -> list[str]:
    """ffmpeg's arguments writing one frame of ``clip`` at ``at`` seconds, ``THUMB_WIDTH`` wide."""
    frame = graph.Input(graph.url(clip), {"ss": f"{max(0.0, at):.3f}"}).stream("v")
    scaled = frame.filter("scale", w=THUMB_WIDTH, h=-2)
    # update=1: one image under exactly this name, never a numbered pattern (a "%" stays literal).
    options: dict[str, graph.Value] = {"frames:v": 1, "q:v": 5, "update": 1}
    return graph.command(graph.output([scaled], graph.url(output), options))


async def make_thumbnail(clip: Path, target: Path, *, at: float) -> None:
    """One frame of ``clip`` at ``at`` seconds, ``THUMB_WIDTH`` wide, written atomically."""
    from shotlist.media.ffmpeg import run_ffmpeg_async

    target.parent.mkdir(parents=True, exist_ok=True)
    part = files.staged(target)
    try:
        await run_ffmpeg_async(thumbnail_args(clip, part, at=at), step=f"making a thumbnail of {clip.name}")
        files.publish(part, target)
    finally:
        part.unlink(missing_ok=True)


def snapshot_cut(cut: Path, folder: Path) -> tuple[str, Path]:
    """A hard link to the cut as it is now (a copy across file systems), named by its
    version, so a player reading an earlier cut is never handed a file that changed
    under it. Keeps the last few."""
    stat = cut.stat()
    version = f"{stat.st_mtime_ns:x}{stat.st_size:x}{stat.st_ino:x}"[-24:]
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / f"cut-{version}.mp4"
    if not snapshot.exists():
        part = files.staged(snapshot)
        try:
            os.link(cut, part)
        except OSError:
            files.copy(cut, snapshot, durable=False)
        else:
            files.publish(part, snapshot)
    older = sorted(folder.glob("cut-*.mp4"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for stale in [p for p in older if p != snapshot][CUT_SNAPSHOTS_KEPT - 1 :]:
        stale.unlink(missing_ok=True)
    return version, snapshot

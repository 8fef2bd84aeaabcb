"""From a loaded storyboard to one exact request per shot, its hash, status and cost.

Everything here is a pure decision: defaults are merged in exactly one place
(``merge_defaults``), seeds are derived, references resolved, camera
directions compiled, values mapped to what the provider accepts, and the
request hashed. Nothing is submitted and nothing is written.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from shotlist import files, refs
from shotlist.errors import Problem, StoryboardError
from shotlist.providers import capabilities as caps
from shotlist.providers import registry
from shotlist.request import (
    NAMED_FIELDS,
    CameraDirection,
    FrameFrom,
    FrameSlot,
    MediaRef,
    ShotRequest,
    ShotSegment,
)
from shotlist.store.cache import STORE_DIRNAME
from shotlist.storyboard import multishot
from shotlist.storyboard.camera import append_camera
from shotlist.storyboard.loader import LoadedStoryboard
from shotlist.storyboard.model import Camera, FrameOf, Shot
from shotlist.storyboard.source import Path_
from shotlist.suggest import suggest

Status = Literal["new", "changed", "cached", "waiting"]
"""``waiting``: the request takes a frame from a shot not rendered yet, so its hash is not known."""
BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "provider": caps.LOCAL_PROVIDER,
    "duration": 5.0,
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "generate_audio": True,
    "seed": 0,
    "caption": True,
    "mute": False,
    "takes": 1,
}
FRAME_SLOTS: tuple[FrameSlot, ...] = ("first_frame", "last_frame")
HASH_VERSION = 1  # bump when the canonical form changes meaning
_QUOTED = re.compile(r'"([^"\n]+)"|“([^”\n]+)”')


@dataclass(frozen=True)
class Settings:
    """A shot's settings after defaults: shot value, else storyboard default, else built-in."""

    provider: str
    model: str
    duration: float
    aspect_ratio: str
    resolution: str
    size: str | None
    generate_audio: bool
    seed: int
    camera: Camera
    params: Mapping[str, Any]
    caption: bool
    mute: bool
    takes: int = 1


@dataclass(frozen=True)
class PlannedTake:
    """One take of a shot: its own request (seed), status and price."""

    take: int
    request: ShotRequest
    status: Status
    estimated_cost_usd: float
    same_as: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "take": self.take,
            "hash": self.request.hash or None,
            "seed": self.request.seed,
            "status": self.status,
            "estimated_cost_usd": round(self.estimated_cost_usd, 4),
        }


@dataclass(frozen=True)
class PlannedShot:
    """One shot of the plan: the exact request, whether it must be rendered, and its price.

    ``request`` and ``status`` are the picked take's; ``takes`` holds every take (take 1
    alone for a shot without ``takes``) and ``estimated_cost_usd`` is their sum. A shot
    that takes a frame from a shot not rendered yet ``waits_on`` it: its requests are
    completed (``frames``) once that clip is verified.
    """

    shot: Shot
    request: ShotRequest
    status: Status
    estimated_cost_usd: float
    notes: tuple[str, ...] = ()
    mute: bool = False
    same_as: str | None = None
    """The id of an earlier shot with the identical request: rendered and paid once, for both."""
    takes: tuple[PlannedTake, ...] = ()
    pick: int = 1
    frames: tuple[FrameFrom, ...] = ()
    waits_on: tuple[str, ...] = ()

    @property
    def all_takes(self) -> tuple[PlannedTake, ...]:
        return self.takes or (
            PlannedTake(1, self.request, self.status, self.estimated_cost_usd, self.same_as),
        )

    @property
    def requests(self) -> tuple[ShotRequest, ...]:
        """Every take's request, take 1 first."""
        return tuple(t.request for t in self.all_takes)

    def to_json(self) -> dict[str, object]:
        r = self.request
        return {
            "id": r.id,
            "hash": r.hash or None,
            "status": self.status,
            "provider": r.provider,
            "model": r.model,
            "prompt": r.prompt,
            "duration": r.duration,
            "seed": r.seed,
            "size": r.size,
            "aspect_ratio": r.aspect_ratio,
            "resolution": r.resolution,
            "generate_audio": r.generate_audio,
            "references": [
                {
                    "name": m.name,
                    "kind": m.kind,
                    "source": str(m.path) if m.path else m.url,
                    "sha256": m.sha256,
                }
                for m in r.media
            ],
            "params": r.params_dict,
            "estimated_cost_usd": round(self.estimated_cost_usd, 4),
            "same_request_as": self.same_as,
            "notes": list(self.notes),
            **({"segments": [_segment_json(s) for s in r.segments]} if r.segments else {}),
            "pick": self.pick,
            "takes": [t.to_json() for t in self.all_takes],
            "waits_on": list(self.waits_on),
        }


def _segment_json(segment: ShotSegment) -> dict[str, object]:
    camera = segment.camera
    return {
        "start": segment.start,
        "end": segment.end,
        "prompt": segment.prompt,
        "camera": {k: v for k, v in vars(camera).items() if v is not None},
        "dialogue": list(segment.dialogue),
    }


@dataclass(frozen=True)
class Plan:
    """The whole plan: every shot's request in film order, warnings, and the total estimate."""

    loaded: LoadedStoryboard
    shots: tuple[PlannedShot, ...]
    warnings: tuple[Problem, ...] = field(default=())
    music: Path | None = None  # the soundtrack's file, resolved and confined

    @property
    def title(self) -> str:
        return self.loaded.storyboard.title or self.loaded.path.stem

    @property
    def total_estimated_cost_usd(self) -> float:
        return cost_to_render(self.shots)

    def media_paths(self) -> list[Path]:
        """Every local file the shots and the soundtrack read."""
        paths = [m.path for s in self.shots for m in s.request.media if m.path is not None]
        return paths + ([self.music] if self.music else [])

    def to_json(self) -> dict[str, object]:
        return {
            "storyboard": self.loaded.label,
            "title": self.title,
            "shots": [s.to_json() for s in self.shots],
            "total_estimated_cost_usd": round(self.total_estimated_cost_usd, 4),
            "warnings": [str(w) for w in self.warnings],
        }


FrameLookup = Callable[[str, FrameFrom], MediaRef | None]


class Lookup:
    """What the plan needs to know about earlier renders: the lock's hashes (by request key,
    ``id`` or ``id#k``), the cache, and frames of rendered clips (extracted on demand)."""

    def __init__(
        self, locked: Mapping[str, str] | None = None, cached: Any = None, frame: FrameLookup | None = None
    ) -> None:
        self.locked = dict(locked or {})
        self._cached = cached
        self._frame = frame

    def is_cached(self, request_hash: str) -> bool:
        return bool(self._cached and self._cached(request_hash))

    def frame(self, clip_hash: str, need: FrameFrom) -> MediaRef | None:
        """The frame ``need`` names from the clip of ``clip_hash``, if that clip is rendered."""
        if not clip_hash or self._frame is None or not self.is_cached(clip_hash):
            return None
        return self._frame(clip_hash, need)

    def status(self, key: str, request_hash: str) -> Status:
        if not request_hash:
            return "waiting"
        if self.is_cached(request_hash):
            return "cached"
        previous = self.locked.get(key)
        return "changed" if previous is not None and previous != request_hash else "new"


def build_plan(
    loaded: LoadedStoryboard,
    *,
    provider: str | None = None,
    allow_outside: bool = False,
    lookup: Lookup | None = None,
    engine_salt: Mapping[str, str] | None = None,
) -> Plan:
    """Resolve every shot into its exact requests. Raises StoryboardError with every problem.

    ``provider`` overrides every shot's provider (``--provider``). ``engine_salt``
    maps a provider name to text mixed into its request hashes (the local engine's
    version and ffmpeg build, whose output bytes depend on them). Shots are resolved
    parents first (a shot taking a frame from another needs that shot's request),
    and listed in film order.
    """
    lookup = lookup or Lookup()
    board = loaded.storyboard
    declared = refs.declare(board.references, loaded.folder, allow_outside=allow_outside)
    problems: list[Problem] = [
        loaded.problem(("references", d.name), d.error) for d in declared.values() if d.error
    ]
    warnings: list[Problem] = []
    links, link_problems = frame_links(loaded)
    order, cycle_problems = dependency_order(loaded, links)
    problems += link_problems + cycle_problems
    built: dict[int, PlannedShot] = {}
    used: set[str] = set()
    for index in order:
        shot = board.shots[index]
        settings = merge_defaults(board.defaults, shot, provider)
        salt = (engine_salt or {}).get(settings.provider, "")
        try:
            planned, names = plan_shot(
                loaded, index, settings, declared, allow_outside, salt, links.get(index, []), built, lookup
            )
        except StoryboardError as exc:
            problems += exc.problems
            continue
        used |= names
        built[index] = planned
        warnings += [loaded.problem(("shots", index), note) for note in planned.notes]
    in_order = [built[i] for i in sorted(built)]
    if not problems:
        problems += timing_problems(loaded, [p.request.duration for p in in_order])
    music, music_problems = resolve_music(loaded, declared, allow_outside)
    frames = [m for p in in_order for m in (p.request.first_frame, p.request.last_frame) if m is not None]
    media = [m.path for m in (*(m for p in in_order for m in p.request.media), *frames) if m.path is not None]
    media += [d.path for d in declared.values() if d.path is not None] + ([music] if music else [])
    problems += music_problems + output_problems(loaded, allow_outside, media)
    if problems:
        raise StoryboardError(problems)
    if board.soundtrack and board.soundtrack.music and board.soundtrack.music.startswith("@"):
        used.add(board.soundtrack.music[1:])
    for name in sorted(set(declared) - used):
        warnings.append(
            loaded.problem(("references", name), f'reference "{name}" is declared but no shot uses it')
        )
    return Plan(loaded, price_shots(in_order), tuple(sorted(warnings)), music=music)


def price_shots(shots: Sequence[PlannedShot]) -> tuple[PlannedShot, ...]:
    """Prices in film order: an identical request is one job, its price counted on the first
    take that has it; a cached take costs nothing."""
    first_with: dict[str, str] = {}  # request hash -> key of the first take with it
    priced: list[PlannedShot] = []
    for planned in shots:
        takes = []
        for take in planned.all_takes:
            request = take.request
            same_as = first_with.setdefault(request.hash, request.key) if request.hash else request.key
            other = same_as if same_as != request.key else None
            cost = 0.0 if take.status == "cached" or other else estimate_cost(request)
            takes.append(replace(take, estimated_cost_usd=cost, same_as=other))
        picked = takes[planned.pick - 1]
        priced.append(
            replace(
                planned,
                takes=tuple(takes),
                estimated_cost_usd=sum(t.estimated_cost_usd for t in takes),
                same_as=picked.same_as.partition("#")[0] if picked.same_as else None,
            )
        )
    return tuple(priced)


def take_seed(seed: int, take: int) -> int:
    """The seed of take ``take`` of a shot whose seed is ``seed``: take 1 keeps it; take k >= 2
    gets the first 4 bytes (big-endian) of sha256("shotlist-take:{seed}:{k}")."""
    if take == 1:
        return seed
    digest = hashlib.sha256(f"shotlist-take:{seed}:{take}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


Link = tuple[FrameSlot, FrameOf, int]  # (field, what it says, index of the shot it takes from)


def frame_links(loaded: LoadedStoryboard) -> tuple[dict[int, list[Link]], list[Problem]]:
    """Which shots take frames from which, by index; unknown ids and self-references are problems."""
    shots = loaded.storyboard.shots
    ids = {shot.id: i for i, shot in enumerate(shots)}
    links: dict[int, list[Link]] = {}
    problems: list[Problem] = []
    for index, shot in enumerate(shots):
        for slot in FRAME_SLOTS:
            source = getattr(shot, slot)
            if not isinstance(source, FrameOf):
                continue
            where = ("shots", index, slot)
            if source.shot == shot.id:
                problems.append(
                    loaded.problem(where, f'a shot cannot take a frame from itself ("{shot.id}")')
                )
            elif source.shot not in ids:
                hint = suggest(source.shot, list(ids))
                extra = f'; did you mean "{hint}"?' if hint else f"; shots: {', '.join(ids)}"
                problems.append(loaded.problem(where, f'unknown shot "{source.shot}"{extra}'))
            else:
                links.setdefault(index, []).append((slot, source, ids[source.shot]))
    return links, problems


def dependency_order(
    loaded: LoadedStoryboard, links: dict[int, list[Link]]
) -> tuple[list[int], list[Problem]]:
    """Shot indexes with every shot after the shots it takes frames from; each cycle is a
    problem naming it (``a -> b -> a``), and its shots lose their links."""
    shots = loaded.storyboard.shots
    problems: list[Problem] = []
    while (cycle := find_cycle({i: [p for _, _, p in ls] for i, ls in links.items()})) is not None:
        slot = next(slot for slot, _, parent in links[cycle[0]] if parent == cycle[1])
        names = " -> ".join(shots[i].id for i in cycle)
        problems.append(loaded.problem(("shots", cycle[0], slot), f"shots form a cycle: {names}"))
        for index in cycle:
            links.pop(index, None)
    order: list[int] = []
    seen: set[int] = set()

    def visit(index: int) -> None:
        if index in seen:
            return
        seen.add(index)
        for _, _, parent in links.get(index, []):
            visit(parent)
        order.append(index)

    for index in range(len(shots)):
        visit(index)
    return order, problems


def find_cycle(edges: Mapping[int, Sequence[int]]) -> list[int] | None:
    """A cycle of ``edges`` as a closed path starting at its lowest node, or None."""
    state: dict[int, int] = {}
    stack: list[int] = []

    def visit(node: int) -> list[int] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                loop = stack[stack.index(nxt) :]
                low = loop.index(min(loop))
                loop = loop[low:] + loop[:low]
                return [*loop, loop[0]]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def plan_shot(
    loaded: LoadedStoryboard,
    index: int,
    settings: Settings,
    declared: Mapping[str, refs.Declared],
    allow_outside: bool,
    salt: str,
    links: Sequence[Link],
    built: Mapping[int, PlannedShot],
    lookup: Lookup,
) -> tuple[PlannedShot, set[str]]:
    """One shot with every take's request; a shot whose parents' clips are not rendered yet
    gets requests without a hash (``waiting``), completed by ``with_frames`` later."""
    shot = loaded.storyboard.shots[index]
    problems: list[Problem] = []
    frames: dict[FrameSlot, MediaRef | None] = {}
    needs: list[FrameFrom] = []
    waits: list[str] = []
    names: set[str] = set()
    for slot in FRAME_SLOTS:
        source = getattr(shot, slot)
        if isinstance(source, str):
            try:
                frames[slot] = refs.frame_image(source, declared, loaded.folder, allow_outside=allow_outside)
            except refs.RefError as exc:
                problems.append(loaded.problem(("shots", index, slot), str(exc)))
            if source.startswith("@"):
                names.add(source[1:])
    for slot, source, parent_index in links:
        parent = built.get(parent_index)
        if parent is None:
            continue  # the parent's own problems are reported
        need = frame_need(loaded, index, slot, source, parent)
        needs.append(need)
        frames[slot] = lookup.frame(parent.request.hash, need)
        if frames[slot] is None and parent.request.id not in waits:
            waits.append(parent.request.id)
    takes = settings.takes
    pick = shot.pick or 1
    if pick > takes:
        problems.append(
            loaded.problem(
                ("shots", index, "pick"),
                f"pick {pick} is out of range: the shot has {takes} take{'s' if takes != 1 else ''} "
                f"(pick 1 to {takes}, or raise takes)",
            )
        )
    try:
        request, notes, used = build_request(
            loaded, index, shot, settings, declared, allow_outside, salt, frame_slots=tuple(frames)
        )
    except StoryboardError as exc:
        raise StoryboardError([*problems, *exc.problems]) from None
    if problems:
        raise StoryboardError(problems)
    requests = [take_request(request, k, salt) for k in range(1, takes + 1)]
    if frames:
        requests = [with_frames(r, frames, salt) for r in requests]
    planned_takes = tuple(
        PlannedTake(k, r, lookup.status(r.key, r.hash), 0.0) for k, r in enumerate(requests, start=1)
    )
    picked = planned_takes[pick - 1]
    planned = PlannedShot(
        shot,
        picked.request,
        picked.status,
        0.0,
        notes,
        mute=settings.mute,
        takes=planned_takes,
        pick=pick,
        frames=tuple(needs),
        waits_on=tuple(waits),
    )
    return planned, used | names


def frame_need(
    loaded: LoadedStoryboard, index: int, slot: FrameSlot, source: FrameOf, parent: PlannedShot
) -> FrameFrom:
    """Which frame of the parent's picked take: ``first_frame`` starts where the parent ends
    (its last frame before the trim out point), ``last_frame`` ends where it starts (its
    frame at the trim in point); ``at`` names a time of the clip instead."""
    trim = parent.shot.trim
    at: float | None
    if source.at is not None:
        at, before = float(source.at), False
    elif slot == "first_frame":
        at, before = (trim.end if trim else None), True
    else:
        at, before = (trim.start if trim else 0.0), False
    path = ("shots", index, slot)
    pos = loaded.position(path)
    where = f"{pos.file}:{pos.line}:{pos.column}: {loaded.label_of(path)}"
    return FrameFrom(slot, parent.request.id, parent.request.key, at, before, where)


def take_request(request: ShotRequest, take: int, salt: str) -> ShotRequest:
    """Take ``take`` of a shot whose take 1 is ``request``: the same request with its own seed."""
    if take == 1:
        return request
    return _with_hash(replace(request, take=take, seed=take_seed(request.seed, take)), salt)


def with_frames(request: ShotRequest, frames: Mapping[FrameSlot, MediaRef | None], salt: str) -> ShotRequest:
    """``request`` with its first/last frames; without a hash while any frame is still unknown."""
    done = replace(request, first_frame=frames.get("first_frame"), last_frame=frames.get("last_frame"))
    if any(media is None for media in frames.values()):
        return replace(done, hash="")
    return _with_hash(done, salt)


def merge_defaults(defaults: Any, shot: Shot, provider_override: str | None) -> Settings:
    """The one place where shot values, storyboard defaults and built-in defaults meet."""

    def pick(name: str) -> Any:
        for source in (shot, defaults):
            value = getattr(source, name)
            if value is not None:
                return value
        return BUILTIN_DEFAULTS.get(name)

    provider = provider_override or pick("provider")
    model = pick("model") or registry.capabilities(provider).default_model
    size, aspect_ratio = pick("size"), pick("aspect_ratio")
    if size is not None and ":" in size:
        # "W:H" as a size is an aspect ratio (the Lumenfall gateway's rule), still winning.
        size, aspect_ratio = None, size
    camera = _merge_camera(defaults.camera, shot.camera)
    params = {**(defaults.params or {}), **(shot.params or {})}
    base_seed = defaults.seed if defaults.seed is not None else BUILTIN_DEFAULTS["seed"]
    seed = shot.seed if shot.seed is not None else derive_seed(base_seed, shot.id)
    return Settings(
        provider=provider,
        model=model,
        # A shot of segments lasts as long as they do (an explicit duration must agree).
        duration=float(sum(s.duration for s in shot.segments) if shot.segments else pick("duration")),
        aspect_ratio=aspect_ratio,
        resolution=pick("resolution"),
        size=size,
        generate_audio=pick("generate_audio"),
        seed=seed,
        camera=camera,
        params=params,
        caption=pick("caption"),
        mute=pick("mute"),
        takes=int(pick("takes")),
    )


def _merge_camera(default: Camera | None, own: Camera | None) -> Camera:
    values = {**(default.model_dump(exclude_none=True) if default else {})}
    values.update(own.model_dump(exclude_none=True) if own else {})
    return Camera(**values)


def derive_seed(base_seed: int, shot_id: str) -> int:
    """A seed from the base seed and the shot id: stable across runs, machines and edits."""
    digest = hashlib.sha256(f"shotlist-seed:{base_seed}:{shot_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def spoken_lines(prompt: str, dialogue: str | Sequence[str] | None) -> tuple[str, ...]:
    """The shot's ``dialogue`` when given (it says exactly what is spoken), else the lines
    in double quotes in the prompt."""
    if isinstance(dialogue, str):
        lines = [dialogue]
    elif dialogue:
        lines = list(dialogue)
    else:
        lines = [a or b for a, b in _QUOTED.findall(prompt)]
    return tuple(line.strip() for line in lines if line.strip())


def build_request(
    loaded: LoadedStoryboard,
    index: int,
    shot: Shot,
    settings: Settings,
    declared: Mapping[str, refs.Declared],
    allow_outside: bool,
    salt: str,
    *,
    frame_slots: Sequence[FrameSlot] = (),
) -> tuple[ShotRequest, tuple[str, ...], set[str]]:
    """One shot's exact request (take 1, frames not filled in), the notes about values mapped
    to the provider's, and the names of the declared references it uses. ``frame_slots``
    are the frames the shot is given, checked against what the route can take."""
    problems: list[Problem] = []
    notes: list[str] = []
    capability = registry.capabilities(settings.provider)
    try:
        limits = caps.resolve_model(capability, settings.model)
    except LookupError as exc:
        raise StoryboardError([loaded.problem(("shots", index, "model"), str(exc))]) from None

    def resolve(text: str) -> refs.ResolvedPrompt:
        return refs.resolve_shot(
            text,
            declared,
            shot.images or [],
            shot.videos or [],
            shot.audios or [],
            folder=loaded.folder,
            allow_outside=allow_outside,
        )

    segments: tuple[ShotSegment, ...] = ()
    text = shot.prompt or ""
    if shot.segments:
        text, segments, found = plan_segments(loaded, index, shot, settings, limits, resolve)
        problems += found
    resolved = resolve(text)
    for issue in resolved.problems:
        if shot.segments and issue.field == "prompt":
            continue  # reported where it was written, by plan_segments
        problems.append(loaded.problem(("shots", index, issue.field), issue.message))
    mapped = caps.map_request(
        limits,
        duration=settings.duration,
        size=settings.size,
        aspect_ratio=settings.aspect_ratio,
        resolution=settings.resolution,
        images=len(resolved.images) + len(frame_slots),
        videos=len(resolved.videos),
        audios=len(resolved.audios),
        generate_audio=settings.generate_audio,
    )
    for limit in mapped.problems:
        if shot.segments and limit.field == "duration":
            message = (
                f"the segments add up to {settings.duration:g} s, outside what {limits.title} can "
                f"render ({limits.min_duration:g} to {limits.max_duration:g} s)"
            )
            problems.append(loaded.problem(("shots", index, "segments"), message))
            continue
        problems.append(loaded.problem(("shots", index, limit.field), limit.message))
    notes += mapped.notes
    problems += frame_problems(loaded, index, limits, frame_slots, resolved)
    secret = secret_param(settings.params)
    if secret:
        problems.append(
            loaded.problem(
                ("shots", index, "params"),
                f"params.{secret} looks like a credential; API keys come from the environment "
                f"({capability.api_key_env or 'none is needed here'}), never the storyboard",
            )
        )
    clash = sorted(set(settings.params) & (NAMED_FIELDS | capability.named_params))
    if clash:
        problems.append(
            loaded.problem(
                ("shots", index, "params"),
                f"params may not set {', '.join(clash)}: use the storyboard field of that name",
            )
        )
    if problems:
        raise StoryboardError(problems)

    camera = CameraDirection(
        move=_value(settings.camera.move),
        speed=_value(settings.camera.speed),
        shot=_value(settings.camera.shot),
        angle=_value(settings.camera.angle),
    )
    prompt = refs.render_tokens(resolved, capability.token_style)
    if settings.provider != caps.LOCAL_PROVIDER and not segments:
        prompt = append_camera(prompt, camera)  # segments carry their camera in their beats
    request = ShotRequest(
        id=shot.id,
        provider=settings.provider,
        model=limits.name,
        prompt=prompt,
        source_prompt=resolved.plain_prompt,
        duration=mapped.duration,
        seed=settings.seed,
        width=mapped.width,
        height=mapped.height,
        aspect_ratio=mapped.aspect_ratio,
        resolution=mapped.resolution,
        fps=loaded.storyboard.cut.fps,
        generate_audio=mapped.generate_audio,
        camera=camera,
        images=resolved.images,
        videos=resolved.videos,
        audios=resolved.audios,
        params=tuple(sorted(settings.params.items())),
        caption=settings.caption and loaded.storyboard.cut.captions,
        dialogue=(
            tuple(line for segment in segments for line in segment.dialogue)
            if segments
            else spoken_lines(resolved.plain_prompt, shot.dialogue)
        ),
        segments=segments,
        sized=mapped.from_size,
    )
    request = _with_hash(request, salt)
    return request, tuple(notes), set(resolved.used_names)


def plan_segments(
    loaded: LoadedStoryboard,
    index: int,
    shot: Shot,
    settings: Settings,
    limits: caps.ModelLimits,
    resolve: Callable[[str], refs.ResolvedPrompt],
) -> tuple[str, tuple[ShotSegment, ...], list[Problem]]:
    """A multi-shot generation: the one prompt its segments compile into (references still as
    written; the caller resolves them for the provider), the segments placed in time, and the
    problems, each located where it was written."""
    assert shot.segments
    where = ("shots", index)
    problems: list[Problem] = []
    if limits.multi_shot is None:
        records = map(caps.capabilities, caps.PROVIDERS)
        able = sorted({m.title for c in records for m in c.models if m.multi_shot})
        message = (
            f"{limits.title} cannot take segments (several shots in one generation); "
            f"make each segment its own shot, or use a model that can ({', '.join(able)})"
        )
        return "", (), [loaded.problem((*where, "segments"), message)]
    total = settings.duration
    if shot.duration is not None and abs(shot.duration - total) > 1e-9:
        problems.append(
            loaded.problem(
                (*where, "duration"),
                f"duration {shot.duration:g} s disagrees with the segments, which add up to {total:g} s; "
                "leave duration out (a shot with segments lasts as long as they do)",
            )
        )
    if limits.whole_seconds and not float(total).is_integer():
        problems.append(
            loaded.problem(
                (*where, "segments"),
                f"the segments add up to {total:g} s, but {limits.title} renders whole seconds; "
                "make them add up to a whole number",
            )
        )
    if shot.dialogue is not None:
        problems.append(
            loaded.problem((*where, "dialogue"), "a shot with segments takes its dialogue per segment")
        )
    if shot.prompt:
        problems += [
            loaded.problem((*where, "prompt"), issue.message)
            for issue in resolve(shot.prompt).problems
            if issue.field == "prompt"
        ]
    placed: list[ShotSegment] = []
    beats: list[multishot.Beat] = []
    spans = multishot.place([segment.duration for segment in shot.segments])
    for number, (segment, (start, end)) in enumerate(zip(shot.segments, spans, strict=True)):
        own = resolve(segment.prompt)
        problems += [
            loaded.problem((*where, "segments", number, "prompt"), issue.message)
            for issue in own.problems
            if issue.field == "prompt"
        ]
        merged = _merge_camera(settings.camera, segment.camera)
        camera = CameraDirection(
            move=_value(merged.move),
            speed=_value(merged.speed),
            shot=_value(merged.shot),
            angle=_value(merged.angle),
        )
        beats.append(multishot.Beat(start, end, segment.prompt, camera))
        placed.append(
            ShotSegment(
                start=start,
                duration=segment.duration,
                prompt=segment.prompt,
                source_prompt=own.plain_prompt,
                camera=camera,
                dialogue=spoken_lines(own.plain_prompt, segment.dialogue),
            )
        )
    return multishot.compile_multishot(shot.prompt, beats, limits.multi_shot), tuple(placed), problems


def frame_problems(
    loaded: LoadedStoryboard,
    index: int,
    limits: caps.ModelLimits,
    frame_slots: Sequence[FrameSlot],
    resolved: refs.ResolvedPrompt,
) -> list[Problem]:
    """First/last frames the route cannot take: no documented field, or mixed with references."""
    problems = []
    for slot in frame_slots:
        field_name = limits.first_frame_field if slot == "first_frame" else limits.last_frame_field
        if field_name is None:
            problems.append(
                loaded.problem(
                    ("shots", index, slot),
                    f"{limits.title} documents no field for a {slot.replace('_', ' ')}; "
                    "drop it or choose a provider that takes one (local takes both)",
                )
            )
    if frame_slots and not limits.frames_with_references and (resolved.images or resolved.videos):
        problems.append(
            loaded.problem(
                ("shots", index, frame_slots[0]),
                f"{limits.title} cannot mix first/last frames with reference images or videos; "
                "use either the frames or the references in this shot",
            )
        )
    return problems


SECRET_NAMES = frozenset(
    {"api_key", "apikey", "key", "token", "secret", "authorization", "password", "access_token", "bearer"}
)


def secret_param(params: Mapping[str, Any], prefix: str = "") -> str | None:
    """The dotted name of a param that would carry a credential, if any."""
    for name, value in params.items():
        dotted = f"{prefix}{name}"
        if str(name).lower().replace("-", "_") in SECRET_NAMES:
            return dotted
        if isinstance(value, Mapping):
            found = secret_param(value, dotted + ".")
            if found:
                return found
    return None


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def canonical_request(request: ShotRequest, salt: str = "") -> dict[str, Any]:
    """The fields that decide a shot's output, in a form independent of YAML style and paths.

    Media enter by kind, order and content hash (never by path, so renaming or
    moving a file changes nothing). The local engine also captions the shot id,
    renders at the cut's fps and depends on its own version and ffmpeg's.
    """
    form: dict[str, Any] = {
        "v": HASH_VERSION,
        "provider": request.provider,
        "model": request.model,
        "prompt": request.prompt,
        "duration": float(request.duration),
        "seed": request.seed,
        "size": request.size,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "generate_audio": request.generate_audio,
        "media": [[m.kind, m.sha256] for m in request.media],
        "params": dict(request.params),
    }
    # Only present when given, so every request without frames keeps its hash.
    for slot, media in (("first_frame", request.first_frame), ("last_frame", request.last_frame)):
        if media is not None:
            form[slot] = media.sha256
    if request.provider == caps.LOCAL_PROVIDER:
        form.update(
            id=request.id if request.caption else "",
            source_prompt=request.source_prompt,
            camera=[
                request.camera.move,
                request.camera.speed,
                request.camera.shot,
                request.camera.angle,
            ],
            fps=request.fps,
            caption=request.caption,
            dialogue=list(request.dialogue),
            engine=salt,
        )
        if request.segments:  # only then: the hashes of shots without segments stay as they were
            form["segments"] = [
                [
                    s.start,
                    s.duration,
                    s.source_prompt,
                    [s.camera.move, s.camera.speed, s.camera.shot, s.camera.angle],
                    list(s.dialogue),
                ]
                for s in request.segments
            ]
    return form


def request_hash(request: ShotRequest, salt: str = "") -> str:
    return files.json_hash(canonical_request(request, salt))


def _with_hash(request: ShotRequest, salt: str) -> ShotRequest:
    return replace(request, hash=request_hash(request, salt))


def cost_to_render(shots: Iterable[PlannedShot]) -> float:
    """The estimated cost of rendering ``shots``: each distinct request not yet cached, once."""
    todo = {
        t.request.hash or f"waiting:{t.request.key}": t.request
        for s in shots
        for t in s.all_takes
        if t.status != "cached"
    }
    return sum(estimate_cost(r) for r in todo.values())


def estimate_cost(request: ShotRequest) -> float:
    limits = caps.resolve_model(registry.capabilities(request.provider), request.model)
    return caps.estimate_cost_usd(limits, request.duration, request.width, request.height)


def timing_problems(loaded: LoadedStoryboard, durations: Sequence[float]) -> list[Problem]:
    """Trims and transitions that cannot fit the clips as requested: found here, before the
    shots are paid for, not by the stitch afterwards. ``durations`` are the requested clip
    lengths, one per shot (after mapping to the provider's durations)."""
    board = loaded.storyboard
    shots = board.shots
    problems: list[Problem] = []
    shown: list[float] = []
    for index, (shot, duration) in enumerate(zip(shots, durations, strict=True)):
        start = shot.trim.start if shot.trim else 0.0
        end = shot.trim.end if shot.trim and shot.trim.end is not None else duration
        if end > duration + 1e-9:
            problems.append(
                loaded.problem(
                    ("shots", index, "trim", "end"),
                    f"expected at most {duration:g} (the clip's length), got {end:g}",
                )
            )
            end = duration
        if start >= end:
            problems.append(
                loaded.problem(
                    ("shots", index, "trim", "start"),
                    f"expected less than {end:g}: the trim leaves nothing of the {duration:g} s clip",
                )
            )
        shown.append(max(0.0, end - start))
    if problems:
        return problems

    def overlap(index: int) -> float:
        spec = shots[index].transition or board.cut.transition
        return spec.duration if index > 0 and spec.type != "cut" else 0.0

    for index, shot in enumerate(shots):
        head = overlap(index) if index > 0 else board.cut.fade_in
        tail = overlap(index + 1) if index + 1 < len(shots) else board.cut.fade_out
        if head + tail <= shown[index] + 1e-9:
            continue
        if index > 0 and shots[index].transition and overlap(index):
            where: Path_ = ("shots", index, "transition", "duration")
        elif index + 1 < len(shots) and shots[index + 1].transition and overlap(index + 1):
            where = ("shots", index + 1, "transition", "duration")
        elif overlap(index) or (index + 1 < len(shots) and overlap(index + 1)):
            where = ("cut", "transition", "duration")
        else:
            where = ("cut", "fade_in" if index == 0 and head else "fade_out")
        problems.append(
            loaded.problem(
                where,
                f'shot "{shot.id}" shows {shown[index]:g} s, but the transitions and fades at its '
                f"edges need {head:g} s + {tail:g} s; expected at most {shown[index]:g} s in all "
                "(shorten them, or trim less)",
            )
        )
    return problems


def cut_output_conflict(target: Path, loaded: LoadedStoryboard, media: Iterable[Path]) -> str | None:
    """Why the cut may not be written to ``target``, or None. The one check for ``-o`` and
    ``cut.output`` alike: the cut replaces its file whole, so it must never land on the
    storyboard, its lock, an include, a reference (editing one re-renders, and pays for,
    every shot that uses it) or the cache; and it is an MP4 file."""
    if target.name in ("", ".", ".."):
        return "expected a file name ending in .mp4, got a folder"
    if target.suffix.lower() != ".mp4":
        return f'expected a file name ending in .mp4, got "{target.name}"'
    try:
        if target.is_dir():
            return "is an existing folder; expected a file name ending in .mp4"
        if target.exists() and not target.is_file():
            return "is not a regular file; expected a file name ending in .mp4"
        folder = next((p for p in target.absolute().parents if p.exists()), None)
        if folder is not None and not folder.is_dir():
            return f"cannot be written: {folder} is a file, not a folder"
        resolved = target.resolve()
    except OSError as exc:
        return f"cannot be used ({exc.strerror or exc})"
    storyboard = loaded.path.resolve()
    protected = {
        storyboard: "the storyboard itself",
        storyboard.with_suffix(".lock"): "the storyboard's lock file",
        **{path.resolve(): "a file the storyboard includes" for path in loaded.includes},
        **{path.resolve(): "a reference the storyboard reads" for path in media},
    }
    what = protected.get(resolved) or next(
        (why for path, why in protected.items() if _same_file(path, resolved)), None
    )
    if what is not None:
        return f"is {what}; the cut would overwrite it"
    if resolved.is_relative_to(storyboard.parent / STORE_DIRNAME):
        return "is inside the cache folder .shotlist/; the cut would overwrite rendered shots"
    return None


def _same_file(a: Path, b: Path) -> bool:
    """Hard links and case-insensitive file systems give one file several names."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def output_problems(
    loaded: LoadedStoryboard, allow_outside: bool, media: Iterable[Path] = ()
) -> list[Problem]:
    """A storyboard writes its cut inside its own folder: a shared storyboard must not be able
    to write elsewhere on the machine that renders it (``-o`` or ``--allow-outside`` may);
    and never over a file the render reads (``cut_output_conflict``)."""
    written = loaded.storyboard.cut.output
    if not written:
        return []
    conflict = cut_output_conflict(loaded.folder / written, loaded, media)
    if conflict is not None:
        return [loaded.problem(("cut", "output"), f'"{written}" {conflict}')]
    if allow_outside:
        return []
    folder = loaded.folder.resolve()
    if not (folder / written).resolve().is_relative_to(folder):
        return [
            loaded.problem(
                ("cut", "output"),
                f'"{written}" is outside the storyboard\'s folder; use -o to write elsewhere '
                "(or --allow-outside)",
            )
        ]
    return []


def resolve_music(
    loaded: LoadedStoryboard, declared: Mapping[str, refs.Declared], allow_outside: bool
) -> tuple[Path | None, list[Problem]]:
    """The music bed's local file (``@name`` or a path, confined like every reference)."""
    soundtrack = loaded.storyboard.soundtrack
    if not soundtrack or not soundtrack.music:
        return None, []
    music = soundtrack.music
    where = ("soundtrack", "music")
    if music.startswith("@"):
        ref = declared.get(music[1:])
        if ref is None:
            names = ", ".join(sorted(declared)) or "none are declared"
            return None, [loaded.problem(where, f'unknown reference "{music}"; references: {names}')]
        if ref.error:
            return None, []  # reported where the reference is declared
        if ref.kind != "audio":
            return None, [loaded.problem(where, f'"{music}" is {ref.kind}, not audio')]
        if ref.path is None:
            return None, [loaded.problem(where, f'"{music}" must be a local file: the cut is mixed here')]
        return ref.path, []
    if refs.kind_of(music) != "audio":
        return None, [
            loaded.problem(where, f'"{music}" is not an audio file (mp3, wav, m4a, aac, ogg, flac, opus)')
        ]
    try:
        return refs.locate(music, loaded.folder, allow_outside=allow_outside), []
    except refs.RefError as exc:
        return None, [loaded.problem(where, str(exc))]


def with_completed(plan: Plan, completed: Mapping[str, ShotRequest]) -> Plan:
    """``plan`` with the requests of waiting shots as a render completed them (by request key)."""
    if not completed:
        return plan
    shots = []
    for planned in plan.shots:
        takes = tuple(
            replace(t, request=completed[t.request.key]) if t.request.key in completed else t
            for t in planned.all_takes
        )
        shots.append(replace(planned, takes=takes, request=takes[planned.pick - 1].request))
    return replace(plan, shots=tuple(shots))

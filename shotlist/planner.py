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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shotlist import files, refs
from shotlist.errors import Problem, StoryboardError
from shotlist.providers import capabilities as caps
from shotlist.request import NAMED_FIELDS, CameraDirection, ShotRequest, ShotSegment
from shotlist.store.cache import STORE_DIRNAME
from shotlist.storyboard import multishot
from shotlist.storyboard.camera import append_camera
from shotlist.storyboard.loader import LoadedStoryboard
from shotlist.storyboard.model import Camera, Shot
from shotlist.storyboard.source import Path_

Status = Literal["new", "changed", "cached"]
BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "provider": caps.LOCAL_PROVIDER,
    "duration": 5.0,
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "generate_audio": True,
    "seed": 0,
    "caption": True,
    "mute": False,
}
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


@dataclass(frozen=True)
class PlannedShot:
    """One shot of the plan: the exact request, whether it must be rendered, and its price."""

    shot: Shot
    request: ShotRequest
    status: Status
    estimated_cost_usd: float
    notes: tuple[str, ...] = ()
    mute: bool = False
    same_as: str | None = None
    """The id of an earlier shot with the identical request: rendered and paid once, for both."""

    def to_json(self) -> dict[str, object]:
        r = self.request
        return {
            "id": r.id,
            "hash": r.hash,
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


class Lookup:
    """What the plan needs to know about earlier renders: the lock's hashes and the cache."""

    def __init__(self, locked: Mapping[str, str] | None = None, cached: Any = None) -> None:
        self.locked = dict(locked or {})
        self._cached = cached

    def is_cached(self, request_hash: str) -> bool:
        return bool(self._cached and self._cached(request_hash))

    def status(self, shot_id: str, request_hash: str) -> Status:
        if self.is_cached(request_hash):
            return "cached"
        previous = self.locked.get(shot_id)
        return "changed" if previous is not None and previous != request_hash else "new"


def build_plan(
    loaded: LoadedStoryboard,
    *,
    provider: str | None = None,
    allow_outside: bool = False,
    lookup: Lookup | None = None,
    engine_salt: Mapping[str, str] | None = None,
) -> Plan:
    """Resolve every shot into its exact request. Raises StoryboardError with every problem.

    ``provider`` overrides every shot's provider (``--provider``). ``engine_salt``
    maps a provider name to text mixed into its request hashes (the local engine's
    version and ffmpeg build, whose output bytes depend on them).
    """
    lookup = lookup or Lookup()
    board = loaded.storyboard
    declared = refs.declare(board.references, loaded.folder, allow_outside=allow_outside)
    problems: list[Problem] = [
        loaded.problem(("references", d.name), d.error) for d in declared.values() if d.error
    ]
    warnings: list[Problem] = []
    planned: list[PlannedShot] = []
    first_with: dict[str, str] = {}  # request hash -> id of the first shot with it
    used: set[str] = set()
    for index, shot in enumerate(board.shots):
        settings = merge_defaults(board.defaults, shot, provider)
        try:
            request, notes, names = build_request(
                loaded,
                index,
                shot,
                settings,
                declared,
                allow_outside,
                (engine_salt or {}).get(settings.provider, ""),
            )
        except StoryboardError as exc:
            problems += exc.problems
            continue
        used |= names
        status = lookup.status(request.id, request.hash)
        same_as = first_with.setdefault(request.hash, request.id)
        same_as_other = same_as if same_as != request.id else None
        # An identical request is one job: its price is counted on the first shot only.
        cost = 0.0 if status == "cached" or same_as_other else estimate_cost(request)
        planned.append(
            PlannedShot(shot, request, status, cost, notes, mute=settings.mute, same_as=same_as_other)
        )
        warnings += [loaded.problem(("shots", index), note) for note in notes]
    if not problems:
        problems += timing_problems(loaded, [p.request.duration for p in planned])
    music, music_problems = resolve_music(loaded, declared, allow_outside)
    media = [m.path for p in planned for m in p.request.media if m.path is not None]
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
    return Plan(loaded, tuple(planned), tuple(sorted(warnings)), music=music)


def merge_defaults(defaults: Any, shot: Shot, provider_override: str | None) -> Settings:
    """The one place where shot values, storyboard defaults and built-in defaults meet."""

    def pick(name: str) -> Any:
        for source in (shot, defaults):
            value = getattr(source, name)
            if value is not None:
                return value
        return BUILTIN_DEFAULTS.get(name)

    provider = provider_override or pick("provider")
    model = pick("model") or caps.capabilities(provider).default_model
    camera = _merge_camera(defaults.camera, shot.camera)
    params = {**(defaults.params or {}), **(shot.params or {})}
    base_seed = defaults.seed if defaults.seed is not None else BUILTIN_DEFAULTS["seed"]
    seed = shot.seed if shot.seed is not None else derive_seed(base_seed, shot.id)
    return Settings(
        provider=provider,
        model=model,
        # A shot of segments lasts as long as they do (an explicit duration must agree).
        duration=float(sum(s.duration for s in shot.segments) if shot.segments else pick("duration")),
        aspect_ratio=pick("aspect_ratio"),
        resolution=pick("resolution"),
        size=pick("size"),
        generate_audio=pick("generate_audio"),
        seed=seed,
        camera=camera,
        params=params,
        caption=pick("caption"),
        mute=pick("mute"),
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
) -> tuple[ShotRequest, tuple[str, ...], set[str]]:
    """One shot's exact request, the notes about values mapped to the provider's, and the
    names of the declared references it uses."""
    problems: list[Problem] = []
    notes: list[str] = []
    capability = caps.capabilities(settings.provider)
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
        images=len(resolved.images),
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
    secret = secret_param(settings.params)
    if secret:
        problems.append(
            loaded.problem(
                ("shots", index, "params"),
                f"params.{secret} looks like a credential; API keys come from the environment "
                f"({capability.api_key_env or 'none is needed here'}), never the storyboard",
            )
        )
    clash = sorted(set(settings.params) & NAMED_FIELDS)
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
    from dataclasses import replace

    return replace(request, hash=request_hash(request, salt))


def cost_to_render(shots: Iterable[PlannedShot]) -> float:
    """The estimated cost of rendering ``shots``: each distinct request not yet cached, once."""
    todo = {s.request.hash: s.request for s in shots if s.status != "cached"}
    return sum(estimate_cost(r) for r in todo.values())


def estimate_cost(request: ShotRequest) -> float:
    limits = caps.resolve_model(caps.capabilities(request.provider), request.model)
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

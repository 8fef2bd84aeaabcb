"""Everything shotlist keeps on disk: the clip cache, the job journal and the lock file.

Layout of the store directory (``.shotlist/`` beside the storyboard, or
``SHOTLIST_CACHE_DIR``)::

    clips/<hash[:2]>/<hash>.mp4     a rendered shot, content-addressed by request hash
    clips/<hash[:2]>/<hash>.json    its sidecar: sha256 and size of the clip, job id, provider, cost
    journal/<hash>.json             a job submitted but not yet stored in the cache
    downloads/                      downloads in progress (same file system as clips/)
    frames/<clip sha256>-<which>.png   frames taken from clips for continuity (first/last frames)
    lock                            held by the one render that may use the store

Every write goes to a temporary file in the destination directory, is
fsynced and then renamed over the target, so a crash leaves either the old
file or the new one, never half of one. The cache trusts nothing it reads: a
clip whose bytes no longer match its sidecar is removed and rendered again.

The lock file (``film.lock`` beside ``film.yaml``, DESIGN §4) records what
each shot was rendered from and into; it is written deterministically so a
render that changes nothing leaves it byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from shotlist import files
from shotlist.errors import StoreError
from shotlist.providers.base import reported_cost
from shotlist.request import ShotRequest, take_key

STORE_DIRNAME = ".shotlist"
CACHE_DIR_ENV = "SHOTLIST_CACHE_DIR"
LOCK_VERSION = 1


def store_root(storyboard: Path, env: Mapping[str, str], cache_dir: Path | None = None) -> Path:
    """Where the store lives: ``cache_dir`` if given, else ``SHOTLIST_CACHE_DIR``, else
    ``.shotlist/`` beside the storyboard."""
    if cache_dir is not None:
        return cache_dir
    from_env = env.get(CACHE_DIR_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return storyboard.parent / STORE_DIRNAME


def lock_path(storyboard: Path) -> Path:
    """The lock file of a storyboard: ``film.yaml`` -> ``film.lock``."""
    return storyboard.with_suffix(".lock")


def _json_bytes(value: Any) -> bytes:
    return (files.canonical_json(value, pretty=True) + "\n").encode()


def idempotency_key(request_hash: str, generation: int = 0) -> str:
    """The key a job for this request is submitted under; the same on every attempt.

    ``generation`` counts fresh jobs for the same request after a provider
    forgot an earlier one (expired): the old key would only find the dead job.
    """
    key = f"shotlist-{request_hash[:32]}"
    return key if generation == 0 else f"{key}-{generation}"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ClipMeta:
    """What the engine knows about a clip when it stores it."""

    job_id: str
    provider: str
    cost_usd: float | None = None


@dataclass(frozen=True)
class CachedClip:
    """A verified cache entry: ``file`` holds exactly ``size`` bytes hashing to ``sha256``."""

    hash: str
    file: Path
    sha256: str
    size: int
    job_id: str
    provider: str
    cost_usd: float | None


JobPhase = Literal["submitting", "submitted", "ended"]


@dataclass(frozen=True)
class JobRecord:
    """One journalled job.

    ``submitting`` is written before the submit call: finding it on start-up
    means the answer may have been lost, so the shot is submitted again under
    the same ``idempotency_key`` (the provider dedupes). ``submitted`` is
    written, with the job id, before polling begins: the job is resumed,
    never submitted again. ``ended`` marks a job that finished without a
    clip (failed, cancelled, forgotten): the next attempt is a new job under
    the next ``generation``'s key, since the old key would find the dead job.
    A record is removed once its clip is in the cache.
    """

    hash: str
    shot_id: str
    provider: str
    idempotency_key: str
    state: JobPhase
    job_id: str | None
    created_at: float
    updated_at: float
    generation: int = 0
    submitted_at: float | None = None
    """When the provider accepted the job (Unix time); a job younger than its
    retention cannot have been forgotten, whatever a poll answers."""
    expires_at: float | None = None
    """When the provider said it forgets the job, once a poll has said so."""


# ---------------------------------------------------------------- the store


class Store:
    """The ``.shotlist/`` directory: cache, journal and temporary downloads.

    Methods are synchronous and may block on disk I/O; the engine calls the
    slow ones (``put``, ``get``) from a worker thread.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clips_dir = root / "clips"
        self.journal_dir = root / "journal"
        self.downloads_dir = root / "downloads"
        self.frames_dir = root / "frames"

    # -- cache

    def clip_path(self, request_hash: str) -> Path:
        return self.clips_dir / request_hash[:2] / f"{request_hash}.mp4"

    def _sidecar_path(self, request_hash: str) -> Path:
        return self.clips_dir / request_hash[:2] / f"{request_hash}.json"

    def has(self, request_hash: str) -> bool:
        """Whether a complete-looking entry exists. Cheap (no hashing): for planning.

        A clip whose size differs from its sidecar (truncated) counts as absent;
        corruption that keeps the size is caught by ``get``.
        """
        meta = self._read_sidecar(request_hash)
        if meta is None:
            return False
        try:
            return self.clip_path(request_hash).stat().st_size == meta.get("size")
        except OSError:
            return False

    def get(self, request_hash: str) -> CachedClip | None:
        """The verified entry, or None. A corrupted or truncated entry is removed."""
        return self.check(request_hash)[0]

    def check(self, request_hash: str) -> tuple[CachedClip | None, str | None]:
        """Like ``get``, also saying why an entry that existed was discarded."""
        clip = self.clip_path(request_hash)
        meta = self._read_sidecar(request_hash)
        if meta is None:
            if clip.exists():
                # A clip without its sidecar is a put cut short: unverifiable.
                self.discard(request_hash)
                return None, "cached clip has no record"
            return None, None
        entry = _cached_clip(request_hash, clip, meta)
        if entry is None:
            self.discard(request_hash)
            return None, "cache record is unreadable"
        try:
            size = clip.stat().st_size
        except FileNotFoundError:
            self.discard(request_hash)
            return None, "cached clip is missing"
        if size != entry.size:
            self.discard(request_hash)
            return None, f"cached clip is truncated ({size} of {entry.size} bytes)"
        if files.sha256_file(clip) != entry.sha256:
            self.discard(request_hash)
            return None, "cached clip is corrupted (sha256 mismatch)"
        return entry, None

    def put(self, request_hash: str, src: Path, meta: ClipMeta, *, move: bool = False) -> CachedClip:
        """Store ``src`` as the clip of ``request_hash``, atomically.

        With ``move`` the file is renamed into the cache (it must be on the same
        file system, as ``download_path`` files are) instead of copied.
        """
        clip = self.clip_path(request_hash)
        clip.parent.mkdir(parents=True, exist_ok=True)
        sha256 = files.sha256_file(src)
        size = src.stat().st_size
        # The old sidecar goes first: until the new one is written, the entry reads as absent.
        self._sidecar_path(request_hash).unlink(missing_ok=True)
        if move:
            with src.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(src, clip)
            files.fsync_dir(clip.parent)
        else:
            files.copy(src, clip)
        record = {"sha256": sha256, "size": size, **asdict(meta)}
        files.write_bytes(self._sidecar_path(request_hash), _json_bytes(record))
        return CachedClip(request_hash, clip, sha256, size, meta.job_id, meta.provider, meta.cost_usd)

    def discard(self, request_hash: str) -> None:
        """Remove a cache entry (both files), if present."""
        self._sidecar_path(request_hash).unlink(missing_ok=True)
        self.clip_path(request_hash).unlink(missing_ok=True)

    def _read_sidecar(self, request_hash: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._sidecar_path(request_hash).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def clip_sha256(self, request_hash: str) -> str | None:
        """The recorded sha256 of a cached clip (not verified: ``has`` first, ``get`` to verify)."""
        value = (self._read_sidecar(request_hash) or {}).get("sha256")
        return value if isinstance(value, str) else None

    def frame_path(self, clip_sha256: str, which: str) -> Path:
        """Where a frame taken from a clip is kept: by the clip's content and the frame's name."""
        return self.frames_dir / f"{clip_sha256}-{which}.png"

    # -- temporary downloads

    def download_path(self, request_hash: str) -> Path:
        """A fresh, unique path for a download, on the same file system as the cache."""
        self.downloads_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.downloads_dir, prefix=f"{request_hash[:16]}.", suffix=".part")
        os.close(fd)
        return Path(name)

    def sweep_downloads(self) -> None:
        """Remove downloads a killed render left behind. Call only while holding ``exclusive``."""
        if self.downloads_dir.is_dir():
            for leftover in self.downloads_dir.iterdir():
                with contextlib.suppress(OSError):
                    leftover.unlink()

    # -- journal

    def _journal_path(self, request_hash: str) -> Path:
        return self.journal_dir / f"{request_hash}.json"

    def journal_get(self, request_hash: str) -> JobRecord | None:
        """The journalled job for a request, if any.

        An unreadable record is an error, not an absence: guessing "no job"
        could pay for the same shot twice.
        """
        path = self._journal_path(request_hash)
        try:
            data = json.loads(path.read_bytes())
            return JobRecord(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise StoreError(
                f"{path}: unreadable journal record ({exc}); delete it to submit the shot again"
            ) from exc

    def journal_put(self, record: JobRecord) -> None:
        """Record a job durably (fsynced) before anything depends on it."""
        files.write_bytes(self._journal_path(record.hash), _json_bytes(asdict(record)))

    def journal_remove(self, request_hash: str) -> None:
        path = self._journal_path(request_hash)
        if path.exists():
            path.unlink()
            files.fsync_dir(path.parent)

    def journal_records(self) -> list[JobRecord]:
        """Every journalled job, ordered by request hash (for diagnostics)."""
        if not self.journal_dir.is_dir():
            return []
        hashes = sorted(p.stem for p in self.journal_dir.glob("*.json"))
        return [r for h in hashes if (r := self.journal_get(h)) is not None]

    # -- one render at a time

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store for one render; a second concurrent render fails instead of
        submitting the same jobs again."""
        self.root.mkdir(parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            # The cache ignores itself, so it is never committed even without `shotlist init`.
            files.write_bytes(ignore, b"# written by shotlist: the cache is never committed\n*\n")
        with (self.root / "lock").open("a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - no advisory locks on this platform
                yield
                return
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise StoreError(
                    f"another shotlist render is using {self.root}; wait for it to finish"
                ) from exc
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _cached_clip(request_hash: str, clip: Path, meta: Mapping[str, Any]) -> CachedClip | None:
    try:
        cost = meta.get("cost_usd")
        return CachedClip(
            hash=request_hash,
            file=clip,
            sha256=str(meta["sha256"]),
            size=int(meta["size"]),
            job_id=str(meta["job_id"]),
            provider=str(meta["provider"]),
            cost_usd=reported_cost(cost),
        )
    except (KeyError, TypeError, ValueError):
        return None


def new_job_record(request: ShotRequest, generation: int = 0) -> JobRecord:
    """The ``submitting`` record written before a request is first submitted."""
    now = time.time()
    return JobRecord(
        hash=request.hash,
        shot_id=request.id,
        provider=request.provider,
        idempotency_key=idempotency_key(request.hash, generation),
        state="submitting",
        job_id=None,
        created_at=now,
        updated_at=now,
        generation=generation,
    )


def mark_submitted(record: JobRecord, job_id: str) -> JobRecord:
    now = time.time()
    return replace(record, state="submitted", job_id=job_id, updated_at=now, submitted_at=now)


def mark_ended(record: JobRecord) -> JobRecord:
    return replace(record, state="ended", updated_at=time.time())


# ---------------------------------------------------------------- the lock file


@dataclass(frozen=True)
class LockTake:
    """One take of a shot with several: what it was rendered from and into."""

    take: int
    hash: str
    seed: int
    job_id: str
    sha256: str
    cost_usd: float | None


@dataclass(frozen=True)
class LockEntry:
    """What one shot was rendered from and into (DESIGN §4).

    A shot with several takes also records ``pick`` and every take (``takes``); its own
    hash, seed, job, sha256 and cost are the picked take's. A shot with one take has
    neither field, so its entry reads as before takes existed.
    """

    id: str
    hash: str
    provider: str
    model: str
    seed: int
    duration: float
    job_id: str
    sha256: str
    cost_usd: float | None
    pick: int | None = None
    takes: tuple[LockTake, ...] | None = None

    def take_hashes(self) -> dict[str, str]:
        """Request key (``id``, ``id#k``) -> hash of every take this entry records."""
        if not self.takes:
            return {self.id: self.hash}
        return {take_key(self.id, t.take): t.hash for t in self.takes}


@dataclass(frozen=True)
class Lock:
    """The lock file: entries in storyboard order."""

    shots: tuple[LockEntry, ...] = ()
    version: int = LOCK_VERSION

    def entry(self, shot_id: str) -> LockEntry | None:
        return next((e for e in self.shots if e.id == shot_id), None)

    def by_id(self) -> dict[str, LockEntry]:
        return {e.id: e for e in self.shots}


class LockedRender(Protocol):
    """The part of a render result the lock records (the engine's ``RenderedShot`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def cost_usd(self) -> float | None: ...


def read_lock(path: Path) -> Lock:
    """Read a lock file; a missing file is an empty lock, a malformed one an error naming it."""
    try:
        raw = files.read_project_bytes(path)
    except FileNotFoundError:
        return Lock()
    try:
        return _parse_lock(json.loads(raw))
    except ValueError as exc:
        raise StoreError(
            f"{path}: not a valid shotlist lock file ({exc}); "
            "fix it or delete it to record the next render afresh"
        ) from exc


def _parse_lock(data: Any) -> Lock:
    """Raises ValueError saying what is wrong and where."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    version = data.get("version")
    if version != LOCK_VERSION:
        raise ValueError(f"unsupported version {version!r}, this shotlist writes {LOCK_VERSION}")
    shots = data.get("shots")
    if not isinstance(shots, list):
        raise ValueError("'shots' must be a list")
    entries = []
    for index, item in enumerate(shots):
        try:
            entries.append(_parse_entry(item))
        except KeyError as exc:
            raise ValueError(f"shots[{index}]: missing field {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"shots[{index}]: {exc}") from exc
    return Lock(shots=tuple(entries))


def _parse_entry(item: Any) -> LockEntry:
    if not isinstance(item, dict):
        raise TypeError("each shot must be an object")
    entry = LockEntry(
        id=_str(item, "id"),
        hash=_str(item, "hash"),
        provider=_str(item, "provider"),
        model=_str(item, "model"),
        seed=int(item["seed"]),
        duration=float(item["duration"]),
        job_id=_str(item, "job_id"),
        sha256=_str(item, "sha256"),
        cost_usd=_cost(item),
        pick=None if item.get("pick") is None else int(item["pick"]),
        takes=None if item.get("takes") is None else tuple(_parse_take(t) for t in item["takes"]),
    )
    unknown = sorted(set(item) - set(LockEntry.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    return entry


def _cost(item: Mapping[str, Any]) -> float | None:
    return None if item["cost_usd"] is None else reported_cost(item["cost_usd"])


def _parse_take(item: Any) -> LockTake:
    if not isinstance(item, dict):
        raise TypeError("each take must be an object")
    return LockTake(
        take=int(item["take"]),
        hash=_str(item, "hash"),
        seed=int(item["seed"]),
        job_id=_str(item, "job_id"),
        sha256=_str(item, "sha256"),
        cost_usd=_cost(item),
    )


def _str(item: Mapping[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string")
    return value


def lock_bytes(lock: Lock) -> bytes:
    """The exact bytes of a lock file: sorted keys, indent 2, trailing newline."""
    return _json_bytes({"version": lock.version, "shots": [_entry_json(e) for e in lock.shots]})


def _entry_json(entry: LockEntry) -> dict[str, Any]:
    # A one-take shot is written exactly as before takes existed: old locks stay byte-identical.
    data = asdict(entry)
    if entry.takes is None:
        del data["pick"], data["takes"]
    return data


def write_lock(path: Path, lock: Lock) -> bool:
    """Write the lock atomically unless its bytes are unchanged. Returns whether it wrote."""
    data = lock_bytes(lock)
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    files.write_bytes(path, data)
    return True


def update_lock(
    previous: Lock,
    shots: Sequence[ShotRequest],
    rendered: Iterable[LockedRender],
    *,
    picks: Mapping[str, int] | None = None,
) -> Lock:
    """The lock after a render.

    ``shots`` are the requests of all shots of the storyboard, in storyboard order,
    every take of a shot together (take 1 first); ``picks`` names each shot's picked
    take (default 1). A take rendered (or found in the cache) this time gets a fresh
    record; one not rendered this time (``--only``, or it failed) keeps its previous
    one; a shot no longer in the storyboard is dropped.
    """
    done = {_render_key(r): r for r in rendered}
    kept = previous.by_id()
    groups: dict[str, list[ShotRequest]] = {}
    for request in shots:
        groups.setdefault(request.id, []).append(request)
    entries: list[LockEntry] = []
    for shot_id, takes in groups.items():
        entry = _shot_entry(takes, (picks or {}).get(shot_id, 1), done, kept.get(shot_id))
        if entry is not None:
            entries.append(entry)
    return Lock(shots=tuple(entries))


def _render_key(result: LockedRender) -> str:
    key = getattr(result, "key", None)
    return key if isinstance(key, str) else result.id


def _shot_entry(
    takes: Sequence[ShotRequest], pick: int, done: Mapping[str, LockedRender], previous: LockEntry | None
) -> LockEntry | None:
    if len(takes) == 1:
        result = done.get(takes[0].key)
        if result is not None:
            return _lock_entry(takes[0], result)
        return previous
    before = {t.take: t for t in (previous.takes or ())} if previous else {}
    if previous is not None and not previous.takes:
        before[1] = LockTake(
            1, previous.hash, previous.seed, previous.job_id, previous.sha256, previous.cost_usd
        )
    records: list[LockTake] = []
    for request in takes:
        result = done.get(request.key)
        if result is not None:
            records.append(
                LockTake(
                    request.take, result.hash, request.seed, result.job_id, result.sha256, result.cost_usd
                )
            )
        elif request.take in before:
            records.append(before[request.take])
    picked = next((t for t in records if t.take == pick), None)
    if picked is None:
        return previous
    first = takes[0]
    return LockEntry(
        id=first.id,
        hash=picked.hash,
        provider=first.provider,
        model=first.model,
        seed=picked.seed,
        duration=float(first.duration),
        job_id=picked.job_id,
        sha256=picked.sha256,
        cost_usd=picked.cost_usd,
        pick=pick,
        takes=tuple(records),
    )


def _lock_entry(shot: ShotRequest, result: LockedRender) -> LockEntry:
    return LockEntry(
        id=shot.id,
        hash=result.hash,
        provider=shot.provider,
        model=shot.model,
        seed=shot.seed,
        duration=float(shot.duration),
        job_id=result.job_id,
        sha256=result.sha256,
        cost_usd=result.cost_usd,
    )

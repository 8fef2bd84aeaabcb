"""The store beside a storyboard: the clip cache and the journal of jobs in flight.

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

The journal's records are in ``store.journal``; the lock file is ``store.lock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shotlist import files
from shotlist.errors import StoreError
from shotlist.providers.base import reported_cost
from shotlist.store.journal import JobRecord

STORE_DIRNAME = ".shotlist"
CACHE_DIR_ENV = "SHOTLIST_CACHE_DIR"


def store_root(storyboard: Path, env: Mapping[str, str], cache_dir: Path | None = None) -> Path:
    """Where the store lives: ``cache_dir`` if given, else ``SHOTLIST_CACHE_DIR``, else
    ``.shotlist/`` beside the storyboard."""
    if cache_dir is not None:
        return cache_dir
    from_env = env.get(CACHE_DIR_ENV, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return storyboard.parent / STORE_DIRNAME


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
        files.write_bytes(self._sidecar_path(request_hash), files.json_bytes(record))
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
        files.write_bytes(self._journal_path(record.hash), files.json_bytes(asdict(record)))

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

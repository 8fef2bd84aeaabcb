"""The stitch cache under ``work_dir`` and the small machinery for running its work.

Everything in the cache is keyed by content (see :func:`cache_key`) and built
under a temporary name beside its final one, then renamed into place, so an
entry exists only once complete and a crash never leaves half of one. Entries
unused for ``SWEEP_DAYS`` are removed after a stitch.

The cache repairs itself: ``publish`` seals every file it publishes with its
size, and ``cached`` trusts a file only while it still has that size (a file
cut short by a full disk, or by hand, is removed and built again). One stitch
at a time holds the cache (``exclusive``), and it first removes what killed
stitches left behind (``sweep_leftovers``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import TypeVar

from shotlist import files
from shotlist.errors import StitchError
from shotlist.events import Hook, StitchStep
from shotlist.media import graph
from shotlist.media.ffmpeg import run_ffmpeg

# Bump when normalization, windows or the sound track change what they write.
CACHE_VERSION = 3
SWEEP_DAYS = 30


class Cache:
    """The folders of a stitch cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pictures = root / "pictures"  # normalized picture pieces, a folder per clip
        self.sounds = root / "sounds"  # normalized sound, raw PCM per clip
        self.windows = root / "windows"  # re-encoded picture windows and rendered sound windows
        self.tracks = root / "tracks"  # the encoded sound of whole cuts
        self.probes = root / "probes"  # what each clip holds, by its sha256 (JSON)
        for directory in (self.pictures, self.sounds, self.windows, self.tracks, self.probes, root / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private folder for one stitch's intermediate files, removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix="stitch-", dir=self.root / "tmp"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the cache for one stitch; a second one waits. Held, the leftovers of other
        stitches are known to be dead and can be removed."""
        with (self.root / "lock").open("a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - no advisory locks on this platform
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def sweep_leftovers(self, output: Path) -> None:
        """Remove what killed stitches left: scratch folders, entries built half-way, and a
        half-written cut beside ``output``. Call only while holding ``exclusive``."""
        for entry in (self.root / "tmp").iterdir():
            _remove(entry)
        for folder in (self.pictures, self.sounds, self.windows, self.tracks):
            for entry in folder.glob(".*.part*"):
                _remove(entry)
        if output.parent.is_dir():
            for entry in output.parent.glob(
                f".{glob_escape(output.stem)}.*.part{glob_escape(output.suffix)}"
            ):
                _remove(entry)

    def clear(self) -> None:
        """Drop every built entry (not the probes, which describe the clips themselves)."""
        for folder in (self.pictures, self.sounds, self.windows, self.tracks):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)

    def sweep(self) -> None:
        """Remove entries no stitch has used for a while, and leftovers of crashed runs."""
        now = time.time()
        kept = (self.pictures, self.sounds, self.windows, self.tracks, self.probes)
        for folder, days in [*((f, SWEEP_DAYS) for f in kept), (self.root / "tmp", 1)]:
            for entry in folder.iterdir():
                with suppress(OSError):  # gone already, or in use elsewhere
                    if now - entry.stat().st_mtime > days * 86_400:
                        if entry.is_dir():
                            shutil.rmtree(entry)
                        else:
                            entry.unlink()


def cache_key(kind: str, **parts: object) -> str:
    """A content key: the hash of ``kind`` and ``parts`` (which must be JSON data)."""
    return files.json_hash({"kind": kind, "v": CACHE_VERSION, **parts})[:32]


def cached(*paths: Path) -> bool:
    """Whether every path exists, each file with the size it was sealed with (a damaged
    one is removed, to be built again); touches them so the sweep keeps what is in use."""
    if not all(p.exists() for p in paths):
        return False
    for path in paths:
        if path.is_file() and not _intact(path):
            _remove(path)
            return False
    for path in paths:
        os.utime(path)
    return True


def publish(building: Path, final: Path) -> None:
    """``files.publish`` for cache entries: a file, or a folder of files, sealed with the
    sizes ``cached`` checks. The seal is written last, so an entry without one (a crash
    in between) counts as damaged, never as whole."""
    if building.is_dir():
        for piece in [p for p in building.iterdir() if p.is_file() and p.suffix != SEAL]:
            _seal(piece)
        files.publish(building, final)
        return
    files.publish(building, final)
    _seal(final)


SEAL = ".size"


def _seal_path(path: Path) -> Path:
    return path.with_name(path.name + SEAL)


def _seal(path: Path) -> None:
    _seal_path(path).write_text(str(path.stat().st_size))


def _intact(path: Path) -> bool:
    try:
        return int(_seal_path(path).read_text()) == path.stat().st_size
    except (OSError, ValueError):
        return False


def _remove(entry: Path) -> None:
    with suppress(OSError):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
            _seal_path(entry).unlink(missing_ok=True)


@dataclass(frozen=True)
class Job:
    """Work for the pool: what to report to the hook, and the work itself. ``more`` are
    other shots the same work is for (a batch), reported with the same event."""

    shot_id: str
    event: str
    run: Callable[[], None]
    more: tuple[str, ...] = ()


def workers() -> int:
    # One more than the cores: the sound track is mostly one busy thread beside the picture.
    return (os.cpu_count() or 1) + 1


T = TypeVar("T")


def batches(items: Sequence[T], weights: Sequence[float], most: float, limit: int) -> list[list[T]]:
    """``items`` in order, in groups of at most ``limit`` whose ``weights`` add up to at most
    ``most`` (an item heavier than that alone), and at least ``workers()`` groups while there
    are items enough: one ffmpeg then does the work of several short clips, and every core
    still has a process to run."""
    if not items:
        return []
    limit = max(1, min(limit, -(-len(items) // workers())))
    groups: list[list[T]] = [[]]
    load = 0.0
    for item, weight in zip(items, weights, strict=True):
        if groups[-1] and (len(groups[-1]) >= limit or load + weight > most):
            groups.append([])
            load = 0.0
        groups[-1].append(item)
        load += weight
    return groups


def submit(pool: ThreadPoolExecutor, jobs: Sequence[Job], hook: Hook) -> list[Future[None]]:
    """Start ``jobs``; events are sent from the calling thread only."""
    futures = []
    for job in jobs:
        for shot_id in (job.shot_id, *job.more):
            hook(StitchStep(shot_id, job.event))
        futures.append(pool.submit(job.run))
    return futures


def wait_all(futures: Sequence[Future[None]]) -> None:
    """Wait for ``futures``; the first failure is raised."""
    done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        future.result()
    wait(futures)


def render_entries(
    entries: Sequence[T],
    path: Callable[[T], Path],
    output: Callable[[T, Path], graph.Output],
    step: Callable[[Sequence[T]], str],
) -> None:
    """Build the cache file ``path(entry)`` of every entry in one ffmpeg run and publish them;
    ``output(entry, at)`` writes an entry at ``at``, ``step(entries)`` names the run in errors.

    Short pieces of work share a run because starting ffmpeg costs more than they do.
    When a shared run fails, each entry is built alone, so the error names the one at fault.
    """
    buildings = [files.staged(path(entry)) for entry in entries]
    try:
        try:
            outputs = [output(entry, at) for entry, at in zip(entries, buildings, strict=True)]
            run_ffmpeg(graph.command(*outputs), step=step(entries), error=StitchError)
        except StitchError:
            if len(entries) == 1:
                raise
            for entry in entries:
                if not cached(path(entry)):
                    render_entries([entry], path, output, step)
            return
        for entry, building in zip(entries, buildings, strict=True):
            publish(building, path(entry))
    finally:
        for building in buildings:
            building.unlink(missing_ok=True)

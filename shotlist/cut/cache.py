"""The stitch cache under ``work_dir`` and the small machinery for running its work.

Everything in the cache is keyed by content (see :func:`cache_key`) and built
under a temporary name beside its final one, then renamed into place, so an
entry exists only once complete and a crash never leaves half of one. Entries
unused for ``SWEEP_DAYS`` are removed after a stitch.
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
from pathlib import Path

from shotlist import files
from shotlist.events import Hook, StitchStep

# Bump when normalization, windows or the sound track change what they write.
CACHE_VERSION = 2
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
    """Whether every path exists; touches them so the sweep keeps what is in use."""
    if not all(p.exists() for p in paths):
        return False
    for path in paths:
        os.utime(path)
    return True


@dataclass(frozen=True)
class Job:
    """Work for the pool: what to report to the hook, and the work itself."""

    shot_id: str
    event: str
    run: Callable[[], None]


def workers() -> int:
    # One more than the cores: the sound track is mostly one busy thread beside the picture.
    return (os.cpu_count() or 1) + 1


def submit(pool: ThreadPoolExecutor, jobs: Sequence[Job], hook: Hook) -> list[Future[None]]:
    """Start ``jobs``; events are sent from the calling thread only."""
    futures = []
    for job in jobs:
        hook(StitchStep(job.shot_id, job.event))
        futures.append(pool.submit(job.run))
    return futures


def wait_all(futures: Sequence[Future[None]]) -> None:
    """Wait for ``futures``; the first failure is raised."""
    done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        future.result()
    wait(futures)

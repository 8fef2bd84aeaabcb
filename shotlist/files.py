"""Files: atomic writes, content hashes and canonical JSON, each done one way, here.

Atomic writes build the new content under a temporary name beside the target (same
folder, so the rename is atomic) and rename it over the target: a reader, or a crash,
sees the old bytes or the new, never a mix. ``durable`` also flushes the file and its
folder to the disk before returning; use it for what cannot be rebuilt (the lock, the
journal, paid clips, the cut), skip it for caches a later run can remake.

Reads of the project (the storyboard, its includes, its references and its lock) go
through ``read_project_bytes``, ``project_kind`` and ``project_sha256``: they read the
working tree, or, inside ``reading_from(view)``, another view of it such as the git
revision ``plan --against`` compares with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

CHUNK = 1 << 20


def _umask() -> int:
    # Reading the umask means setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries: a rename reaches the disk only with its folder."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def staged(final: Path) -> Path:
    """A fresh name beside ``final`` to build it under (ffmpeg or a folder), keeping its
    suffix so tools that read the format from the name still can; ``publish`` renames it."""
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.part{final.suffix}")


def publish(building: Path, final: Path, *, durable: bool = False) -> None:
    """Rename a finished ``building`` (from ``staged``) over ``final``."""
    if durable and building.is_file():
        with building.open("rb+") as handle:
            os.fsync(handle.fileno())
    os.replace(building, final)
    if durable:
        fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_file(path: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A file that becomes ``path`` in one rename once the block ends, or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # No suffix of the target: folders listed by suffix (the journal) never see a half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp makes the file 0600; a lock meant for git, or a cut, follows the umask.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as tmp:
            yield tmp
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        fsync_dir(path.parent)


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path, durable=durable) as tmp:
        tmp.write(data)


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), durable=durable)


def copy(src: Path, dest: Path, *, durable: bool = True) -> None:
    """Copy ``src`` to ``dest`` atomically."""
    with atomic_file(dest, durable=durable) as tmp, src.open("rb") as source:
        shutil.copyfileobj(source, tmp, CHUNK)


def link_or_copy(src: Path, dest: Path) -> None:
    """Put ``src``'s bytes at ``dest`` atomically: a hard link where the file system allows
    (no space, no time), a copy otherwise (another device, or no hard links there)."""
    building = staged(dest)
    try:
        os.link(src, building)
    except OSError:
        copy(src, dest, durable=False)
        return
    try:
        publish(building, dest)
    finally:
        building.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def canonical_json(value: Any, *, pretty: bool = False) -> str:
    """``value`` as JSON with sorted keys and UTF-8 text: equal data, equal text.

    Compact for hashing; ``pretty`` (two-space indent, for files people read and diff)."""
    if pretty:
        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_bytes(value: Any) -> bytes:
    """``value`` as pretty canonical JSON with a final newline: the form of files people
    read, diff and commit (the lock, the cache's sidecars, the journal)."""
    return (canonical_json(value, pretty=True) + "\n").encode("utf-8")


def json_hash(value: Any) -> str:
    """The sha256 (hex) of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# Where the project is read from ------------------------------------------------------------

FileKind = Literal["file", "dir"]


class ProjectView(Protocol):
    """A read-only view of the project's files at absolute paths (a git revision, say)."""

    def read_bytes(self, path: Path) -> bytes:
        """The file's bytes; FileNotFoundError or IsADirectoryError as ``Path.read_bytes``."""
        ...

    def kind(self, path: Path) -> FileKind | None:
        """``"file"``, ``"dir"``, or None when nothing is there."""
        ...

    def sha256(self, path: Path) -> str:
        """The sha256 (hex) of the file's bytes."""
        ...


_VIEW: ContextVar[ProjectView | None] = ContextVar("shotlist_project_view", default=None)


@contextlib.contextmanager
def reading_from(view: ProjectView) -> Iterator[None]:
    """Inside the block, project reads come from ``view`` instead of the working tree."""
    token = _VIEW.set(view)
    try:
        yield
    finally:
        _VIEW.reset(token)


def in_view() -> bool:
    """Whether project files are being read from a view (a git revision), not the work tree."""
    return _VIEW.get() is not None


def read_project_bytes(path: Path) -> bytes:
    """A project file's bytes, from the working tree or the active view."""
    view = _VIEW.get()
    return path.read_bytes() if view is None else view.read_bytes(path)


def project_kind(path: Path) -> FileKind | None:
    """Whether a project path is a file, a folder, or absent (in the working tree or the view)."""
    view = _VIEW.get()
    if view is not None:
        return view.kind(path)
    if path.is_file():
        return "file"
    return "dir" if path.is_dir() else None


def project_sha256(path: Path) -> str | None:
    """The sha256 of a project file as the active view sees it; None when reading the working
    tree (whose callers hash and memoize by file status themselves)."""
    view = _VIEW.get()
    return None if view is None else view.sha256(path)

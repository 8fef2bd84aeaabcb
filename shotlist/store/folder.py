"""A folder as the team cache's object store (``file:///shared/folder``): a network share,
or the tests' stand-in for a bucket.

Each object is one file holding a JSON header line (its metadata) and then its bytes,
so an object and its metadata appear together. ``create`` hard-links a finished
temporary file to the key's name, which fails if the name exists: create-only, atomic
on one file system. ``replace`` compares and swaps under an advisory lock on the
object's folder. The etag is the file's identity (inode, size, modification time).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from shotlist import files
from shotlist.errors import SharedCacheError
from shotlist.store.backend import Blob, ObjectInfo, ObjectStore


class FolderObjects(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = f"file://{root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            with self._path(key).open("rb") as handle:
                metadata, start = _header(handle)
                stat = os.fstat(handle.fileno())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SharedCacheError(f"{self.location}: cannot read {key}: {exc}") from exc
        return ObjectInfo(stat.st_size - start, _etag(stat), metadata)

    def read(self, key: str) -> Blob | None:
        try:
            with self._path(key).open("rb") as handle:
                metadata, _ = _header(handle)
                return Blob(handle.read(), _etag(os.fstat(handle.fileno())), metadata)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SharedCacheError(f"{self.location}: cannot read {key}: {exc}") from exc

    def download(self, key: str, dest: Path) -> Mapping[str, str] | None:
        try:
            with self._path(key).open("rb") as handle, dest.open("wb") as out:
                metadata, _ = _header(handle)
                shutil.copyfileobj(handle, out, files.CHUNK)
                return metadata
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SharedCacheError(f"{self.location}: cannot read {key}: {exc}") from exc

    def create(self, key: str, data: bytes | Path, metadata: Mapping[str, str] | None = None) -> str | None:
        target = self._path(key)
        with self._staged(target, data, metadata) as tmp:
            try:
                os.link(tmp, target)
            except FileExistsError:
                return None
            files.fsync_dir(target.parent)
            return _etag(target.stat())

    def replace(self, key: str, data: bytes, *, etag: str) -> str | None:
        target = self._path(key)
        with self._locked(target.parent), self._staged(target, data, None) as tmp:
            try:
                if _etag(target.stat()) != etag:
                    return None
            except FileNotFoundError:
                return None
            os.replace(tmp, target)
            return _etag(target.stat())

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    @contextlib.contextmanager
    def _staged(self, target: Path, data: bytes | Path, metadata: Mapping[str, str] | None) -> Iterator[Path]:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise SharedCacheError(f"{self.location}: cannot write {target.name}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(dict(metadata or {}), sort_keys=True).encode() + b"\n")
                if isinstance(data, Path):
                    with data.open("rb") as source:
                        shutil.copyfileobj(source, out, files.CHUNK)
                else:
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            yield Path(name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    @contextlib.contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _header(handle: BinaryIO) -> tuple[dict[str, str], int]:
    line = handle.readline(1 << 16)
    metadata = json.loads(line)
    if not isinstance(metadata, dict):
        raise ValueError("not a shotlist cache object")
    return {str(k): str(v) for k, v in metadata.items()}, len(line)


def _etag(stat: os.stat_result) -> str:
    return f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"

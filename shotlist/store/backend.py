"""The seam of the team cache: an object store with conditional writes.

The shared clip cache (``store/shared.py``) and the claims (``store/claims.py``) need
exactly five things from the place they live, and every back-end gives them the same
way (one file per implementation: ``store/folder.py`` a folder, ``store/s3.py`` any
S3-compatible bucket)::

    info = objects.head("clips/ab/ab12….mp4")          # ObjectInfo or None
    blob = objects.read("claims/ab12….json")           # Blob (bytes, etag, metadata) or None
    meta = objects.download("clips/…", Path("x.part")) # writes the bytes, returns the metadata
    etag = objects.create(key, data, metadata)         # create-only: None if the key exists
    etag = objects.replace(key, data, etag=old)        # compare-and-swap: None if it changed
    objects.delete(key)

``create`` and ``replace`` are atomic at the store (S3: ``If-None-Match: *`` and
``If-Match``), so concurrent writers on different machines never overwrite each
other: one wins, the others learn so and read what won. Back-ends raise
``SharedCacheError`` for anything else (unreachable, denied), naming ``location``,
never a credential. ``store.shared.open_objects`` turns a cache URL into a back-end.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CACHE_URL_ENV = "SHOTLIST_CACHE_URL"


@dataclass(frozen=True)
class ObjectInfo:
    """What ``head`` knows of an object without reading it."""

    size: int
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Blob:
    """A small object read whole (a claim)."""

    data: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(abc.ABC):
    """Keys are relative, ``/``-separated; metadata keys are lower-case words, values text."""

    location: str
    """Where the objects live, for messages (``s3://bucket/prefix``); never holds a secret."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, etag and metadata, or None when it does not exist."""

    @abc.abstractmethod
    def read(self, key: str) -> Blob | None:
        """The whole object, or None when it does not exist."""

    @abc.abstractmethod
    def download(self, key: str, dest: Path) -> Mapping[str, str] | None:
        """Write the object's bytes to ``dest``; its metadata, or None when it does not exist."""

    @abc.abstractmethod
    def create(self, key: str, data: bytes | Path, metadata: Mapping[str, str] | None = None) -> str | None:
        """Create the object only if the key is free; its etag, or None when it exists already."""

    @abc.abstractmethod
    def replace(self, key: str, data: bytes, *, etag: str) -> str | None:
        """Overwrite the object only if it still has ``etag``; the new etag, or None if not."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object if present."""


def cache_url(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """The team cache's URL: ``--cache`` beats ``SHOTLIST_CACHE_URL``; None for no team cache."""
    if explicit is not None and explicit.strip():
        return explicit.strip()
    return env.get(CACHE_URL_ENV, "").strip() or None

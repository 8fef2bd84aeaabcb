"""The team cache: rendered clips shared through an object store (``SHOTLIST_CACHE_URL``).

Layout under the URL::

    clips/<hash[:2]>/<hash>.mp4     the clip, with metadata sha256, size, provider, job-id, cost-usd
    claims/<hash>.json              who is rendering a request right now (store/claims.py)

Clips are written create-only, so two machines storing the same request never
overwrite each other (the loser's bytes came from the same job anyway). Nothing read is
trusted: a clip is downloaded into the machine's own store (``.shotlist/``, the
read-through copy) and kept only if its size and sha256 match its metadata. A clip
that does not match is fetched once more (a transfer may have been cut short); if it
still does not, it is removed from the team cache and the shot is rendered again.
Never stitched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shotlist import files
from shotlist.errors import ConfigError
from shotlist.store.backend import ObjectStore
from shotlist.store.cache import CachedClip, ClipMeta, Store
from shotlist.store.claims import Claims

FETCH_ATTEMPTS = 2


def clip_key(request_hash: str) -> str:
    return f"clips/{request_hash[:2]}/{request_hash}.mp4"


@dataclass(frozen=True)
class Fetched:
    """What ``fetch`` found: the verified clip now in the local store, or why there is none
    (``discarded`` is set when a clip existed and was thrown away)."""

    clip: CachedClip | None
    discarded: str | None = None


class SharedCache:
    """The team cache in ``objects``, with the claims this process makes there."""

    def __init__(self, objects: ObjectStore, claims: Claims | None = None) -> None:
        self.objects = objects
        self.claims = claims or Claims(objects)

    @property
    def location(self) -> str:
        return self.objects.location

    def has(self, request_hash: str) -> bool:
        """Whether a complete-looking clip is there (size only, no download): for planning."""
        info = self.objects.head(clip_key(request_hash))
        return info is not None and info.metadata.get("size") == str(info.size)

    def fetch(self, request_hash: str, store: Store) -> Fetched:
        """Copy the clip into ``store``, verified. Blocking: call from a worker thread."""
        reason = None
        for _ in range(FETCH_ATTEMPTS):
            tmp = store.download_path(request_hash)
            try:
                metadata = self.objects.download(clip_key(request_hash), tmp)
                if metadata is None:
                    return Fetched(None, reason)
                reason = _mismatch(tmp, metadata)
                if reason is None:
                    meta = ClipMeta(
                        job_id=metadata.get("job-id", ""),
                        provider=metadata.get("provider", ""),
                        cost_usd=_cost(metadata.get("cost-usd", "")),
                    )
                    return Fetched(store.put(request_hash, tmp, meta, move=True))
            finally:
                tmp.unlink(missing_ok=True)
        self.objects.delete(clip_key(request_hash))
        return Fetched(None, f"team cache clip {reason}")

    def publish(self, clip: CachedClip) -> bool:
        """Offer a verified local clip to the team, create-only. False when one is there already."""
        metadata = {
            "sha256": clip.sha256,
            "size": str(clip.size),
            "provider": clip.provider,
            "job-id": clip.job_id,
            "cost-usd": "" if clip.cost_usd is None else repr(clip.cost_usd),
        }
        return self.objects.create(clip_key(clip.hash), clip.file, metadata) is not None

    def publish_if_absent(self, clip: CachedClip) -> bool:
        """``publish`` after a cheap look: the usual case (it is there) costs one HEAD."""
        return not self.has(clip.hash) and self.publish(clip)


def _mismatch(path: Path, metadata: Mapping[str, str]) -> str | None:
    expected_size, expected_sha = metadata.get("size", ""), metadata.get("sha256", "")
    if not expected_size.isdigit() or len(expected_sha) != 64:
        return "has no usable record (size and sha256)"
    size = path.stat().st_size
    if size != int(expected_size):
        return f"is truncated ({size} of {expected_size} bytes)"
    if files.sha256_file(path) != expected_sha:
        return "is corrupted (sha256 mismatch)"
    return None


def _cost(text: str) -> float | None:
    with contextlib.suppress(ValueError):
        return float(text)
    return None


def open_shared_cache(url: str | None, env: Mapping[str, str]) -> SharedCache | None:
    """The team cache at ``url`` (None: no team cache). A bad URL or a missing extra is a
    ConfigError saying what to do."""
    return None if url is None else SharedCache(open_objects(url, env))


def open_objects(url: str, env: Mapping[str, str]) -> ObjectStore:
    """The back-end a cache URL names: ``s3://bucket/prefix`` or ``file:///shared/folder``.

    A wrong URL or a missing extra is a ConfigError saying what to do; the URL is
    repeated without any user:password part it may carry."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else url
    if parts.username or parts.password:
        raise ConfigError(
            f"cache URL {shown}: credentials do not belong in the URL; "
            "use the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables"
        )
    if parts.scheme == "s3":
        if not parts.hostname:
            raise ConfigError(f"cache URL {url!r} names no bucket; expected s3://bucket/prefix")
        try:
            from shotlist.store.s3 import S3Objects
        except ImportError as exc:
            raise ConfigError(
                f"cache URL {shown} needs the s3 extra: pip install 'shotlist[s3]' ({exc.name} is missing)"
            ) from exc
        return S3Objects(parts.hostname, parts.path.strip("/"), env)
    if parts.scheme == "file":
        from shotlist.store.folder import FolderObjects

        if not parts.path:
            raise ConfigError(f"cache URL {url!r} names no folder; expected file:///path/to/folder")
        return FolderObjects(Path(parts.path))
    raise ConfigError(
        f"cache URL {shown!r} is not supported; use s3://bucket/prefix (or file:///shared/folder)"
    )

"""A batch on Ray (``--cluster ADDRESS`` or ``RAY_ADDRESS``): the one home of ``ray``.

Two kinds of task, both pure functions of their arguments, so they run on any node with
shotlist installed and share nothing but what they are given and return:

* ``render_clip``: one local previz shot. Its reference media travel with it (bytes); the
  clip comes back as bytes, and the engine on the driver stores it (and offers it to the
  team cache) like any provider's download. ``RayLocalProvider`` puts this behind the
  Provider protocol, so caching, journal and concurrency stay the engine's.
* ``stitch_row``: one row's cut. Its clips travel through Ray's object store (each clip put
  once, read by every row that uses it), or are read from the driver's cache folder when the
  node sees it (a local instance); the cut and the files beside it come back as bytes.

``ADDRESS`` is anything ``ray.init`` takes (``auto``, ``ray://head:10001``, ``host:6379``);
``local`` starts a Ray instance on this machine for the batch.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from shotlist import files
from shotlist.errors import ConfigError, CutError, ProviderError, ShotlistError
from shotlist.events import ignore
from shotlist.planner import Plan
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import LOCAL_PROVIDER
from shotlist.request import MediaRef, ShotRequest
from shotlist.store.cache import ClipMeta, Store

POLL_WAIT = 2.0
"""How long one poll waits for a task to finish: a finished clip is seen at once."""


# ---------------------------------------------------------------- the tasks (run on any node)


def render_clip(request: ShotRequest, media: Mapping[str, bytes]) -> bytes | str:
    """Render a local previz shot; its bytes, or the error's message."""
    from shotlist.providers.local.engine import render_local

    with tempfile.TemporaryDirectory(prefix="shotlist-ray-") as tmp:
        folder = Path(tmp)

        def here(ref: MediaRef) -> MediaRef:
            if ref.path is None or ref.sha256 not in media:
                return ref
            path = folder / f"{ref.sha256}{ref.path.suffix}"
            path.write_bytes(media[ref.sha256])
            return replace(ref, path=path)

        local = replace(
            request,
            images=tuple(map(here, request.images)),
            videos=tuple(map(here, request.videos)),
            audios=tuple(map(here, request.audios)),
        )
        dest = folder / "clip.mp4"
        try:
            render_local(local, dest, work_dir=folder / "work")
        except ShotlistError as exc:
            return str(exc)
        return dest.read_bytes()


def stitch_row(
    plan: Plan,
    store_root: str,
    clip_files: Mapping[str, str],
    clip_refs: Mapping[str, Any],
    music: bytes | None,
    name: str,
) -> dict[str, bytes] | str:
    """Stitch one row's cut; the files it wrote (relative to the cut's folder) as bytes, or the
    error's message."""
    import ray

    from shotlist.pipeline import stitch_plan

    with tempfile.TemporaryDirectory(prefix="shotlist-ray-") as tmp:
        folder = Path(tmp)
        shared_root = Path(store_root)
        # On the driver's machine its cache (and the normalized pieces in it) is used in place.
        store = Store(shared_root if shared_root.is_dir() else folder / "store")
        verified: dict[str, tuple[Path, str]] = {}
        for request_hash, file in clip_files.items():
            path = Path(file)
            if not path.is_file():
                staged = folder / f"{request_hash}.mp4"
                staged.write_bytes(ray.get(clip_refs[request_hash]))
                path = store.put(request_hash, staged, ClipMeta("", ""), move=True).file
            verified[request_hash] = (path, files.sha256_file(path))
        if music is not None and plan.music is not None:
            track = folder / f"music{plan.music.suffix}"
            track.write_bytes(music)
            plan = replace(plan, music=track)
        out = folder / "out" / name
        out.parent.mkdir(parents=True)
        try:
            stitch_plan(plan, store, output=out, hook=ignore, verified=verified)
        except ShotlistError as exc:
            return str(exc)
        return {str(p.relative_to(out.parent)): p.read_bytes() for p in out.parent.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- the driver's side


class RayPool:
    """A connection to Ray and the batch's tasks on it."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self._render = ray.remote(num_cpus=1)(render_clip)
        self._stitch = ray.remote(num_cpus=1)(stitch_row)
        self._clips: dict[str, Any] = {}

    @classmethod
    def connect(cls, address: str) -> RayPool:
        """Connect to Ray at ``address`` (``local``: start an instance here). ConfigError when
        the extra is missing or the cluster cannot be reached."""
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                f"--cluster needs the ray extra: pip install 'shotlist[ray]' ({exc.name} is missing)"
            ) from exc
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            try:
                if address == "local":
                    ray.init(**options)
                else:
                    ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
                raise ConfigError(f"--cluster {address}: cannot connect to Ray: {exc}") from exc
        return cls(ray)

    def local_provider(self) -> RayLocalProvider:
        return RayLocalProvider(self)

    async def stitch(
        self, plan: Plan, verified: Mapping[str, tuple[Path, str]], output: Path, store_root: Path
    ) -> None:
        """Stitch one row's cut on the cluster and write what it made beside ``output``."""
        refs = {h: await asyncio.to_thread(self._clip_ref, h, path) for h, (path, _) in verified.items()}
        music = await asyncio.to_thread(plan.music.read_bytes) if plan.music is not None else None
        made = await self._stitch.remote(
            plan, str(store_root), {h: str(p) for h, (p, _) in verified.items()}, refs, music, output.name
        )
        if isinstance(made, str):
            raise CutError(f"stitching {output.name} on the cluster failed: {made}")
        for relative, data in made.items():
            await asyncio.to_thread(files.write_bytes, output.parent / relative, data, durable=False)

    def _clip_ref(self, request_hash: str, path: Path) -> Any:
        if request_hash not in self._clips:
            self._clips[request_hash] = self.ray.put(path.read_bytes())
        return self._clips[request_hash]


class RayLocalProvider:
    """The local previz engine on Ray, behind the Provider protocol. A job lives as long as this
    session (a job id it does not know polls as expired; resubmitting is free)."""

    name = LOCAL_PROVIDER

    def __init__(self, pool: RayPool) -> None:
        self.pool = pool
        self._jobs: dict[str, asyncio.Future[bytes | str]] = {}
        self._refs: dict[str, Any] = {}

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        job_id = f"ray-{request.hash[:16]}"
        if job_id not in self._jobs:
            media = await asyncio.to_thread(_media_bytes, request)
            ref = self.pool._render.remote(request, media)
            self._refs[job_id] = ref
            self._jobs[job_id] = asyncio.wrap_future(ref.future())
        return job_id

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        job = self._jobs.get(job_id)
        if job is None:
            return JobStatus(JobState.EXPIRED)
        await asyncio.wait({job}, timeout=POLL_WAIT)
        if not job.done():
            return JobStatus(JobState.RUNNING)
        error = job.exception()
        result = None if error is not None else job.result()
        if error is not None or isinstance(result, str):
            message = str(error) if error is not None else str(result)
            failure = ProviderError(message, provider=self.name, shot_id=request.id, job_id=job_id)
            return JobStatus(JobState.FAILED, error=failure)
        return JobStatus(JobState.SUCCEEDED, progress=1.0, cost_usd=0.0)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        data = self._jobs[job_id].result()
        assert isinstance(data, bytes)
        await asyncio.to_thread(dest.write_bytes, data)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        ref = self._refs.get(job_id)
        if ref is not None:
            self.pool.ray.cancel(ref, force=True)

    async def aclose(self) -> None:
        self._jobs.clear()
        self._refs.clear()


def _media_bytes(request: ShotRequest) -> dict[str, bytes]:
    return {m.sha256: m.path.read_bytes() for m in request.media if m.path is not None}

"""Shot requests and a miniature engine shared by the fal, Ark and Replicate provider tests."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState, Provider
from shotlist.request import MediaKind, MediaRef, ShotRequest


def shot(provider: str, shot_id: str = "establishing", **changes: Any) -> ShotRequest:
    request = ShotRequest(
        id=shot_id,
        provider=provider,
        model="seedance-2.0",
        prompt=f"Aerial view of a lighthouse, shot {shot_id}",
        source_prompt=f"Aerial view of a lighthouse, shot {shot_id}",
        duration=5.0,
        seed=1234,
        width=1280,
        height=720,
        aspect_ratio="16:9",
        resolution="720p",
        fps=24,
        generate_audio=True,
        hash=hashlib.sha256(f"{provider}:{shot_id}".encode()).hexdigest(),
    )
    return replace(request, **changes)


def local_ref(folder: Path, name: str, suffix: str, kind: MediaKind = "image", size: int = 100) -> MediaRef:
    path = folder / f"{name}{suffix}"
    path.write_bytes((name.encode() * size)[:size])
    return MediaRef(name, kind, hashlib.sha256(path.read_bytes()).hexdigest(), path=path)


async def render_once(
    provider: Provider, request: ShotRequest, dest: Path
) -> tuple[str, list[ProviderError]]:
    """Submit, poll and fetch as the engine does (retrying what is retryable, no delays)."""
    seen: list[ProviderError] = []

    async def retrying(call: Any) -> Any:
        for attempt in range(8):
            try:
                return await call()
            except ProviderError as exc:
                seen.append(exc)
                transient = exc.retryable or exc.kind == "submit_unknown"
                if not transient or attempt == 7:
                    raise
        raise AssertionError("unreachable")

    job_id = await retrying(lambda: provider.submit(request, f"key-{request.hash[:8]}"))
    for _ in range(20):
        status = await retrying(lambda: provider.poll(request, job_id))
        if status.error is not None:
            raise status.error
        if status.state is JobState.SUCCEEDED:
            await retrying(functools.partial(provider.fetch, request, job_id, status, dest))
            return job_id, seen
    raise AssertionError("the job never finished")

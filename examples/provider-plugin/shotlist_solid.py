"""An example shotlist provider, registered through the ``shotlist.providers`` entry points.

It "generates" a clip of one colour chosen by the shot's seed, with a tone, at the
shot's size and duration: enough to show the whole contract (a capability record for
``plan`` and ``shotlist providers``, a session for ``render``) in one page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import Capabilities, ModelLimits, TokenStyle
from shotlist.providers.registry import ProviderEntry
from shotlist.request import ShotRequest

COLOURS = ("0x3366aa", "0xaa3344", "0x33aa66", "0xaaaa33")

FLAT = ModelLimits(
    provider="solid",
    name="flat",
    wire_id="flat",
    min_duration=1,
    max_duration=10,
    whole_seconds=False,
    aspect_ratios=None,  # any frame
    resolutions=None,
    max_images=0,
    max_videos=0,
    max_audios=0,
    max_files=0,
    audio_needs_visual=False,
    price_per_second_usd=0.0,
    price_area=None,
)

CAPABILITIES = Capabilities(
    name="solid",  # must equal the entry point's name
    models=(FLAT,),
    default_model="flat",
    api_key_env=None,  # a paid provider names its key variable here
    base_url_env=None,
    default_base_url=None,
    default_concurrency=2,
    token_style=TokenStyle.NAME,
)


class SolidProvider:
    """The session: submit, poll, fetch, cancel, aclose (shotlist.providers.base.Provider)."""

    name = "solid"

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        return f"solid-{request.hash[:16]}"

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        return JobStatus(JobState.SUCCEEDED, progress=1.0)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        colour = COLOURS[request.seed % len(COLOURS)]
        seconds = f"{request.duration:g}"
        args = [
            *("-f", "lavfi", "-i", f"color=c={colour}:s={request.width}x{request.height}:r=24:d={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
            *("-shortest", "-f", "mp4", str(dest)),
        ]
        await asyncio.to_thread(run_ffmpeg, args, step="making a solid clip")

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Nothing runs elsewhere, so nothing to stop."""

    async def aclose(self) -> None:
        """No connections to close."""


def open_solid(env: Mapping[str, str], store: Any) -> SolidProvider:
    return SolidProvider()


ENTRY = ProviderEntry(CAPABILITIES, open_solid)

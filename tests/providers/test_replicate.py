"""The Replicate provider against a real HTTP server speaking its predictions API
(tests/replicate_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from replicate_server import ReplicateServer
from route_requests import local_ref, render_once, shot

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState
from shotlist.providers.http import CallContext
from shotlist.providers.replicate import ReplicateProvider, prediction_input, prediction_status

KEY = "r8_unit0123456789abcdefghij"
CTX = CallContext("replicate", "s")


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


@pytest.fixture
async def provider(server: ReplicateServer) -> AsyncIterator[ReplicateProvider]:
    async with ReplicateProvider(KEY, server.base_url, timeout=5.0) as session:
        yield session


def test_the_input_names_references_as_the_model_does(tmp_path: Path) -> None:
    images = (local_ref(tmp_path, "a", ".png"), local_ref(tmp_path, "b", ".png"))
    sound = local_ref(tmp_path, "s", ".mp3", "audio")
    request = shot("replicate", prompt="[Image1] and [Image2] to [Audio1]", images=images, audios=(sound,))
    uris = {ref.sha256: f"https://cdn.example/{ref.name}" for ref in request.media}
    assert prediction_input(request, uris) == {
        "prompt": "[Image1] and [Image2] to [Audio1]",
        "duration": 5,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "generate_audio": True,
        "seed": 1234,
        "reference_images": ["https://cdn.example/a", "https://cdn.example/b"],
        "reference_audios": ["https://cdn.example/s"],
    }
    with pytest.raises(ProviderError, match="params may not set image"):
        prediction_input(shot("replicate", params=(("image", "https://x/first.png"),)), {})


def test_statuses_and_the_one_hour_output() -> None:
    done = {"status": "succeeded", "output": "https://x/o.mp4", "completed_at": "2026-01-01T10:00:00Z"}
    start = 1767261600.0  # 2026-01-01T10:00:00Z
    assert prediction_status(done, CTX, now=start + 60).result_url == "https://x/o.mp4"
    gone = prediction_status(done, CTX, now=start + 3700)
    assert gone.state is JobState.EXPIRED
    assert "Replicate keeps outputs for an hour" in str(gone.error)
    assert prediction_status({**done, "data_removed": True}, CTX, now=start).state is JobState.EXPIRED
    assert prediction_status({"status": "starting"}, CTX).state is JobState.QUEUED
    assert prediction_status({"status": "aborted"}, CTX).state is JobState.CANCELLED
    flagged = prediction_status({"status": "failed", "error": "flagged as sensitive (E005)"}, CTX)
    assert flagged.error is not None
    assert (flagged.error.kind, flagged.error.retryable) == ("content_policy", False)


async def test_one_prediction_with_a_deadline_and_a_clip(
    server: ReplicateServer, provider: ReplicateProvider, tmp_path: Path
) -> None:
    request = shot("replicate", images=(local_ref(tmp_path, "keeper", ".png"),), prompt="[Image1] waves")
    job_id, _ = await render_once(provider, request, tmp_path / "out.mp4")

    job = server.jobs[job_id]
    assert server.jobs_created == 1
    assert job.route == "bytedance/seedance-2.0"
    assert job.headers["cancel-after"] == "30m"
    assert job.body["input"]["reference_images"][0].startswith("data:image/png;base64,")


async def test_a_large_local_file_is_uploaded_once(
    server: ReplicateServer, provider: ReplicateProvider, tmp_path: Path
) -> None:
    big = local_ref(tmp_path, "keeper", ".png", size=300_000)
    for sid in ("a", "b"):
        await render_once(
            provider, shot("replicate", sid, images=(big,), prompt="[Image1]"), tmp_path / "o.mp4"
        )

    assert len(server.uploads) == 1
    urls = {job.body["input"]["reference_images"][0] for job in server.jobs.values()}
    assert urls == {f"{server.base_url}/files/{next(iter(server.uploads))}"}
    assert big.path is not None
    assert big.path.read_bytes() in next(iter(server.uploads.values()))


async def test_a_rate_limit_in_words_gives_the_wait(
    server: ReplicateServer, provider: ReplicateProvider
) -> None:
    server.fail_next("submit", 429, "Request was throttled. Expected available in 7 seconds.")
    with pytest.raises(ProviderError) as caught:
        await provider.submit(shot("replicate"), "k")
    assert (caught.value.kind, caught.value.retry_after) == ("rate_limited", 7.0)


async def test_a_wrong_token_is_refused_and_never_shown(server: ReplicateServer) -> None:
    async with ReplicateProvider("r8_wrong_token_55", server.base_url) as session:
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot("replicate"), "k")
    assert caught.value.kind == "auth"
    assert "r8_wrong_token_55" not in str(caught.value)

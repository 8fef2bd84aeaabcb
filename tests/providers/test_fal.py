"""The fal provider against a real HTTP server speaking fal's queue API (tests/fal_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fal_server import FalServer
from route_requests import local_ref, render_once, shot

from shotlist.errors import ConfigError, ProviderError
from shotlist.media.probe import probe
from shotlist.providers.base import JobState
from shotlist.providers.fal import FalProvider, endpoint, request_body

KEY = "fal-unit-1f2e3d4c:5b6a7980"


@pytest.fixture
def server() -> Iterator[FalServer]:
    with FalServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


@pytest.fixture
async def provider(server: FalServer) -> AsyncIterator[FalProvider]:
    async with FalProvider(KEY, server.base_url, timeout=5.0) as session:
        yield session


def test_the_endpoint_follows_the_media_and_the_model(tmp_path: Path) -> None:
    assert endpoint(shot("fal")) == "bytedance/seedance-2.0/text-to-video"
    assert endpoint(shot("fal", model="seedance-2.0-fast")) == "bytedance/seedance-2.0/fast/text-to-video"
    with_image = shot("fal", images=(local_ref(tmp_path, "a", ".png"),))
    assert endpoint(with_image) == "bytedance/seedance-2.0/reference-to-video"


def test_the_body_is_fal_s_input_with_durations_as_strings(tmp_path: Path) -> None:
    refs = (local_ref(tmp_path, "a", ".png"), local_ref(tmp_path, "b", ".jpg"))
    clip = local_ref(tmp_path, "v", ".mp4", "video")
    sound = local_ref(tmp_path, "s", ".mp3", "audio")
    request = shot(
        "fal",
        prompt="@Image1 meets @Image2 in @Video1 to @Audio1",
        images=refs,
        videos=(clip,),
        audios=(sound,),
        params=(("end_user_id", "u-1"),),
    )
    body = request_body(request, lambda ref: f"https://cdn.example/{ref.name}")
    assert endpoint(request) == "bytedance/seedance-2.0/reference-to-video"
    assert body == {
        "prompt": "@Image1 meets @Image2 in @Video1 to @Audio1",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "generate_audio": True,
        "seed": 1234,
        "image_urls": ["https://cdn.example/a", "https://cdn.example/b"],
        "video_urls": ["https://cdn.example/v"],
        "audio_urls": ["https://cdn.example/s"],
        "end_user_id": "u-1",
    }


def test_an_empty_prompt_or_a_named_field_in_params_is_refused() -> None:
    with pytest.raises(ProviderError, match="the prompt is empty; fal requires one"):
        request_body(shot("fal", prompt="  "), str)
    with pytest.raises(ProviderError, match="params may not set image_urls"):
        request_body(shot("fal", params=(("image_urls", []),)), str)


async def test_one_job_with_the_key_header_and_a_clip(
    server: FalServer, provider: FalProvider, tmp_path: Path
) -> None:
    request = shot("fal", images=(local_ref(tmp_path, "keeper", ".png"),), prompt="@Image1 waves")
    job_id, _ = await render_once(provider, request, tmp_path / "out.mp4")

    assert server.jobs_created == 1
    job = server.jobs[job_id]
    assert job.route == "bytedance/seedance-2.0/reference-to-video"
    assert job.body["image_urls"][0].startswith("data:image/png;base64,")
    assert probe(tmp_path / "out.mp4").has_video
    assert {r.auth for r in server.requests if not r.path.startswith("/files/")} == {"valid"}
    assert server.requests[0].headers.get("idempotency-key") is None


async def test_a_refusal_shown_only_by_the_result_is_a_final_failure(
    server: FalServer, provider: FalProvider, tmp_path: Path
) -> None:
    server.fail_jobs("The content was flagged by a content checker.", "content_policy_violation")
    request = shot("fal")
    job_id = await provider.submit(request, "k")
    status = await provider.poll(request, job_id)
    while status.state is not JobState.FAILED:
        assert status.state in (JobState.QUEUED, JobState.RUNNING)
        status = await provider.poll(request, job_id)

    assert status.error is not None
    assert status.error.kind == "content_policy"
    assert not status.error.retryable
    assert "flagged by a content checker" in str(status.error)


async def test_a_lost_submit_answer_is_retryable_and_unknown(
    server: FalServer, provider: FalProvider
) -> None:
    server.drop_next("submit", after=True)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(shot("fal"), "k")
    assert (caught.value.kind, caught.value.retryable) == ("submit_unknown", True)
    assert server.jobs_created == 1
    assert provider.duplicate_check.startswith("see https://fal.ai/dashboard/requests")


async def test_a_wrong_key_is_refused_and_never_shown(server: FalServer) -> None:
    async with FalProvider("fal-wrong-key-99", server.base_url) as session:
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot("fal"), "k")
    assert caught.value.kind == "auth"
    assert "fal-wrong-key-99" not in str(caught.value)
    assert str(caught.value).endswith("(check FAL_KEY)")


def test_settings_come_from_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"FAL_KEY is not set"):
        FalProvider.from_env({})
    provider = FalProvider.from_env({"FAL_KEY": KEY})
    assert provider.base_url == "https://queue.fal.run"
    assert KEY not in repr(provider)

"""The Ark provider against a real HTTP server speaking ModelArk's task API (tests/ark_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ark_server import ArkServer
from route_requests import local_ref, render_once, shot

from shotlist.errors import ProviderError
from shotlist.providers.ark import ArkProvider, request_body, task_status
from shotlist.providers.base import JobState
from shotlist.providers.http import CallContext
from shotlist.store.cache import Store
from shotlist.store.journal import new_job_record

KEY = "ark-unit-0a1b2c3d4e5f"
CTX = CallContext("ark", "s")


@pytest.fixture
def server() -> Iterator[ArkServer]:
    with ArkServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


@pytest.fixture
async def provider(server: ArkServer, tmp_path: Path) -> AsyncIterator[ArkProvider]:
    async with ArkProvider(KEY, server.base_url, store=Store(tmp_path / "store"), timeout=5.0) as session:
        yield session


def test_the_body_is_a_content_array_with_roles(tmp_path: Path) -> None:
    images = (local_ref(tmp_path, "a", ".png"), local_ref(tmp_path, "b", ".png"))
    request = shot(
        "ark",
        prompt="Image 1 walks past Image 2 to Audio 1",
        images=images,
        audios=(local_ref(tmp_path, "s", ".mp3", "audio"),),
        videos=(local_ref(tmp_path, "v", ".mp4", "video"),),
        params=(("watermark", False),),
    )
    body = request_body(request, lambda ref: f"https://cdn.example/{ref.name}")
    assert body == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [
            {"type": "text", "text": "Image 1 walks past Image 2 to Audio 1"},
            {"type": "image_url", "image_url": {"url": "https://cdn.example/a"}, "role": "reference_image"},
            {"type": "image_url", "image_url": {"url": "https://cdn.example/b"}, "role": "reference_image"},
            {"type": "video_url", "video_url": {"url": "https://cdn.example/v"}, "role": "reference_video"},
            {"type": "audio_url", "audio_url": {"url": "https://cdn.example/s"}, "role": "reference_audio"},
        ],
        "ratio": "16:9",
        "resolution": "720p",
        "duration": 5,
        "seed": 1234,
        "generate_audio": True,
        "watermark": False,
    }


def test_statuses_and_the_24_hour_result_url() -> None:
    done = {"status": "succeeded", "content": {"video_url": "https://x/v.mp4"}, "updated_at": 1000}
    assert task_status(done, CTX, now=1000 + 3600).result_url == "https://x/v.mp4"
    stale = task_status(done, CTX, now=1000 + 25 * 3600)
    assert stale.state is JobState.EXPIRED
    assert "Ark keeps results for 24 hours" in str(stale.error)
    assert task_status({"status": "running"}, CTX).state is JobState.RUNNING
    refused = task_status(
        {
            "status": "failed",
            "error": {"code": "OutputVideoSensitiveContentDetected", "message": "sensitive"},
        },
        CTX,
    )
    assert refused.error is not None
    assert (refused.error.kind, refused.error.retryable) == ("content_policy", False)
    assert task_status({"status": "expired"}, CTX).state is JobState.EXPIRED


async def test_one_task_and_a_clip(server: ArkServer, provider: ArkProvider, tmp_path: Path) -> None:
    request = shot("ark", images=(local_ref(tmp_path, "keeper", ".png"),), prompt="Image 1 waves")
    job_id, _ = await render_once(provider, request, tmp_path / "out.mp4")
    assert server.jobs_created == 1
    assert server.jobs[job_id].body["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert server.lists == []  # nothing was lost, so nothing was looked up


async def test_a_lost_answer_is_found_in_the_task_list_not_paid_twice(
    server: ArkServer, provider: ArkProvider, tmp_path: Path
) -> None:
    other = shot("ark", "other", seed=1234)  # same settings, but this session's own task
    other_id, _ = await render_once(provider, other, tmp_path / "other.mp4")
    server.drop_next("submit", after=True, times=1)
    job_id, seen = await render_once(provider, shot("ark", "lost", seed=1234), tmp_path / "out.mp4")

    assert [e.kind for e in seen] == ["submit_unknown"]
    assert server.jobs_created == 2
    assert job_id != other_id
    assert len(server.lists) == 1
    assert server.lists[0].query["filter.model"] == ["dreamina-seedance-2-0-260128"]


async def test_a_submit_the_server_never_saw_is_sent_after_an_empty_search(
    server: ArkServer, provider: ArkProvider, tmp_path: Path
) -> None:
    server.drop_next("submit", after=False)
    await render_once(provider, shot("ark"), tmp_path / "out.mp4")
    assert server.jobs_created == 1
    assert len(server.submits) == 2
    assert len(server.lists) == 1


async def test_a_record_left_by_a_killed_render_is_reconciled_before_submitting(
    server: ArkServer, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    request = shot("ark")
    record = new_job_record(request)
    store.journal_put(record)  # a render died between writing this and hearing the answer
    async with ArkProvider(KEY, server.base_url, store=store) as first:
        server.drop_next("submit", after=True)
        with pytest.raises(ProviderError):
            await first.submit(request, record.idempotency_key)
    async with ArkProvider(KEY, server.base_url, store=store) as second:
        job_id = await second.submit(request, record.idempotency_key)

    assert server.jobs_created == 1
    assert job_id in server.jobs


async def test_two_matching_tasks_are_named_rather_than_guessed(server: ArkServer, tmp_path: Path) -> None:
    async with ArkProvider(KEY, server.base_url) as elsewhere:
        # Two tasks with the same settings from another session (another machine, say).
        await elsewhere.submit(shot("ark", "a"), "ka")
        await elsewhere.submit(shot("ark", "b"), "kb")
    async with ArkProvider(KEY, server.base_url) as session:
        server.drop_next("submit", after=True)
        with pytest.raises(ProviderError):
            await session.submit(shot("ark", "c"), "kc")
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot("ark", "c"), "kc")

    assert caught.value.kind == "ambiguous"
    assert not caught.value.retryable
    assert "Ark lists 3 tasks that could be this shot's" in str(caught.value)
    assert server.jobs_created == 3


async def test_a_wrong_key_is_refused_and_never_shown(server: ArkServer) -> None:
    async with ArkProvider("ark-wrong-key-77", server.base_url) as session:
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot("ark"), "k")
    assert caught.value.kind == "auth"
    assert "ark-wrong-key-77" not in str(caught.value)

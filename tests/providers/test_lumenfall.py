"""The lumenfall provider against a real HTTP server speaking the gateway's protocol.

Most tests drive the provider the way the engine does (``render_once``
below: submit -> poll -> fetch, retrying what is retryable, resubmitting with
the same idempotency key, polling again after a failed download) and assert
what a user would notice: one paid job per shot, the right body, a clip on
disk, one clear error line, and the API key nowhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from lumenfall_server import LumenfallServer

from shotlist.errors import ConfigError, ProviderError
from shotlist.media.probe import probe
from shotlist.providers import lumenfall
from shotlist.providers.base import JobState, JobStatus, Provider
from shotlist.providers.http import CallContext, parse_retry_after
from shotlist.providers.lumenfall import LumenfallProvider, request_body
from shotlist.request import MediaRef, ShotRequest

KEY = "sk-lf-test-7c1e9a0b2d4f"
T = TypeVar("T")


# -- fixtures and an engine in miniature ------------------------------------------


@pytest.fixture
def server() -> Iterator[LumenfallServer]:
    with LumenfallServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


@pytest.fixture
async def provider(server: LumenfallServer) -> AsyncIterator[LumenfallProvider]:
    async with LumenfallProvider(KEY, server.base_url, timeout=5.0) as session:
        yield session


def shot(shot_id: str = "establishing", **changes: Any) -> ShotRequest:
    request = ShotRequest(
        id=shot_id,
        provider="lumenfall",
        model="seedance-2.0",
        prompt=f"Aerial view of a lighthouse, shot {shot_id}",
        source_prompt=f"Aerial view of a lighthouse, shot {shot_id}",
        duration=5.0,
        seed=1234,
        width=1365,
        height=768,
        aspect_ratio="16:9",
        resolution="1K",
        fps=24,
        generate_audio=True,
        hash=hashlib.sha256(shot_id.encode()).hexdigest(),
    )
    return replace(request, **changes)


def local_ref(tmp_path: Path, name: str, suffix: str, kind: Any = "image") -> MediaRef:
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(f"{name} bytes".encode() * 10)
    return MediaRef(name, kind, hashlib.sha256(path.read_bytes()).hexdigest(), path=path)


async def retrying(call: Callable[[], Awaitable[T]], seen: list[ProviderError]) -> T:
    """The engine's bounded retry, with the delays shrunk to nothing."""
    for attempt in range(8):
        try:
            return await call()
        except ProviderError as exc:
            seen.append(exc)
            if not exc.retryable or attempt == 7:
                raise
            await asyncio.sleep(min(exc.retry_after or 0.0, 0.01))
    raise AssertionError("unreachable")


async def render_once(provider: Provider, request: ShotRequest, dest: Path, seen: list[ProviderError]) -> str:
    """Submit, poll, fetch as the engine does; the job id. A failed job raises its error."""
    job_id = await retrying(lambda: provider.submit(request, request.hash), seen)
    for _ in range(20):
        status = await retrying(lambda: provider.poll(request, job_id), seen)
        if status.state is JobState.FAILED and status.error is not None:
            seen.append(status.error)
            raise status.error
        if status.state is not JobState.SUCCEEDED:
            continue
        try:
            await provider.fetch(request, job_id, status, dest)
            return job_id
        except ProviderError as exc:
            seen.append(exc)
            if not exc.retryable:
                raise
    raise AssertionError("the job never finished")


def assert_key_absent(*things: object) -> None:
    """Neither ``str`` nor ``repr`` of anything (or any exception's cause) shows the key."""
    for thing in things:
        chain: object = thing
        while chain is not None:
            assert KEY not in str(chain), chain
            assert KEY not in repr(chain), chain
            chain = getattr(chain, "__cause__", None)


def assert_mp4(path: Path) -> None:
    assert path.read_bytes()[4:8] == b"ftyp"
    info = probe(path)
    assert info.has_video
    assert info.duration == pytest.approx(1.0, abs=0.2)


# -- the happy path: body, references, one job ---------------------------------------


async def test_one_job_per_shot_with_the_expected_body(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    keeper = local_ref(tmp_path, "keeper", ".png")
    tower = local_ref(tmp_path, "tower", ".jpg")
    remote = MediaRef("sea", "image", "ab" * 32, url="https://example.com/sea.webp")
    shots = [
        shot("establishing"),
        shot(
            "look-left",
            prompt="@Image1 looks at @Image2 and @Image3",
            images=(keeper, tower, remote),
            params=(("watermark", False), ("camera_fixed", True)),
            seed=7,
        ),
    ]
    seen: list[ProviderError] = []
    await asyncio.gather(*(render_once(provider, s, tmp_path / f"{s.id}.mp4", seen) for s in shots))

    assert server.jobs_created == 2
    assert seen == []
    bodies = {r.body["prompt"]: r for r in server.submits}
    plain = bodies[shots[0].prompt]
    assert plain.body == {
        "model": "seedance-2.0",
        "prompt": "Aerial view of a lighthouse, shot establishing",
        "seed": 1234,
        "duration": 5,
        "aspect_ratio": "16:9",
        "resolution": "1K",
        "generate_audio": True,
        "n": 1,
    }
    assert plain.headers["idempotency-key"] == shots[0].hash
    refs = bodies["@Image1 looks at @Image2 and @Image3"].body
    assert refs["input_reference"] == [
        "data:image/png;base64," + base64.b64encode(keeper.path.read_bytes()).decode(),  # type: ignore[union-attr]
        "data:image/jpeg;base64," + base64.b64encode(tower.path.read_bytes()).decode(),  # type: ignore[union-attr]
        "https://example.com/sea.webp",
    ]
    assert (refs["watermark"], refs["camera_fixed"], refs["seed"]) == (False, True, 7)
    for s in shots:
        assert_mp4(tmp_path / f"{s.id}.mp4")


async def test_the_key_goes_to_the_api_and_never_to_the_download_host(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    await render_once(provider, shot(), tmp_path / "clip.mp4", [])

    assert {r.auth for r in server.requests_to("POST", "/v1/")} == {"valid"}
    assert {r.auth for r in server.requests_to("GET", "/v1/")} == {"valid"}
    assert [r.headers["host"].split(":")[0] for r in server.downloads] == ["localhost"]
    assert [r.auth for r in server.downloads] == ["none"]


async def test_a_download_url_on_the_api_origin_gets_the_key(tmp_path: Path) -> None:
    with LumenfallServer(api_key=KEY, polls_to_complete=1, download_host="127.0.0.1") as srv:
        async with LumenfallProvider(KEY, srv.base_url) as session:
            await render_once(session, shot(), tmp_path / "clip.mp4", [])
        assert [r.auth for r in srv.downloads] == ["valid"]


# -- faults: every one of them still makes exactly one job per shot ------------------


async def test_rate_limits_are_retried_honouring_retry_after(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.fail_next("submit", 429, "RATE_LIMITED", "slow down", retry_after="3", times=2)

    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert server.jobs_created == 1
    assert [(e.kind, e.retryable, e.retry_after) for e in seen] == [("rate_limited", True, 3.0)] * 2
    assert str(seen[0]) == (
        "shot 'establishing', provider lumenfall: submit failed: HTTP 429 RATE_LIMITED - slow down"
    )


async def test_server_errors_are_retried(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.fail_next("submit", 500, "UPSTREAM_ERROR", "upstream hiccup")
    server.fail_next("submit", 502, "ALL_PROVIDERS_EXHAUSTED", "every provider is busy")
    server.fail_next("poll", 503, "UPSTREAM_ERROR", retry_after="0")
    server.fail_next("poll", 502, non_json=True)

    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert server.jobs_created == 1
    assert [e.kind for e in seen] == ["upstream"] * 4
    assert all(e.retryable for e in seen)
    assert "HTTP 502 - <html><body>502 Bad Gateway</body></html>" in str(seen[-1])
    assert_mp4(tmp_path / "clip.mp4")


async def test_a_lost_submit_answer_is_resubmitted_with_the_same_key(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.drop_next("submit", after=True)

    seen: list[ProviderError] = []
    job_id = await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert [e.kind for e in seen] == ["submit_unknown"]
    assert server.jobs_created == 1
    assert list(server.jobs) == [job_id]
    keys = [r.headers["idempotency-key"] for r in server.submits]
    assert keys == [shot().hash, shot().hash]


async def test_a_slow_submit_answer_is_resubmitted_without_a_second_job(
    server: LumenfallServer, tmp_path: Path
) -> None:
    server.slow_next("submit", 0.8)
    timeout = httpx.Timeout(5.0, read=0.3)

    seen: list[ProviderError] = []
    async with LumenfallProvider(KEY, server.base_url, timeout=timeout) as session:
        await render_once(session, shot(), tmp_path / "clip.mp4", seen)

    assert [e.kind for e in seen] == ["submit_unknown"]
    assert "the job may exist" in str(seen[0])
    assert server.jobs_created == 1
    assert len(server.submits) == 2


async def test_a_connection_dropped_before_the_job_exists_creates_it_once(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.drop_next("submit", after=False)
    server.drop_next("poll")

    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert [e.kind for e in seen] == ["submit_unknown", "network"]
    assert server.jobs_created == 1


async def test_a_truncated_download_is_fetched_again_from_a_fresh_poll(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.truncate_next_download()

    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert [(e.kind, e.retryable) for e in seen] == [("download", True)]
    assert server.jobs_created == 1
    assert len(server.submits) == 1
    urls = [r.path for r in server.downloads]
    assert len(urls) == 2
    assert urls[0] != urls[1], "the second download must use the fresh URL"
    assert_mp4(tmp_path / "clip.mp4")


@pytest.mark.parametrize("status", [403, 410])
async def test_an_expired_download_url_is_refreshed_not_resubmitted(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path, status: int
) -> None:
    server.expire_next_download(status)

    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert [(e.kind, e.retryable) for e in seen] == [("expired", True)]
    assert f"HTTP {status}" in str(seen[0])
    assert server.jobs_created == 1
    assert len(server.submits) == 1
    assert len(server.requests_to("GET", "/v1/videos/")) == 3
    assert_mp4(tmp_path / "clip.mp4")


@pytest.mark.e2e
async def test_twelve_shots_under_every_fault_make_twelve_jobs(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    image = local_ref(tmp_path, "keeper", ".png")
    shots = [shot(f"s{i:02d}", seed=i, images=(image,) if i % 3 == 0 else ()) for i in range(12)]
    server.fail_next("submit", 429, "RATE_LIMITED", retry_after="0", times=3)
    server.fail_next("submit", 502, "ALL_PROVIDERS_EXHAUSTED", times=2)
    server.drop_next("submit", after=True, times=2)
    server.fail_next("poll", 500, "UPSTREAM_ERROR", times=2)
    server.truncate_next_download(times=2)
    server.expire_next_download(times=2)

    seen: list[ProviderError] = []
    await asyncio.gather(*(render_once(provider, s, tmp_path / f"{s.id}.mp4", seen) for s in shots))

    assert server.jobs_created == 12
    assert len(seen) == 13
    assert sorted({r.headers["idempotency-key"] for r in server.submits}) == sorted(s.hash for s in shots)
    with_refs = [r for r in server.submits if "input_reference" in r.body]
    assert {r.body["prompt"] for r in with_refs} == {s.prompt for s in shots if s.images}
    for s in shots:
        assert_mp4(tmp_path / f"{s.id}.mp4")
    assert_key_absent(*seen)


async def test_a_rerun_after_a_kill_finds_the_same_job(server: LumenfallServer, tmp_path: Path) -> None:
    request = shot()
    async with LumenfallProvider(KEY, server.base_url) as first:
        first_id = await first.submit(request, request.hash)
    # The process died before journalling the id; the rerun submits again.
    async with LumenfallProvider(KEY, server.base_url) as second:
        job_id = await render_once(second, request, tmp_path / "clip.mp4", [])

    assert job_id == first_id
    assert server.jobs_created == 1


async def test_a_job_the_gateway_does_not_know_is_missing_not_expired(
    server: LumenfallServer, provider: LumenfallProvider
) -> None:
    status = await provider.poll(shot(), "vid_forgotten")

    # A 404 is also what a lagging replica says: the engine, not the provider, decides expiry.
    assert status.state is JobState.MISSING
    assert status.error is not None
    assert "HTTP 404 NOT_FOUND - no video vid_forgotten" in str(status.error)


# -- refusals: one clear line naming the shot -----------------------------------------


async def test_a_failed_job_is_one_clear_line_naming_the_shot(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    server.fail_jobs("Content policy violation: the prompt was flagged")

    seen: list[ProviderError] = []
    with pytest.raises(ProviderError) as caught:
        await render_once(provider, shot("climb"), tmp_path / "clip.mp4", seen)

    job_id = next(iter(server.jobs))
    assert str(caught.value) == (
        f"shot 'climb', provider lumenfall, job {job_id}: the job failed: "
        "Content policy violation: the prompt was flagged (CONTENT_POLICY)"
    )
    assert (caught.value.kind, caught.value.retryable) == ("failed", False)
    assert server.jobs_created == 1
    assert not (tmp_path / "clip.mp4").exists()


async def test_a_wrong_key_is_refused_without_retry_and_without_showing_it(
    server: LumenfallServer, tmp_path: Path
) -> None:
    seen: list[ProviderError] = []
    async with LumenfallProvider("sk-wrong-" + KEY, server.base_url) as session:
        with pytest.raises(ProviderError) as caught:
            await render_once(session, shot(), tmp_path / "clip.mp4", seen)

    assert str(caught.value) == (
        "shot 'establishing', provider lumenfall: submit failed: "
        "HTTP 401 AUTHENTICATION_FAILED - Invalid API key provided: *** (check LUMENFALL_API_KEY)"
    )
    assert (caught.value.kind, caught.value.retryable) == ("auth", False)
    assert len(seen) == 1
    assert server.jobs_created == 0
    assert_key_absent(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (402, "INSUFFICIENT_BALANCE", "balance"),
        (400, "INVALID_REQUEST", "invalid"),
        (404, "MODEL_NOT_FOUND", "model"),
        (404, "MODEL_DISABLED", "model"),
    ],
)
async def test_refusals_are_not_retried(
    server: LumenfallServer,
    provider: LumenfallProvider,
    tmp_path: Path,
    status: int,
    code: str,
    kind: str,
) -> None:
    server.fail_next("submit", status, code, "refused")

    seen: list[ProviderError] = []
    with pytest.raises(ProviderError) as caught:
        await render_once(provider, shot(), tmp_path / "clip.mp4", seen)

    assert (caught.value.kind, caught.value.retryable) == (kind, False)
    assert str(caught.value).endswith(f"submit failed: HTTP {status} {code} - refused")
    assert len(server.submits) == 1


async def test_the_key_appears_in_no_log_error_or_repr(
    server: LumenfallServer,
    provider: LumenfallProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for fault in ("submit", "poll"):
        server.fail_next(fault, 500, "UPSTREAM_ERROR", f"echo Bearer {KEY}")
    server.drop_next("submit")
    server.truncate_next_download()
    seen: list[ProviderError] = []
    await render_once(provider, shot(), tmp_path / "clip.mp4", seen)
    forgotten = await provider.poll(shot(), "vid_missing")

    assert len(seen) == 4
    assert "echo Bearer ***" in str(seen[0])
    context = CallContext("lumenfall", "s", "", (KEY,))
    assert_key_absent(*seen, forgotten, forgotten.error, provider, context)
    assert caplog.records, "httpx logs at DEBUG; the test must see them"
    assert KEY not in caplog.text


# -- local files ---------------------------------------------------------------------


async def test_a_local_file_over_the_limit_is_refused_naming_it(
    server: LumenfallServer,
    provider: LumenfallProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(lumenfall.DATA_URI_LIMITS, "image", 50)
    big = local_ref(tmp_path, "keeper", ".png")

    with pytest.raises(ProviderError) as caught:
        await provider.submit(shot(images=(big,)), "key")

    assert str(caught.value) == (
        f"shot 'establishing', provider lumenfall: image reference 'keeper' ({big.path}) is "
        "0.0 MB; lumenfall takes local files of this kind up to 0 MB as data URIs"
        " — make it smaller or give an https URL"
    )
    assert not caught.value.retryable
    assert server.submits == []


async def test_a_missing_local_file_is_refused_naming_it(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path
) -> None:
    gone = MediaRef("theme", "audio", "00" * 32, path=tmp_path / "theme.mp3")

    with pytest.raises(ProviderError, match=r"audio reference 'theme' \(.*theme.mp3\) cannot be"):
        await provider.submit(shot(audios=(gone,)), "key")
    assert server.submits == []


# -- the body, as pure data -------------------------------------------------------------


def _uri(ref: MediaRef) -> str:
    return ref.url or f"data:{ref.name}"


def _refs(kind: Any, *names: str) -> tuple[MediaRef, ...]:
    return tuple(MediaRef(n, kind, "00", url=f"https://cdn.example/{n}") for n in names)


def test_video_and_audio_references_keep_their_order() -> None:
    one = request_body(shot(videos=_refs("video", "waves"), audios=_refs("audio", "a", "b")), _uri)
    many = request_body(shot(videos=_refs("video", "v1", "v2")), _uri)

    assert one["video_url"] == "https://cdn.example/waves"
    assert one["audio_urls"] == ["https://cdn.example/a", "https://cdn.example/b"]
    assert many["video_urls"] == ["https://cdn.example/v1", "https://cdn.example/v2"]
    assert "video_url" not in many
    assert "input_reference" not in one


def test_size_is_sent_when_the_plan_gives_no_aspect_ratio() -> None:
    body = request_body(shot(aspect_ratio="", resolution="", width=1024, height=1024), _uri)

    assert body["size"] == "1024x1024"
    assert "aspect_ratio" not in body
    assert "resolution" not in body


def test_fractional_durations_stay_fractional() -> None:
    assert request_body(shot(duration=4.5), _uri)["duration"] == 4.5


def test_params_may_not_replace_named_fields() -> None:
    with pytest.raises(ProviderError, match="params may not set model, seed: the storyboard"):
        request_body(shot(params=(("seed", 1), ("model", "x"), ("style", "noir"))), _uri)


def test_more_than_nine_images_are_refused() -> None:
    images = _refs("image", *(f"i{n}" for n in range(10)))
    with pytest.raises(ProviderError, match="10 images given; lumenfall takes at most 9"):
        request_body(shot(images=images), _uri)


# -- translation details, through a mock transport ----------------------------------------


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> LumenfallProvider:
    return LumenfallProvider(KEY, "https://api.test/v1", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("payload", "state", "progress", "cost"),
    [
        ({"status": "queued"}, JobState.QUEUED, None, None),
        ({"status": "in_progress", "progress": 42}, JobState.RUNNING, 0.42, None),
        ({"status": "in_progress", "progress": 0.25}, JobState.RUNNING, 0.25, None),
        ({"status": "warming_up"}, JobState.RUNNING, None, None),
        (
            {
                "status": "completed",
                "output": {"url": "https://cdn/x.mp4"},
                "metadata": {"cost": 0.9},
            },
            JobState.SUCCEEDED,
            1.0,
            0.9,
        ),
    ],
)
async def test_poll_answers_map_to_job_states(
    payload: dict[str, Any], state: JobState, progress: float | None, cost: float | None
) -> None:
    async with _mock(lambda _: httpx.Response(200, json={"id": "v1", **payload})) as session:
        status = await session.poll(shot(), "v1")

    assert (status.state, status.progress, status.cost_usd) == (state, progress, cost)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "submit_unknown"),
        (httpx.Response(202, json={"status": "queued"}), "submit_unknown"),
        (
            httpx.Response(400, json={"error": {"message": "busy", "code": "UPSTREAM_ERROR"}}),
            "upstream",
        ),
        (httpx.Response(409, json={"error": {"message": "in flight"}}), "conflict"),
    ],
)
async def test_uncertain_submit_answers_are_retryable(response: httpx.Response, kind: str) -> None:
    async with _mock(lambda _: response) as session:
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot(), "key")

    assert (caught.value.kind, caught.value.retryable) == (kind, True)


async def test_a_refused_connection_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with _mock(refuse) as session:
        with pytest.raises(ProviderError) as caught:
            await session.submit(shot(), "key")

    assert (caught.value.kind, caught.value.retryable) == ("connect", True)


async def test_a_download_that_is_not_an_mp4_is_discarded(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    html = httpx.Response(200, text="<html>sign in to continue</html>" * 4)
    status = JobStatus(JobState.SUCCEEDED, result_url="https://cdn.test/x.mp4")

    async with _mock(lambda _: html) as session:
        with pytest.raises(ProviderError, match="not an MP4") as caught:
            await session.fetch(shot(), "v1", status, dest)

    assert (caught.value.kind, caught.value.retryable) == ("download", True)
    assert not dest.exists()


async def test_a_relative_result_url_is_fetched_from_the_api_origin_with_the_key(
    tmp_path: Path,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)

    status = JobStatus(JobState.SUCCEEDED, result_url="/v1/videos/v1/content")
    async with _mock(answer) as session:
        await session.fetch(shot(), "v1", status, tmp_path / "clip.mp4")

    assert [str(r.url) for r in seen] == ["https://api.test/v1/videos/v1/content"]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert (tmp_path / "clip.mp4").stat().st_size == 76


async def test_cancel_sends_nothing_so_a_rerun_can_resume() -> None:
    sent: list[httpx.Request] = []

    async with _mock(lambda r: sent.append(r) or httpx.Response(200)) as session:  # type: ignore[func-returns-value]
        await session.cancel(shot(), "v1")

    assert sent == []


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(later, now=now.timestamp()) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- settings --------------------------------------------------------------------------


def test_a_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LUMENFALL_API_KEY is not set"):
        LumenfallProvider.from_env({"LUMENFALL_BASE_URL": "https://x.test/v1"})


def test_settings_come_from_the_environment() -> None:
    default = LumenfallProvider.from_env({"LUMENFALL_API_KEY": KEY})
    custom = LumenfallProvider.from_env(
        {"LUMENFALL_API_KEY": KEY, "LUMENFALL_BASE_URL": "http://127.0.0.1:9/v1/"}
    )

    assert default.base_url == "https://api.lumenfall.ai/v1"
    assert custom.base_url == "http://127.0.0.1:9/v1"
    assert repr(custom) == "LumenfallProvider(base_url='http://127.0.0.1:9/v1')"
    assert isinstance(custom, Provider)


# -- through the engine: journal, cache, kill and rerun ---------------------------------

HERE = Path(__file__).resolve().parent

RERUN_SCRIPT = """
import asyncio, dataclasses, os, sys
sys.path[:0] = [sys.argv[1], os.path.dirname(sys.argv[1])]
from shotlist.engine import Timing, render_shots
from shotlist.providers.lumenfall import LumenfallProvider
from shotlist.store.cache import Store
from test_lumenfall import engine_shots

timing = dataclasses.replace(Timing.instant(), poll_initial=0.02, poll_cap=0.05)
asyncio.run(render_shots(
    engine_shots(int(sys.argv[3])),
    store=Store(__import__("pathlib").Path(sys.argv[2])),
    providers=lambda name: LumenfallProvider.from_env(os.environ),
    timing=timing,
))
"""


def engine_shots(count: int) -> list[ShotRequest]:
    return [shot(f"shot-{n:02d}", seed=n) for n in range(count)]


@pytest.fixture
def engine() -> Any:
    return pytest.importorskip("shotlist.engine")


def _quick_timing(engine: Any) -> Any:
    return replace(engine.Timing.instant(), poll_initial=0.02, poll_cap=0.05)


async def wait_until(condition: Callable[[], bool], within: float = 20.0) -> None:
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def assert_key_on_no_disk(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.e2e
async def test_the_engine_renders_twelve_shots_under_faults_with_twelve_jobs(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store

    image = local_ref(tmp_path, "keeper", ".png")
    shots = [shot(f"s{i:02d}", seed=i, images=(image,) if i % 4 == 0 else ()) for i in range(12)]
    server.fail_next("submit", 429, "RATE_LIMITED", retry_after="0", times=2)
    server.fail_next("submit", 500, "UPSTREAM_ERROR", times=2)
    server.drop_next("submit", after=True, times=2)
    server.fail_next("poll", 502, "ALL_PROVIDERS_EXHAUSTED", times=2)
    server.truncate_next_download(times=2)
    server.expire_next_download(times=2)
    events: list[object] = []

    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            shots,
            store=Store(tmp_path / ".shotlist"),
            providers={"lumenfall": session},
            hook=events.append,
            timing=engine.Timing.instant(),
        )

    assert report.failures == ()
    assert server.jobs_created == 12
    assert [s.id for s in report.shots] == [s.id for s in shots]
    assert {s.cost_usd for s in report.shots} == {0.181}
    for rendered in report.shots:
        assert_mp4(rendered.file)
    assert_key_absent(*events)
    assert_key_on_no_disk(tmp_path)


async def test_a_cancelled_render_run_again_creates_no_new_jobs(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store

    shots, store = engine_shots(6), Store(tmp_path / ".shotlist")
    server.polls_to_complete = 10_000
    async with LumenfallProvider(KEY, server.base_url) as session:
        first = asyncio.create_task(
            engine.render_shots(
                shots, store=store, providers={"lumenfall": session}, timing=_quick_timing(engine)
            )
        )
        await wait_until(lambda: server.jobs_created >= 4)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        submitted_before = server.jobs_created

        server.polls_to_complete = 1
        report = await engine.render_shots(
            shots, store=store, providers={"lumenfall": session}, timing=_quick_timing(engine)
        )

    assert report.failures == ()
    assert submitted_before >= 4
    assert server.jobs_created == 6
    assert len(server.submits) <= 6 + submitted_before


@pytest.mark.e2e
async def test_a_render_killed_by_sigkill_run_again_creates_no_new_jobs(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store

    store_dir = tmp_path / ".shotlist"
    env = {**os.environ, "LUMENFALL_API_KEY": KEY, "LUMENFALL_BASE_URL": server.base_url}
    server.polls_to_complete = 10_000
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RERUN_SCRIPT,
        str(HERE),
        str(store_dir),
        "6",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # Jobs submitted, journalled and being polled: the worst moment to die.
    await wait_until(lambda: len(server.requests_to("GET", "/v1/videos/")) >= 8)
    child.kill()
    out, err = await child.communicate()
    killed_with = server.jobs_created

    server.polls_to_complete = 1
    async with LumenfallProvider.from_env(env) as session:
        report = await engine.render_shots(
            engine_shots(6),
            store=Store(store_dir),
            providers={"lumenfall": session},
            timing=_quick_timing(engine),
        )

    assert child.returncode == -signal.SIGKILL
    assert killed_with >= 4
    assert report.failures == ()
    assert server.jobs_created == 6
    assert KEY.encode() not in out + err
    assert_key_on_no_disk(tmp_path)


# -- money: a 404 poll is not an expiry, a download is checked as media ------------------


@pytest.mark.parametrize("html", [False, True], ids=["json-404", "proxy-html-404"])
async def test_jobs_the_gateway_does_not_know_yet_are_polled_not_paid_again(
    server: LumenfallServer, tmp_path: Path, engine: Any, html: bool
) -> None:
    from shotlist.events import Notice
    from shotlist.store.cache import Store

    server.unknown_first_polls, server.unknown_as_html = 3, html
    events: list[object] = []
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            engine_shots(2),
            store=Store(tmp_path / ".shotlist"),
            providers={"lumenfall": session},
            hook=events.append,
            timing=engine.Timing.instant(),
        )

    assert report.failures == ()
    assert server.jobs_created == 2
    assert len(server.submits) == 2
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert len(notices) == 2
    assert all("does not know job vid_" in n and "nothing is submitted again" in n for n in notices)


async def test_a_job_unknown_past_its_stated_expiry_is_submitted_afresh(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store
    from shotlist.store.journal import mark_submitted, new_job_record

    store = Store(tmp_path / ".shotlist")
    request = engine_shots(1)[0]
    # A job journalled by an earlier render, whose expiry (as the gateway stated it) has passed.
    old = mark_submitted(new_job_record(request), "vid_long_gone")
    store.journal_put(replace(old, expires_at=1_000.0))
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            [request], store=store, providers={"lumenfall": session}, timing=engine.Timing.instant()
        )

    assert report.failures == ()
    assert server.jobs_created == 1
    assert server.submits[0].headers["idempotency-key"].endswith("-1")  # a new generation's key


async def test_a_young_job_unknown_until_the_deadline_times_out_and_stays_journalled(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store

    server.unknown_first_polls = 1_000_000
    store = Store(tmp_path / ".shotlist")
    timing = replace(engine.Timing.instant(), job_deadline=0.3, poll_initial=0.02, poll_cap=0.02)
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            engine_shots(1), store=store, providers={"lumenfall": session}, timing=timing
        )

    [failure] = report.failures
    assert failure.kind == "timeout"
    assert "does not know it" in failure.message
    assert server.jobs_created == 1
    [record] = store.journal_records()
    assert record.state == "submitted"


@pytest.mark.parametrize("fault", ["truncated-without-length", "header-then-garbage"])
async def test_a_broken_download_is_fetched_again_never_cached_never_paid_twice(
    server: LumenfallServer, tmp_path: Path, engine: Any, fault: str
) -> None:
    from shotlist.media.probe import clip_problem
    from shotlist.store.cache import Store

    if fault == "truncated-without-length":
        server.truncate_next_download(times=3, length=False)
    else:
        server.garble_next_download(times=3)
    store = Store(tmp_path / ".shotlist")
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            engine_shots(3), store=store, providers={"lumenfall": session}, timing=engine.Timing.instant()
        )

    assert report.failures == ()
    assert server.jobs_created == 3
    assert len(server.downloads) == 6  # each broken download fetched once more
    clips = sorted((tmp_path / ".shotlist" / "clips").rglob("*.mp4"))
    assert len(clips) == 3
    assert [clip_problem(clip) for clip in clips] == [None, None, None]


async def test_a_download_broken_every_time_fails_the_shot_and_keeps_the_job(
    server: LumenfallServer, tmp_path: Path, engine: Any
) -> None:
    from shotlist.store.cache import Store

    server.garble_next_download(times=100)
    store = Store(tmp_path / ".shotlist")
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            engine_shots(1), store=store, providers={"lumenfall": session}, timing=engine.Timing.instant()
        )

    [failure] = report.failures
    assert failure.kind == "download"
    assert "the downloaded clip is broken" in failure.message
    assert server.jobs_created == 1
    assert not list((tmp_path / ".shotlist" / "clips").rglob("*.mp4"))
    [record] = store.journal_records()
    assert record.state == "submitted"  # the next render fetches it again, unpaid


@pytest.mark.parametrize("per_second", [float("nan"), float("inf"), -0.2, 1e9])
async def test_an_unbelievable_reported_cost_is_recorded_as_unknown(
    server: LumenfallServer, tmp_path: Path, engine: Any, per_second: float
) -> None:
    import json

    from shotlist.store.cache import Store

    server.cost_per_second = per_second
    async with LumenfallProvider(KEY, server.base_url) as session:
        report = await engine.render_shots(
            engine_shots(1),
            store=Store(tmp_path / ".shotlist"),
            providers={"lumenfall": session},
            timing=engine.Timing.instant(),
        )

    [rendered] = report.shots
    assert rendered.cost_usd is None
    sidecar = next((tmp_path / ".shotlist" / "clips").rglob("*.json")).read_text()
    assert json.loads(sidecar)["cost_usd"] is None  # strict JSON: no NaN anywhere


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:{port}/loop", "the result URL redirects in a loop"),
        ("ftp://example.com/clip.mp4", "the result URL is not a usable http(s) URL"),
        ("http://[::1", "the result URL is not a usable URL"),
    ],
    ids=["redirect-loop", "ftp", "malformed"],
)
async def test_a_result_url_that_cannot_work_is_one_retryable_download_error(
    server: LumenfallServer, provider: LumenfallProvider, tmp_path: Path, url: str, message: str
) -> None:
    status = JobStatus(JobState.SUCCEEDED, result_url=url.format(port=server.port))
    with pytest.raises(ProviderError) as info:
        await provider.fetch(shot(), "vid_1", status, tmp_path / "clip.mp4")
    assert (info.value.kind, info.value.retryable) == ("download", True)
    assert message in str(info.value)
    assert not (tmp_path / "clip.mp4").exists()

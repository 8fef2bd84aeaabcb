"""The render engine: exactly-once submission, retries, polling, resuming, the cache."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from provider_double import ProviderDouble, Script, make_request, make_tiny_clip
from render_helpers import part_way, signal_when

from shotlist.engine import (
    Latency,
    PollSchedule,
    RenderReport,
    Timing,
    default_concurrency,
    next_poll_delay,
    poll_interval,
    render_shots,
    resolve_concurrency,
)
from shotlist.errors import ConfigError, FrozenError, ProviderError
from shotlist.events import (
    Event,
    Notice,
    ShotCached,
    ShotDownloaded,
    ShotFailed,
    ShotProgress,
    ShotQueued,
    ShotRetrying,
    ShotSubmitted,
)
from shotlist.files import sha256_file as file_sha256
from shotlist.providers import capabilities as caps
from shotlist.providers.base import JobState
from shotlist.request import ShotRequest
from shotlist.store.cache import CachedClip, ClipMeta, Store
from shotlist.store.journal import idempotency_key
from shotlist.store.lock import lock_path, read_lock, update_lock, write_lock

TESTS = Path(__file__).parent
INSTANT = Timing.instant()


class FakeClock:
    """Time that passes only when the engine sleeps; records every delay requested."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)

    def timing(self, **changes: Any) -> Timing:
        return replace(INSTANT, sleep=self.sleep, clock=self.time, **changes)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny.mp4")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / ".shotlist")


@pytest.fixture
def double(tiny_clip: Path) -> ProviderDouble:
    return ProviderDouble(tiny_clip)


def shots(*ids: str) -> list[ShotRequest]:
    return [make_request(i) for i in ids]


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event], shot_id: str | None = None) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and (shot_id is None or e.shot_id == shot_id)]


async def render(
    requests: list[ShotRequest],
    store: Store,
    double: ProviderDouble,
    *,
    timing: Timing = INSTANT,
    hook: Callable[[Event], None] | None = None,
    **kwargs: Any,
) -> RenderReport:
    return await render_shots(
        requests,
        store=store,
        providers={double.name: double},
        timing=timing,
        hook=hook or Recorder(),
        **kwargs,
    )


# ---------------------------------------------------------------- the happy path


async def test_every_shot_is_submitted_once_and_stored(
    store: Store, double: ProviderDouble, tiny_clip: Path
) -> None:
    events = Recorder()
    report = await render(shots("a", "b", "c"), store, double, hook=events)
    assert report.ok
    assert report.submitted == 3
    assert double.submissions == 3
    assert [s.id for s in report.shots] == ["a", "b", "c"]
    for shot in report.shots:
        assert shot.source == "generated"
        assert same_bytes(shot.file, tiny_clip)
        assert shot.sha256 == file_sha256(tiny_clip)
        assert shot.cost_usd == 0.25
        assert shot.job_id in double.jobs
    assert store.journal_records() == []
    assert list(store.downloads_dir.iterdir()) == []
    kinds = [type(e) for e in events.events if e.shot_id == "b"]
    assert kinds[0] is ShotQueued
    assert kinds[-2:] == [ShotSubmitted, ShotDownloaded]


async def test_unchanged_render_submits_nothing(store: Store, double: ProviderDouble) -> None:
    first = await render(shots("a", "b"), store, double)
    events = Recorder()
    second = await render(shots("a", "b"), store, double, hook=events)
    assert second.submitted == 0
    assert double.submit_calls == 2
    assert [s.source for s in second.shots] == ["cache", "cache"]
    assert [(s.job_id, s.sha256, s.cost_usd) for s in second.shots] == [
        (s.job_id, s.sha256, s.cost_usd) for s in first.shots
    ]
    assert [e.shot_id for e in events.of(ShotCached)] == ["a", "b"]


async def test_changing_one_shot_submits_exactly_one(store: Store, double: ProviderDouble) -> None:
    await render(shots("a", "b", "c"), store, double)
    edited = [make_request("a"), make_request("b", "a different prompt"), make_request("c")]
    report = await render(edited, store, double)
    assert report.submitted == 1
    assert [s.source for s in report.shots] == ["cache", "generated", "cache"]


async def test_identical_requests_share_one_job(store: Store, double: ProviderDouble) -> None:
    a = make_request("a")
    twin = replace(a, id="a-again")
    report = await render([a, twin], store, double)
    assert double.submissions == 1
    assert [(s.id, s.source) for s in report.shots] == [("a", "generated"), ("a-again", "cache")]
    assert report.shots[0].file == report.shots[1].file


async def test_concurrency_bounds_jobs_in_flight(store: Store, tiny_clip: Path) -> None:
    double = ProviderDouble(tiny_clip, latency=0.03)
    timing = replace(INSTANT, poll_initial=0.01, poll_cap=0.01, poll_min=0.01)
    report = await render(shots(*"abcdef"), store, double, timing=timing, concurrency=2)
    assert report.submitted == 6
    assert double.max_active == 2


async def test_the_next_shot_is_submitted_while_a_finished_clip_is_stored(
    tmp_path: Path, double: ProviderDouble
) -> None:
    b_submitted = threading.Event()

    class SlowStore(Store):
        def put(self, request_hash: str, src: Path, meta: ClipMeta, *, move: bool = False) -> CachedClip:
            # Storing "a" waits until "b" was submitted (a guard of 5 s keeps a broken engine from hanging).
            if request_hash == make_request("a").hash:
                b_submitted.wait(timeout=5)
            return super().put(request_hash, src, meta, move=move)

    events = Recorder()

    def hook(event: Event) -> None:
        events(event)
        if isinstance(event, ShotSubmitted) and event.shot_id == "b":
            b_submitted.set()

    report = await render(
        shots("a", "b"), SlowStore(tmp_path / ".shotlist"), double, hook=hook, concurrency=1
    )
    assert report.ok
    order = [
        (type(e).__name__, e.shot_id) for e in events.events if isinstance(e, ShotSubmitted | ShotDownloaded)
    ]
    assert order.index(("ShotSubmitted", "b")) < order.index(("ShotDownloaded", "a"))
    assert double.max_active == 1  # the slot still bounds the jobs at the provider


def test_concurrency_defaults_per_provider() -> None:
    assert default_concurrency("local") == 2 * max(1, os.cpu_count() or 1)
    assert default_concurrency("lumenfall") == 4
    assert resolve_concurrency(3, ["local", "fal"]) == {"local": 3, "fal": 3}
    # A paid route takes its capability record's concurrency (Ark's record says 2).
    assert resolve_concurrency({"fal": 2}, ["fal", "ark"]) == {"fal": 2, "ark": 2}
    assert default_concurrency("ark") == caps.capabilities("ark").default_concurrency == 2
    with pytest.raises(ConfigError, match="concurrency for fal must be at least 1, not 0"):
        resolve_concurrency(0, ["fal"])


async def test_progress_is_reported_while_the_job_runs(store: Store, tiny_clip: Path) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=4.0, clock=clock.time)
    events = Recorder()
    timing = clock.timing(poll_initial=1.0, poll_cap=1.0)
    await render(shots("a"), store, double, timing=timing, hook=events)
    progress = [(e.state, e.progress) for e in events.of(ShotProgress)]
    assert progress[0] == ("running", 0.25)
    assert all(state == "running" for state, _ in progress)


# ---------------------------------------------------------------- retrying


def rate_limited(after: float | None = None) -> ProviderError:
    return ProviderError("429 too many requests", kind="rate_limited", retryable=True, retry_after=after)


async def test_transient_submit_error_is_retried_honouring_retry_after(
    store: Store, double: ProviderDouble
) -> None:
    clock = FakeClock()
    double.scripts["a"] = Script(submit_errors=[rate_limited(after=7.5)])
    events = Recorder()
    timing = clock.timing(retry_base=0.01, retry_cap=1.0, retry_after_cap=60.0)
    report = await render(shots("a"), store, double, timing=timing, hook=events)
    assert report.ok
    assert double.submissions == 1
    assert double.keys_seen == [idempotency_key(make_request("a").hash)] * 2
    [retry] = events.of(ShotRetrying)
    assert (retry.attempt, retry.delay) == (1, 7.5)
    assert retry.reason == "submit: 429 too many requests"
    assert 7.5 in clock.sleeps


def test_retry_backoff_is_exponential_jittered_and_capped() -> None:
    timing = Timing(retry_base=1.0, retry_cap=5.0, retry_jitter=0.0)
    assert [timing.retry_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    jittered = Timing(retry_base=1.0, retry_cap=100.0, retry_jitter=0.5)
    delays = {jittered.retry_delay(3) for _ in range(50)}
    assert all(4.0 <= d <= 6.0 for d in delays)
    assert len(delays) > 1
    # Retry-After wins when longer, backoff when longer, and is clamped to a sane cap.
    assert timing.retry_delay(1, retry_after=3.0) == 3.0
    assert timing.retry_delay(3, retry_after=0.5) == 4.0
    assert replace(timing, retry_after_cap=10.0).retry_delay(1, retry_after=3600) == 10.0


async def test_lost_submit_answer_is_resubmitted_under_the_same_key(
    store: Store, double: ProviderDouble
) -> None:
    double.scripts["a"] = Script(lost_answers=1)
    report = await render(shots("a"), store, double)
    assert report.ok
    assert (double.submit_calls, double.submissions) == (2, 1)
    assert len(set(double.keys_seen)) == 1


async def test_permanent_error_is_not_retried_and_others_finish(store: Store, double: ProviderDouble) -> None:
    double.scripts["b"] = Script(submit_errors=[ProviderError("prompt rejected", kind="invalid")])
    events = Recorder()
    report = await render(shots("a", "b", "c"), store, double, hook=events)
    assert [s.id for s in report.shots] == ["a", "c"]
    [failure] = report.failures
    assert str(failure) == "shot 'b', provider double: prompt rejected"
    assert failure.kind == "invalid"
    assert events.of(ShotRetrying) == []
    assert [e.error for e in events.of(ShotFailed)] == [str(failure)]
    assert store.journal_get(make_request("b").hash) is None  # nothing to resume


async def test_retries_are_bounded(store: Store, double: ProviderDouble) -> None:
    double.scripts["a"] = Script(submit_errors=[rate_limited() for _ in range(10)])
    report = await render(shots("a"), store, double, timing=replace(INSTANT, retry_attempts=3))
    [failure] = report.failures
    assert failure.kind == "rate_limited"
    assert double.submit_calls == 3
    # The submit may yet have gone through: the next render tries the same key.
    record = store.journal_get(make_request("a").hash)
    assert record is not None
    assert record.state == "submitting"


async def test_transient_poll_error_is_retried(store: Store, double: ProviderDouble) -> None:
    bad_gateway = ProviderError("502 bad gateway", kind="upstream", retryable=True)
    double.scripts["a"] = Script(polls=[bad_gateway, JobState.RUNNING, bad_gateway])
    report = await render(shots("a"), store, double)
    assert report.ok
    assert double.submissions == 1


# ---------------------------------------------------------------- polling


async def test_polling_starts_quick_and_backs_off_to_a_cap(store: Store, tiny_clip: Path) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=12.0, report_progress=False, clock=clock.time)
    timing = clock.timing(poll_initial=0.5, poll_factor=2.0, poll_cap=4.0)
    report = await render(shots("a"), store, double, timing=timing)
    assert report.ok
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # 15.5 s: the first poll after 12 s
    assert double.poll_calls == 6


def test_reported_progress_brings_the_next_poll_forward() -> None:
    timing = Timing(poll_min=0.1)
    # 25 % done after 0.5 s: the rest takes 1.5 s, later than the schedule's 0.75 s.
    assert next_poll_delay(0.75, 0.25, (0.0, 0.0), 0.5, timing) == 0.75
    # 75 % after 3 s at a 10 s backoff: done in about 1 s.
    assert next_poll_delay(10.0, 0.75, (0.0, 0.0), 3.0, timing) == pytest.approx(1.0)
    # Never sooner than poll_min; no progress or a stall keeps the schedule.
    assert next_poll_delay(10.0, 0.999, (0.0, 0.0), 3.0, timing) == 0.1
    assert next_poll_delay(10.0, None, (0.0, 0.0), 3.0, timing) == 10.0
    assert next_poll_delay(10.0, 0.5, (2.0, 0.5), 3.0, timing) == 10.0
    assert next_poll_delay(10.0, 0.5, None, 3.0, timing) == 10.0


async def test_progress_lets_a_job_finish_without_waiting_for_the_backoff(
    store: Store, tiny_clip: Path
) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=2.0, clock=clock.time)
    timing = clock.timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0, poll_min=0.1)
    await render(shots("a"), store, double, timing=timing)
    assert clock.sleeps == [0.5, 0.75, pytest.approx(0.75)]  # finished at 2.0 s, polled at 2.0 s
    assert sum(clock.sleeps) == pytest.approx(2.0)


async def test_later_jobs_search_the_window_where_the_quickest_finish_lies(
    store: Store, tiny_clip: Path
) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=2.0, report_progress=False, clock=clock.time)
    timing = clock.timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0, poll_min=0.1)
    report = await render(shots(*"abcde"), store, double, timing=timing, concurrency=1)
    assert report.ok
    # "a" backs off on the plain schedule: running at 0.5 s and 1.25 s, done at 2.375 s. The
    # later jobs poll first a quarter before that, or inside the window where the quickest
    # finish lies (from the oldest age seen running, at least three quarters of the quickest,
    # to the quickest), the k-th job at k/7 of it. Seen running, a job narrows the window and
    # polls again when the quickest took; seen done, it is the quickest.
    quickest = 2.375
    b = quickest * 3 / 4  # running
    c = b + (quickest - b) / 7  # running
    d = c + (quickest - c) * 2 / 7  # done: 2.01 s, the quickest now
    e = c + (d - c) * 3 / 7  # running; polled again at d, but not within poll_min of e
    assert d - e < 0.1
    assert clock.sleeps == pytest.approx([0.5, 0.75, 1.125, b, quickest - b, c, quickest - c, d, e, 0.1])
    assert double.poll_calls == 10


def test_latency_learns_the_window_of_the_quickest_finish() -> None:
    latency = Latency()
    latency.learn_running(1.9, None)
    latency.learn(2.1)
    latency.learn_running(2.3, None)  # a slower job says nothing of the quickest finish
    assert (latency.took, latency.running) == (2.1, 1.9)
    latency.learn_running(2.0, None)
    latency.learn(2.05)
    assert (latency.took, latency.running) == (2.05, 2.0)
    latency.learn(1.95)  # quicker than a job seen running: the window starts afresh
    assert (latency.took, latency.running) == (1.95, 0.0)
    assert not latency.progress
    latency.learn_running(1.0, 0.4)
    assert latency.progress


def test_learned_jobs_spread_their_first_polls_over_the_window() -> None:
    latency = Latency(took=2.1, running=1.8)
    ages = [latency.first_age(k, interval=0.1) for k in range(9)]
    # One in eight polls a quarter early (a provider that got quicker is noticed); the other
    # seven spread over the window (1.8 s, 2.1 s], the last when the quickest took.
    assert ages == pytest.approx(
        [1.575, 1.8428571, 1.8857143, 1.9285714, 1.9714286, 2.0142857, 2.0571429, 2.1, 1.575]
    )
    # Nothing seen running below the quickest: the window starts at three quarters of it.
    assert Latency(took=2.0).first_age(1, interval=0.1) == pytest.approx(1.5 + 0.5 / 7)
    # A window no wider than the interval between two polls is not searched: a job seen running
    # inside it could only be polled again after the quickest had taken.
    assert Latency(took=2.1, running=2.02).first_age(1, interval=0.1) == 2.1
    # A kind that reports progress is polled a quarter early; its progress says when to come back.
    assert Latency(took=2.0, running=1.9, progress=True).first_age(3, interval=0.1) == 1.5
    with pytest.raises(ValueError, match="no job of this kind was seen done yet"):
        Latency().first_age(0, interval=0.1)


def test_a_learned_job_polls_in_the_window_then_at_the_quickest_then_backs_off() -> None:
    timing = Timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0, poll_min=0.1)
    latency = Latency(took=4.0, running=3.2)
    early = PollSchedule(timing, interval=0.1, submitted=100.0, latency=latency)
    spread = PollSchedule(timing, interval=0.1, submitted=100.0, latency=latency)
    assert early.start(100.0) == pytest.approx(103.0)  # a quarter before the quickest took
    assert spread.start(100.0) == pytest.approx(103.2 + 0.8 / 7)  # 1/7 into (3.2 s, 4.0 s]
    assert spread.after_running(103.32, 103.33, None, None) == pytest.approx(104.0)  # the quickest
    # Still running: back off from a twentieth of the quickest (0.2 s), growing by poll_factor.
    assert spread.after_running(104.0, 104.01, None, None) == pytest.approx(104.21)
    assert spread.after_running(104.21, 104.22, None, None) == pytest.approx(104.52)


def test_a_quicker_finish_brings_waiting_polls_forward_but_not_within_the_interval() -> None:
    timing = Timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0, poll_min=0.1)
    latency = Latency(took=4.0, running=3.2)
    polled = PollSchedule(timing, interval=0.1, submitted=100.0, latency=latency)
    waiting = PollSchedule(timing, interval=0.1, submitted=100.0, latency=latency)
    polled.start(100.0)
    due_waiting = waiting.start(100.0)
    due_polled = polled.after_running(103.2, 103.2, None, None)  # running: next at 104.0
    latency.learn(3.25)  # another job of the kind was seen done at 3.25 s
    # As old as that job now, but not within 0.1 s of its own last poll.
    assert polled.revise(due_polled) == pytest.approx(103.3)
    # Not polled yet: the window (3.2 s, 3.25 s] is too narrow to search; it polls at 3.25 s.
    assert waiting.revise(due_waiting) == pytest.approx(103.25)
    # Never later than planned.
    assert waiting.revise(100.5) == 100.5


def test_polls_stay_within_a_documented_rate_of_status_requests() -> None:
    timing = Timing(poll_min=0.1)
    # Replicate documents 3000 requests a minute: eight jobs polled every 0.16 s ask 50 a second.
    assert poll_interval("replicate", 8, timing) == pytest.approx(0.16)
    assert poll_interval("replicate", 4, timing) == 0.1  # 40 a second: poll_min already holds
    assert poll_interval("fal", 8, timing) == 0.1  # no documented rate
    assert poll_interval("double", 8, timing) == 0.1  # not a registered provider


async def test_a_learned_latency_is_not_used_for_another_kind_of_shot(store: Store, tiny_clip: Path) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=2.0, report_progress=False, clock=clock.time)
    timing = clock.timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0, poll_min=0.1)
    longer = replace(make_request("b"), duration=10.0)
    await render([make_request("a"), longer], store, double, timing=timing, concurrency=1)
    assert clock.sleeps == [0.5, 0.75, 1.125] * 2


def test_jobs_started_together_poll_between_each_others_polls() -> None:
    timing = Timing(poll_initial=0.5, poll_factor=1.5, poll_cap=10.0)
    latency = Latency()
    firsts = [latency.staggered(timing)[0] for _ in range(8)]
    # The plain schedule polls at 0.5 s, then 1.25 s: the eight first polls fill that gap evenly
    # (in the schedule's geometric time), the first of them on the plain schedule.
    assert firsts[0] == 0.5
    assert firsts == sorted(firsts)
    assert firsts[-1] < 1.25
    ratios = [(b + 1) / (a + 1) for a, b in itertools.pairwise(firsts)]
    assert ratios == pytest.approx([1.5 ** (1 / 8)] * 7)
    assert latency.staggered(timing)[0] == 0.5  # the ninth starts the pattern again


async def test_jobs_started_together_stop_waiting_when_one_of_them_finishes(
    store: Store, tiny_clip: Path
) -> None:
    double = ProviderDouble(tiny_clip, latency=1.5, report_progress=False)
    timing = replace(Timing(), poll_initial=1.0, poll_factor=2.0, poll_cap=10.0, poll_min=0.05)
    started = time.monotonic()
    report = await render(shots(*"abcdefgh"), store, double, timing=timing, concurrency=8)
    assert report.ok
    # The plain schedule polls at 1 s and 3 s; staggered, the eight first polls fall between,
    # one of them soon after 1.5 s sees its job done, and the others poll then too: none
    # waits for 3 s (nor for its own first poll, up to 2.7 s).
    assert time.monotonic() - started < 2.4
    assert double.poll_calls <= 8 * 2


async def test_job_deadline_times_out_and_keeps_the_job(store: Store, tiny_clip: Path) -> None:
    clock = FakeClock()
    double = ProviderDouble(tiny_clip, latency=1e9, report_progress=False, clock=clock.time)
    timing = clock.timing(poll_initial=1.0, poll_cap=1.0, job_deadline=5.0)
    report = await render(shots("a"), store, double, timing=timing)
    [failure] = report.failures
    assert failure.kind == "timeout"
    assert str(failure) == (
        "shot 'a', provider double, job job-0001: no result within 5 s; "
        "the job stays journalled and the next render resumes it"
    )
    record = store.journal_get(make_request("a").hash)
    assert record is not None
    assert (record.state, record.job_id) == ("submitted", "job-0001")


async def test_failed_job_names_shot_provider_and_message(store: Store, double: ProviderDouble) -> None:
    double.scripts["b"] = Script(fail="content policy violation")
    report = await render(shots("a", "b"), store, double)
    assert [s.id for s in report.shots] == ["a"]
    [failure] = report.failures
    [failed_job] = double.jobs_for("b")
    assert str(failure) == f"shot 'b', provider double, job {failed_job}: content policy violation"
    # Running again submits a new job under a new key: the old key names the failed job.
    double.scripts["b"] = Script()
    again = await render(shots("a", "b"), store, double)
    assert again.ok
    assert double.jobs_for("b") == [failed_job, "job-0003"]
    assert double.keys_seen[-1] == idempotency_key(make_request("b").hash, 1)


async def test_expired_job_is_submitted_afresh_under_a_new_key(store: Store, double: ProviderDouble) -> None:
    double.scripts["a"] = Script(expire_jobs=1)
    report = await render(shots("a"), store, double)
    assert report.ok
    assert double.submissions == 2
    assert len(set(double.keys_seen)) == 2


async def test_a_job_lost_again_and_again_fails(store: Store, double: ProviderDouble) -> None:
    double.scripts["a"] = Script(expire_jobs=100)
    report = await render(shots("a"), store, double, timing=replace(INSTANT, resubmits=2))
    [failure] = report.failures
    assert (failure.kind, failure.message) == ("expired", "the provider lost the job 3 times")
    assert double.submissions == 3


# ---------------------------------------------------------------- downloads and the cache


async def test_failed_download_is_retried_after_a_fresh_poll_not_a_resubmit(
    store: Store, double: ProviderDouble, tiny_clip: Path
) -> None:
    truncated = ProviderError("download truncated", kind="download", retryable=True)
    double.scripts["a"] = Script(fetch_errors=[truncated])
    events = Recorder()
    report = await render(shots("a"), store, double, hook=events)
    assert report.ok
    assert (double.submissions, double.fetch_calls, double.poll_calls) == (1, 2, 2)
    assert same_bytes(report.shots[0].file, tiny_clip)
    assert [e.reason for e in events.of(ShotRetrying)] == ["download: download truncated"]
    assert list(store.downloads_dir.iterdir()) == []


async def test_permanent_download_failure_keeps_the_paid_job_for_next_time(
    store: Store, double: ProviderDouble
) -> None:
    gone = ProviderError("403 forbidden", kind="download")
    double.scripts["a"] = Script(fetch_errors=[gone])
    first = await render(shots("a"), store, double)
    assert [f.kind for f in first.failures] == ["download"]
    events = Recorder()
    second = await render(shots("a"), store, double, hook=events)
    assert second.ok
    assert second.submitted == 0
    assert double.submissions == 1
    assert [e.resumed for e in events.of(ShotSubmitted)] == [True]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
async def test_damaged_cache_entry_is_fetched_again_never_used(
    store: Store, double: ProviderDouble, tiny_clip: Path, damage: str
) -> None:
    [shot] = (await render(shots("a"), store, double)).shots
    data = bytearray(shot.file.read_bytes())
    if damage == "truncate":
        del data[len(data) // 3 :]
    else:
        data[100] ^= 0xFF
    shot.file.write_bytes(bytes(data))
    events = Recorder()
    report = await render(shots("a"), store, double, hook=events)
    assert [n.message.split(" (")[0].split(";")[0] for n in events.of(Notice)] == [
        "cached clip is truncated" if damage == "truncate" else "cached clip is corrupted"
    ]
    # Same key, same job: the gateway hands back the finished job, nothing is paid twice.
    assert double.submissions == 1
    assert double.fetch_calls == 2
    assert same_bytes(report.shots[0].file, tiny_clip)
    assert store.get(make_request("a").hash) is not None


# ---------------------------------------------------------------- frozen and sessions


async def test_frozen_render_uses_the_cache_only(store: Store, double: ProviderDouble) -> None:
    await render(shots("a", "b"), store, double)
    report = await render(shots("a", "b"), store, double, frozen=True)
    assert report.submitted == 0
    assert [s.source for s in report.shots] == ["cache", "cache"]


async def test_frozen_render_lists_every_missing_shot_and_submits_nothing(
    store: Store, double: ProviderDouble
) -> None:
    await render(shots("b"), store, double)
    with pytest.raises(FrozenError) as info:
        await render(shots("a", "b", "c"), store, double, frozen=True)
    assert info.value.missing == ("a", "c")
    assert str(info.value).endswith("nothing may be submitted: a, c")
    assert double.submit_calls == 1
    assert store.journal_records() == []


async def test_a_factory_opens_only_needed_sessions_and_closes_them(store: Store, tiny_clip: Path) -> None:
    made: list[ProviderDouble] = []

    def factory(name: str) -> ProviderDouble:
        made.append(ProviderDouble(tiny_clip, name=name))
        return made[-1]

    await render_shots(shots("a"), store=store, providers=factory, timing=INSTANT)
    assert [(p.name, p.closed) for p in made] == [("double", True)]
    await render_shots(shots("a"), store=store, providers=factory, timing=INSTANT, frozen=True)
    assert len(made) == 1  # a render from the cache needs no session (and no API key)


async def test_unknown_provider_fails_before_anything_is_submitted(
    store: Store, double: ProviderDouble
) -> None:
    requests = [make_request("a"), make_request("b", provider="fal")]
    with pytest.raises(ConfigError, match="no session for provider 'fal'"):
        await render(requests, store, double)
    assert double.submit_calls == 0


async def test_unexpected_errors_surface_as_themselves(store: Store, double: ProviderDouble) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("bug in a provider")

    double.poll = broken  # type: ignore[assignment,method-assign]
    with pytest.raises(RuntimeError, match="bug in a provider"):
        await render(shots("a", "b"), store, double)


# ---------------------------------------------------------------- interrupted renders


async def interrupt_at(
    point: str, requests: list[ShotRequest], store: Store, double: ProviderDouble, **kwargs: Any
) -> None:
    """Start a render, cancel it when the double reaches ``point`` (as Ctrl-C would)."""
    reached = double.block_at(point)  # type: ignore[arg-type]
    task = asyncio.create_task(render(requests, store, double, **kwargs))
    await asyncio.wait_for(reached.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_interrupted_after_submit_before_the_answer_resubmits_the_same_key(
    store: Store, double: ProviderDouble
) -> None:
    await interrupt_at("submit", shots("a"), store, double)
    record = store.journal_get(make_request("a").hash)
    assert record is not None
    assert (record.state, record.job_id) == ("submitting", None)
    report = await render(shots("a"), store, double)
    assert report.ok
    assert double.submissions == 1
    assert double.keys_seen == [record.idempotency_key] * 2


async def test_interrupted_while_polling_resumes_the_job(store: Store, double: ProviderDouble) -> None:
    await interrupt_at("poll", shots("a", "b", "c"), store, double, concurrency=1)
    record = store.journal_get(make_request("a").hash)
    assert record is not None
    assert (record.state, record.job_id) == ("submitted", "job-0001")
    assert double.cancelled == []  # a paid job keeps running, to be collected next time
    events = Recorder()
    report = await render(shots("a", "b", "c"), store, double, hook=events)
    assert report.ok
    assert double.submissions == 3
    assert report.submitted == 2
    assert next((e.shot_id, e.resumed) for e in events.of(ShotSubmitted)) == ("a", True)


async def test_interrupted_after_download_before_storing_fetches_again(
    store: Store, double: ProviderDouble
) -> None:
    await interrupt_at("fetch", shots("a"), store, double)
    assert not store.has(make_request("a").hash)
    assert list(store.downloads_dir.iterdir()) == []
    report = await render(shots("a"), store, double)
    assert report.ok
    assert (double.submissions, double.fetch_calls) == (1, 2)
    assert report.submitted == 0


async def test_killed_after_storing_before_closing_the_journal_uses_the_cache(
    store: Store, double: ProviderDouble
) -> None:
    await render(shots("a"), store, double)
    request = make_request("a")
    from shotlist.store.journal import mark_submitted, new_job_record

    store.journal_put(mark_submitted(new_job_record(request), "job-0001"))
    report = await render(shots("a"), store, double)
    assert report.submitted == 0
    assert report.shots[0].source == "cache"
    assert store.journal_records() == []


async def test_interrupted_local_work_is_cancelled_and_started_afresh(store: Store, tiny_clip: Path) -> None:
    local = ProviderDouble(tiny_clip, name="local")
    requests = [make_request("a", provider="local")]
    await interrupt_at("poll", requests, store, local)
    assert local.cancelled == ["job-0001"]
    record = store.journal_get(requests[0].hash)
    assert record is not None
    assert record.state == "ended"
    report = await render(requests, store, local)
    assert report.ok
    assert local.submissions == 2
    assert local.keys_seen[-1] == idempotency_key(requests[0].hash, 1)


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_render_killed_and_run_again_submits_each_shot_once(
    tmp_path: Path, tiny_clip: Path, sig: signal.Signals
) -> None:
    state, store_dir = tmp_path / "gateway.json", tmp_path / "store"
    command = [
        sys.executable,
        str(TESTS / "provider_double.py"),
        *("--store", str(store_dir), "--state", str(state), "--clip", str(tiny_clip)),
        *("--shots", "6", "--latency", "0.6", "--concurrency", "2"),
    ]
    log = tmp_path / "first.log"
    with log.open("wb") as stderr:
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    store = Store(store_dir)
    requests = shots(*(f"shot-{i}" for i in range(6)))

    def jobs_created() -> int:
        return len(json.loads(state.read_text())["jobs"]) if state.exists() else 0

    # Kill it with a clip stored, later jobs journalled in flight, and at most four of the six
    # jobs created: both slots are busy then, so not even a Ctrl-C (which lets the step under
    # way finish) can get the last job created before the render stops.
    signal_when(lambda: part_way(store_dir) and 3 <= jobs_created() <= 4, first, sig)
    assert first.wait(timeout=10) == -sig  # Ctrl-C ends in KeyboardInterrupt, as asyncio.run does
    killed_with = jobs_created()
    assert 3 <= killed_with < 6
    assert store.journal_records() != []
    if sig == signal.SIGINT:
        # An orderly stop: in-flight paid jobs stay journalled, no download is left behind.
        assert {r.state for r in store.journal_records()} <= {"submitting", "submitted"}
        assert list(store.downloads_dir.iterdir()) == []

    second = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["shots"] == [r.id for r in requests]
    assert jobs_created() == 6  # across both runs, every shot submitted exactly once
    assert summary["submitted"] <= 6 - killed_with + 1  # at most one lost answer resubmitted
    assert store.journal_records() == []
    assert all(store.get(r.hash) is not None for r in requests)


# ---------------------------------------------------------------- the lock file


async def test_an_unchanged_render_leaves_the_lock_byte_identical(
    store: Store, double: ProviderDouble, tmp_path: Path
) -> None:
    path = lock_path(tmp_path / "film.yaml")
    requests = shots("a", "b", "c")
    first = await render(requests, store, double)
    assert write_lock(path, update_lock(read_lock(path), requests, first.shots)) is True
    written = path.read_bytes()
    second = await render(requests, store, double)
    assert write_lock(path, update_lock(read_lock(path), requests, second.shots)) is False
    assert path.read_bytes() == written
    assert [e.id for e in read_lock(path).shots] == ["a", "b", "c"]


async def test_rendering_only_some_shots_keeps_the_others_in_the_lock(
    store: Store, double: ProviderDouble, tmp_path: Path
) -> None:
    path = tmp_path / "film.lock"
    requests = shots("a", "b", "c")
    report = await render(requests, store, double)
    write_lock(path, update_lock(read_lock(path), requests, report.shots))
    before = read_lock(path)
    edited = [make_request("a", "new prompt"), make_request("b", "new too"), make_request("c")]
    only = await render([edited[1]], store, double)  # --only b
    lock = update_lock(read_lock(path), edited, only.shots)
    assert [e.id for e in lock.shots] == ["a", "b", "c"]
    assert lock.entry("a") == before.entry("a")  # not rendered this time: kept as it was
    entry_b = lock.entry("b")
    assert entry_b is not None
    assert entry_b.hash == edited[1].hash
    assert entry_b.job_id == only.shots[0].job_id

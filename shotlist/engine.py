"""Rendering shots: concurrent, resumable, cached, and never paying twice.

For each distinct request hash, in storyboard order::

    verified cache entry   -> ShotCached, nothing else happens
    journalled job         -> ShotSubmitted(resumed=True): poll it, never submit again
    otherwise              -> journal "submitting", submit, journal "submitted" (fsynced)
    then                   -> poll until done -> fetch to a temp file -> store.put
                              -> the journal record is removed

A provider's concurrency limit counts jobs at the provider: submitting, polling
and downloading. Checking the downloaded clip and storing it happen after the
job's slot is free, so the next shot is submitted meanwhile.

Two kinds of waiting, kept apart (STYLE 7):

* **Retrying** is for transient failures only (``ProviderError.retryable``, or
  a submit whose answer was lost): bounded attempts, exponential backoff with
  jitter, never sooner than the provider's ``Retry-After``. One place:
  ``Timing.retry_delay`` and ``_Job._retrying``. (Hand-written, not stamina:
  stamina's test switch and retry hooks are process-wide, while every retry
  here is reported to this render's hook with its delay and sleeps on the
  ``Timing`` clock that tests replace.)
* **Polling** waits for a job that is working: it starts quick and backs off to
  a cap, polls early when the provider's reported progress predicts the end
  sooner, and gives up at a deadline per job (``kind="timeout"``; the job stays
  journalled and the next render resumes it). Without progress reports it learns
  from the render's first completions (``Latency``, ``PollSchedule``): jobs of one
  kind started together stagger their schedules, and the first seen done wakes the
  others. Later jobs of that kind spread their first polls over the window where
  the quickest finish lies (after the oldest age a job was seen running, up to the
  youngest it was seen done; one job in eight a quarter before it, so a provider
  that got quicker is noticed), and each wave of jobs narrows it for the next; then
  they poll when the quickest took, then back off from a twentieth of it. Never
  sooner than ``poll_min`` after a job's last poll, nor more often than a rate the
  provider documents for status requests allows its jobs in flight
  (``poll_interval``).

A failed download is retried after a fresh poll (result URLs expire), never by
submitting again; a download counts as failed unless it decodes to its end as a
clip (``clip_problem``), so a body cut short behind a valid header never enters
the cache. A job the provider forgot (``expired``) is submitted afresh under a
new idempotency key, a bounded number of times. A job the provider does not know
*right now* (``missing``: a 404 from a lagging replica or a proxy) is polled on
until its deadline; it counts as forgotten only once the provider's own
``expires_at``, or ``Timing.job_retention`` after its submission, has passed.

Cancellation (Ctrl-C under ``asyncio.run``, or cancelling the task) stops all
work; the journal is left consistent, and nothing half-written enters the
cache (downloads go to ``.shotlist/downloads`` and are renamed in whole). Paid jobs
are deliberately *not* cancelled at the provider: the money is already spent,
so they keep running, stay journalled, and the next render collects them.
Jobs of providers in ``cancel_on_interrupt`` (by default the local engine,
whose work dies with the process anyway) are cancelled and their journal
record closed, so the next render starts them again at once.

Continuity: a shot that takes a frame from another shot not rendered yet comes
as a ``Pending`` (every take, without a hash). It waits, holding no slot, until
its parents' clips are verified, then ``complete`` (the caller's: extract the
frames, hash the requests) turns it into ordinary requests, which are looked up
in the cache and rendered like any other. Shots that depend on nothing never
wait; a parent that failed fails its dependents without submitting them.

Shots are named in events, results and failures by their request key: the shot
id, or ``id#k`` for take k >= 2 of a shot with several takes.

One render holds the store at a time (``Store.exclusive``): two processes
resuming the same journal could otherwise both submit the same shot.

With a team cache (``shared``, store/shared.py) a shot missing here is first
fetched from it, verified; a clip made here is offered to it (create-only);
and a paid shot is claimed there before it is submitted (store/claims.py): a
shot someone else holds is followed (their job polled, or waited for), never
submitted again. ``_Job._arbitrate`` is the one place that decides.

The engine never prints: it reports through the ``hook`` with typed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

from shotlist.errors import ConfigError, FrozenError, ProviderError, ShotlistError
from shotlist.events import (
    Hook,
    Notice,
    ShotCached,
    ShotDownloaded,
    ShotFailed,
    ShotProgress,
    ShotQueued,
    ShotRetrying,
    ShotSubmitted,
    ignore,
)
from shotlist.media.probe import clip_problem
from shotlist.providers import registry
from shotlist.providers.base import JobState, JobStatus, Provider, reported_cost
from shotlist.providers.capabilities import LOCAL_PROVIDER, UnknownName
from shotlist.request import FrameFrom, ShotRequest, take_key
from shotlist.store.cache import CachedClip, ClipMeta, Store
from shotlist.store.claims import Claim
from shotlist.store.journal import JobRecord, mark_ended, mark_submitted, new_job_record
from shotlist.store.shared import SharedCache

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
ProviderSource = Mapping[str, Provider] | Callable[[str], Provider]
Concurrency = int | Mapping[str, int] | None

PAID_CONCURRENCY = 4
"""Jobs in flight per paid provider by default: enough to overlap their queues,
few enough to stay clear of typical rate limits."""


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Every delay the engine takes, in seconds, and the clock it measures them by.

    Tests use ``Timing.instant()`` (no waiting at all), or replace ``sleep`` and
    ``clock`` to record the delays requested instead of spending them.
    """

    poll_initial: float = 0.5
    poll_factor: float = 1.5
    poll_cap: float = 10.0
    poll_min: float = 0.1
    """The soonest one job is polled again after its last poll (a prediction from reported
    progress or a learned latency never comes sooner)."""
    retry_base: float = 1.0
    retry_cap: float = 60.0
    retry_jitter: float = 0.5
    """Up to this fraction of the backoff is added at random, so that many shots
    hitting the same rate limit do not come back in lockstep."""
    retry_after_cap: float = 300.0
    """The longest ``Retry-After`` obeyed; a longer one is clamped to it."""
    retry_attempts: int = 5
    """Attempts per operation (submit, poll, download), the first included."""
    job_deadline: float = 1800.0
    """How long this render waits for one job, counted from when it starts waiting."""
    resubmits: int = 2
    """Fresh jobs submitted for a shot after the provider forgot (expired) earlier ones."""
    job_retention: float = 24 * 3600.0
    """How long a provider that states no expiry is assumed to remember a job: a job
    answered "not found" sooner is being polled too early, not forgotten."""
    wall: Callable[[], float] = time.time
    """Calendar time (Unix seconds), for expiries that outlive one process."""
    cancel_timeout: float = 5.0
    claim_wait: float = 2.0
    """How often a shot claimed by another machine, with no job id yet, is looked at again."""
    claim_renew: float = 60.0
    """How often a held claim is renewed while its job is polled (well inside the claims' ttl)."""
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def instant(cls) -> Timing:
        """No delays anywhere (the deadline stays, as a guard against a test hanging)."""
        return cls(
            poll_initial=0.0,
            poll_cap=0.0,
            poll_min=0.0,
            retry_base=0.0,
            retry_cap=0.0,
            retry_jitter=0.0,
            retry_after_cap=0.0,
            job_deadline=60.0,
            cancel_timeout=1.0,
            claim_wait=0.05,
        )

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        backoff = self.retry_base * 2.0 ** (attempt - 1) * (1 + self.retry_jitter * random.random())
        backoff = min(self.retry_cap, backoff)
        if retry_after is None:
            return backoff
        # The provider knows best when it will take us again.
        return max(backoff, min(retry_after, self.retry_after_cap))


Observed = tuple[float, float] | None
"""When a job's progress was last seen to advance, and to what: (time, progress)."""


def next_poll_delay(
    backoff: float,
    progress: float | None,
    observed: Observed,
    now: float,
    timing: Timing,
) -> float:
    """How long to wait before the next poll.

    ``backoff`` is the plain schedule. When the provider reports progress and
    it advanced since ``observed`` (time, progress), the finish is predicted
    from that rate and the poll comes then if that is sooner, but never sooner
    than ``poll_min``. Without progress, or if it stalls, the schedule holds.
    """
    if progress is None or observed is None:
        return backoff
    then, before = observed
    if progress <= before or now <= then:
        return backoff
    remaining = (1.0 - min(progress, 1.0)) * (now - then) / (progress - before)
    return min(backoff, max(remaining, timing.poll_min))


@dataclass
class Latency:
    """How long jobs of one kind (provider, model, duration, size) take, learned in this render.

    Ages count from submission. ``took`` is the youngest age a job was seen done at, and
    ``running`` the oldest age a job was seen still running below it: the quickest finish
    lies between the two (the *window*). ``progress`` says whether running jobs of the kind
    report progress. ``news`` is set at each completion, waking the jobs that wait.
    ``started`` counts the jobs that began before anything was learned, ``spread`` those
    that began after: both place the jobs' polls apart, because eight jobs polling at the
    same moments learn no more than one job would.
    """

    took: float | None = None
    running: float = 0.0
    progress: bool = False
    started: int = 0
    spread: int = 0
    news: asyncio.Event = field(default_factory=asyncio.Event)

    def learn(self, age: float) -> None:
        """A job was seen done ``age`` seconds after its submission."""
        self.took = age if self.took is None else min(self.took, age)
        if self.running >= self.took:
            # A job ran longer than another took (latencies vary): the window starts afresh.
            self.running = 0.0
        self.news.set()
        self.news = asyncio.Event()

    def learn_running(self, age: float, progress: float | None) -> None:
        """A job was seen running ``age`` seconds after its submission (the poll's start)."""
        if self.took is None or age < self.took:
            self.running = max(self.running, age)
        self.progress = self.progress or progress is not None

    def staggered(self, timing: Timing) -> tuple[float, float]:
        """(first wait, next backoff) of the next job started before anything was learned.

        The plain schedule polls at ``c * f**n - c`` after submission (``f`` the factor,
        ``c = poll_initial / (f - 1)``); the k-th job polls at ``c * f**(n + k/8) - c``, so
        eight jobs started together poll at eight points between two of the plain ones.
        """
        initial, f = timing.poll_initial, timing.poll_factor
        k = self.started % STAGGER
        self.started += 1
        if f <= 1.0 or k == 0:
            return initial, min(initial * f, timing.poll_cap)
        shift = f ** (k / STAGGER)
        first = initial / (f - 1) * (f * shift - 1)
        return min(first, timing.poll_cap), min(initial * shift * f, timing.poll_cap)

    def first_age(self, k: int, interval: float) -> float:
        """The age of the first poll of the k-th job (0-based) to start after ``took`` is known.

        One job in eight (and every job of a kind that reports progress, whose progress then
        says when to come back) polls a quarter before the quickest took: a provider that got
        quicker is noticed. The other seven spread their first polls evenly over the window,
        the last at ``took`` itself; whichever first sees its job done narrows the window for
        all (``news``). A window no wider than ``interval`` is not searched: a job seen running
        inside it could be polled again only after ``took`` had passed.
        """
        if self.took is None:
            raise ValueError("no job of this kind was seen done yet")
        quickest, k = self.took, k % STAGGER
        early = quickest * 3 / 4
        if self.progress or k == 0:
            return early
        floor = max(self.running, early)
        if quickest - floor <= interval:
            return quickest
        return floor + (quickest - floor) * k / (STAGGER - 1)


STAGGER = 8


PollPhase = Literal["plain", "window", "quickest", "backoff"]


@dataclass
class PollSchedule:
    """When one job is polled next. Times are on the ``Timing`` clock; ages count from
    ``submitted``.

    A job resumed from the journal (no ``latency``: its age is unknown) polls at once, then
    on the plain backoff. A job submitted here polls on the plain backoff, staggered among
    the jobs started with it, until its kind's latency is known; then (phase ``window``) at
    its ``Latency.first_age``, then (``quickest``) when the quickest job took, then
    (``backoff``) backing off from a twentieth of that. A job of the kind seen done meanwhile
    (``revise``) brings a poll forward to the age it finished at; reported progress brings a
    poll forward to the predicted finish (``next_poll_delay``). Never sooner than
    ``interval`` after the previous poll.
    """

    timing: Timing
    interval: float
    submitted: float = 0.0
    latency: Latency | None = None
    phase: PollPhase = "plain"
    backoff: float = 0.0
    index: int | None = None
    """This job's place among the jobs of its kind started after the latency was known."""
    polled: float | None = None

    def start(self, now: float) -> float:
        """The time of the first poll."""
        latency, timing = self.latency, self.timing
        if latency is None:
            # A resumed job may be done already.
            self.backoff = timing.poll_initial
            return now
        if latency.took is None:
            wait, self.backoff = latency.staggered(timing)
            return self.submitted + wait
        self.phase, due = self._learned_plan(latency, latency.took)
        return due

    def after_running(self, polled: float, now: float, progress: float | None, observed: Observed) -> float:
        """The time of the next poll, after the poll sent at ``polled`` found the job not
        finished (queued, running, or not known yet) at ``now``."""
        self.polled = polled
        quickest = None if self.latency is None else self.latency.took
        if self.phase == "plain" and self.latency is not None and quickest is not None:
            # Learned while this job waited: its first learned poll.
            self.phase, due = self._learned_plan(self.latency, quickest)
        elif self.phase == "plain":
            due = now + self.backoff
            self.backoff = self._grown(self.backoff)
        elif self.phase == "window" and quickest is not None and polled < self.submitted + quickest:
            self.phase, due = "quickest", self.submitted + quickest
        else:
            if self.phase != "backoff":
                # Running when the quickest was done: from here on, back off.
                self.phase = "backoff"
                self.backoff = max(self.interval, (quickest or 0.0) / 20)
            due = now + self.backoff
            self.backoff = self._grown(self.backoff)
        wait = next_poll_delay(max(due - now, 0.0), progress, observed, now, self.timing)
        return max(now + wait, polled + self.interval)

    def revise(self, due: float) -> float:
        """The next poll's time, planned for ``due``, once a job of the kind was seen done:
        sooner if the quickest finish now says so, never later."""
        latency = self.latency
        if latency is None or latency.took is None or self.phase == "backoff":
            # A job backing off ran past the quickest: another quick one says nothing of it.
            return due
        phase: PollPhase = "quickest"
        if self.phase == "quickest":
            sooner = self._not_before_interval(self.submitted + latency.took)
        else:
            phase, sooner = self._learned_plan(latency, latency.took)
        if sooner >= due:
            return due
        self.phase = phase
        return sooner

    def _learned_plan(self, latency: Latency, quickest: float) -> tuple[PollPhase, float]:
        """(phase, time) of this job's first poll once its kind's latency is known."""
        if self.index is None:
            self.index = latency.spread
            latency.spread += 1
        age = latency.first_age(self.index, self.interval)
        phase: PollPhase = "window" if age < quickest else "quickest"
        return phase, self._not_before_interval(self.submitted + age)

    def _not_before_interval(self, due: float) -> float:
        return due if self.polled is None else max(due, self.polled + self.interval)

    def _grown(self, backoff: float) -> float:
        return min(backoff * self.timing.poll_factor, self.timing.poll_cap)


def latency_key(request: ShotRequest) -> tuple[str, str, float, int, int]:
    return (request.provider, request.model, request.duration, request.width, request.height)


def _transient(exc: ProviderError) -> bool:
    return exc.retryable or exc.kind == "submit_unknown"


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class RenderedShot:
    """One shot (one take of it) with its clip in the cache. ``cost_usd`` is what the clip
    cost when made."""

    id: str
    hash: str
    source: Literal["generated", "cache"]
    job_id: str
    file: Path
    sha256: str
    cost_usd: float | None
    take: int = 1

    @property
    def key(self) -> str:
        return take_key(self.id, self.take)


@dataclass(frozen=True)
class Pending:
    """A shot's takes (without hashes) waiting on frames of other shots' clips."""

    requests: tuple[ShotRequest, ...]
    needs: tuple[FrameFrom, ...]


Complete = Callable[[Pending, Mapping[str, "RenderedShot"]], Sequence[ShotRequest]]
"""Turns a pending shot into hashed requests, given its parents' clips by request key."""


@dataclass(frozen=True)
class RenderReport:
    """The outcome of ``render_shots``: finished shots and failures, each in input order."""

    shots: tuple[RenderedShot, ...]
    failures: tuple[ProviderError, ...]
    submitted: int
    """Jobs submitted to providers by this run (resumed jobs are not counted)."""
    completed: Mapping[str, ShotRequest] = field(default_factory=dict)
    """The requests of pending shots as completed by this run, by request key."""

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def generated(self) -> tuple[RenderedShot, ...]:
        return tuple(s for s in self.shots if s.source == "generated")

    @property
    def cached(self) -> tuple[RenderedShot, ...]:
        return tuple(s for s in self.shots if s.source == "cache")


def _rendered(shot: ShotRequest, clip: CachedClip, source: Literal["generated", "cache"]) -> RenderedShot:
    return RenderedShot(
        id=shot.id,
        hash=clip.hash,
        source=source,
        job_id=clip.job_id,
        file=clip.file,
        sha256=clip.sha256,
        cost_usd=clip.cost_usd,
        take=shot.take,
    )


# ---------------------------------------------------------------- concurrency


def default_concurrency(provider: str) -> int:
    """Jobs in flight for a provider unless the caller says otherwise: the local
    engine two per core (it renders one per core at a time; the other waits its turn,
    so a core does not idle while a finished clip is stored); a paid provider what its
    capability record says (its documented or safe rate), else ``PAID_CONCURRENCY``."""
    if provider == LOCAL_PROVIDER:
        return 2 * max(1, os.cpu_count() or 1)
    try:
        return max(1, registry.capabilities(provider).default_concurrency)
    except (UnknownName, ConfigError):
        return PAID_CONCURRENCY


def poll_interval(provider: str, limit: int, timing: Timing) -> float:
    """The soonest one job of ``provider`` is polled again: ``Timing.poll_min``, or longer
    where the provider documents a rate for status requests (``Capabilities.poll_rate``)
    that ``limit`` jobs in flight polling that often would exceed."""
    try:
        rate = registry.capabilities(provider).poll_rate
    except (UnknownName, ConfigError):
        rate = None
    if not rate:
        return timing.poll_min
    return max(timing.poll_min, limit / rate)


def resolve_concurrency(concurrency: Concurrency, providers: Iterable[str]) -> dict[str, int]:
    """The limit per provider: one number applies to all (``--concurrency N``), a
    mapping names some, and the rest take ``default_concurrency``."""
    limits: dict[str, int] = {}
    for name in providers:
        if isinstance(concurrency, int):
            limit = concurrency
        elif concurrency is not None and name in concurrency:
            limit = concurrency[name]
        else:
            limit = default_concurrency(name)
        if limit < 1:
            raise ConfigError(f"concurrency for {name} must be at least 1, not {limit}")
        limits[name] = limit
    return limits


class _Sessions:
    """Provider sessions for one render: looked up in a mapping (the caller owns
    them) or made by a factory on first need (the engine closes them), so a
    render served from the cache never needs a paid provider's key."""

    def __init__(self, source: ProviderSource) -> None:
        self._source = source
        self._open: dict[str, Provider] = {}
        self._created: list[Provider] = []

    def open(self, names: Iterable[str]) -> None:
        for name in sorted(set(names)):
            if name in self._open:
                continue
            if isinstance(self._source, Mapping):
                if name not in self._source:
                    raise ConfigError(f"no session for provider {name!r}")
                self._open[name] = self._source[name]
            else:
                provider = self._source(name)
                self._created.append(provider)
                self._open[name] = provider

    def __getitem__(self, name: str) -> Provider:
        return self._open[name]

    async def aclose(self) -> None:
        for provider in reversed(self._created):
            with contextlib.suppress(ProviderError):
                await provider.aclose()


# ---------------------------------------------------------------- one job


class _Job:
    """The life of one request hash at one provider: submit or resume, poll, fetch, store."""

    def __init__(self, run: _Run, request: ShotRequest, provider: Provider, slot: asyncio.Semaphore) -> None:
        self.run = run
        self.request = request
        self.provider = provider
        self.slot = slot
        """Held while the job is at the provider: submitting, polling, downloading."""
        self.slot_taken = False
        self.lost = 0
        self.timing = run.timing
        self.record: JobRecord | None = None
        self.job_id: str | None = None
        self.deadline: float | None = None
        self.just_submitted = False
        self.submitted_at: float | None = None
        self.polled_at: float | None = None
        self.observed: tuple[float, float] | None = None
        self.last_progress: tuple[str, float | None] | None = None
        self.missing_noted = False
        self.claim: Claim | None = None
        self.following = False
        self.adopted_key: str | None = None

    async def render(self) -> tuple[CachedClip, Literal["generated", "cache"]]:
        try:
            return await self._render(), "generated"
        except _FoundShared as found:
            return found.clip, "cache"
        except asyncio.CancelledError:
            self._interrupted()
            await self._cancel_local_work()
            raise
        except ProviderError as exc:
            self._attribute(exc)
            if self.claim is not None and exc.kind != "timeout":
                # A definite failure: let the next render (here or elsewhere) try afresh. After a
                # timeout the job still runs: the claim stays and is taken over after its deadline.
                await asyncio.to_thread(self._shared().claims.release, self.claim)
            raise

    async def _render(self) -> CachedClip:
        download_failures = 0
        while True:
            async with self.slot:
                if not self.slot_taken:
                    self.slot_taken = True
                    self.run.check_halted(self.request)
                job_id, status = await self._succeeded()
                fetched = await _outcome(self._download(job_id, status))
            # The job is over at the provider and its clip is here: checking and storing it
            # happen outside the provider's slot, so the next shot is submitted meanwhile.
            if isinstance(fetched, Path):
                kept = await _outcome(self._keep(job_id, status, fetched))
                if isinstance(kept, CachedClip):
                    return kept
                fetched = kept
            download_failures += 1
            if not _transient(fetched) or download_failures >= self.timing.retry_attempts:
                raise fetched
            # The next loop polls again first: a fresh status carries a fresh URL.
            await self._pause(download_failures, fetched, "download")

    async def _succeeded(self) -> tuple[str, JobStatus]:
        """Submit or resume, and poll until the job succeeded; a job the provider lost is
        submitted afresh (a bounded number of times), a failed one raises."""
        while True:
            job_id = await self._ensure_job()
            status = await self._wait_for_result(job_id)
            if status.state is JobState.SUCCEEDED:
                return job_id, status
            if status.state not in (JobState.EXPIRED, JobState.SUBMIT_UNKNOWN):
                await self._end_job()
                raise self._job_error(status, job_id)
            self.lost += 1
            if self.lost > self.timing.resubmits:
                raise ProviderError(
                    f"the provider lost the job {self.lost} times", job_id=job_id, kind="expired"
                )
            if self.following:
                # Not our job: its holder resubmits; we look at the claim again.
                self.job_id, self.following, self.deadline = None, False, None
                continue
            await self._forget_job(fresh_key=status.state is JobState.EXPIRED)

    # -- submit or resume

    async def _ensure_job(self) -> str:
        if self.job_id is not None:
            return self.job_id
        record = self.record or await asyncio.to_thread(self.run.store.journal_get, self.request.hash)
        if record is not None and record.provider != self.request.provider:
            record = None
        if record is not None and record.state == "submitted" and record.job_id:
            return self._resume(record, record.job_id)
        if record is not None and record.state == "submitting" and self.record is None:
            self._warn_duplicate("an earlier render stopped while submitting this shot")
        if record is None or record.state == "ended":
            # An ended job's key would only find the dead job again: a new generation.
            generation = 0 if record is None else record.generation + 1
            record = new_job_record(self.request, generation)
        if self.run.shared is not None and self.provider.name != LOCAL_PROVIDER:
            followed = await self._arbitrate(record)
            if followed is not None:
                return followed
            if self.adopted_key is not None:
                record = replace(record, idempotency_key=self.adopted_key)
        await asyncio.to_thread(self.run.store.journal_put, record)
        self.record = record
        return await self._submit(record)

    # -- claims: the one place that decides whether this machine submits

    def _shared(self) -> SharedCache:
        assert self.run.shared is not None
        return self.run.shared

    async def _arbitrate(self, record: JobRecord) -> str | None:
        """Claim the request in the team cache before paying for it. Returns None when this
        process holds the claim (go on and submit), or the job id of another machine's job to
        follow; raises ``_FoundShared`` when the clip turned up in the team cache meanwhile."""
        shared, request = self._shared(), self.request
        waiting = False
        while True:
            outcome = await asyncio.to_thread(
                shared.claims.acquire, request.hash, request.id, request.provider, record.idempotency_key
            )
            claim = outcome.claim
            if outcome.mine:
                self.claim = claim
                # The clip may have been published (and its claim released) since we looked.
                await self._collect_shared()
                return None
            if claim.stale(time.time(), shared.claims.ttl):
                taken = await asyncio.to_thread(
                    shared.claims.take_over, claim, idempotency_key=record.idempotency_key
                )
                if taken is None:
                    continue  # another machine took it over first: look again
                self.claim, self.adopted_key = taken, taken.idempotency_key
                self.run.hook(Notice(request.key, f"took over the stale claim of {claim.holder}"))
                if taken.job_id:
                    # Its job was paid for: poll it, never submit again.
                    adopted = replace(record, idempotency_key=taken.idempotency_key)
                    adopted = mark_submitted(adopted, taken.job_id)
                    await asyncio.to_thread(self.run.store.journal_put, adopted)
                    return self._resume(adopted, taken.job_id)
                return None  # it died before its job id was known: same key, the provider dedupes
            if claim.job_id:
                self.job_id, self.following, self.just_submitted = claim.job_id, True, False
                said = f"{claim.holder} is rendering this shot; following its job {claim.job_id}"
                self.run.hook(Notice(request.key, said))
                return claim.job_id
            if not waiting:
                waiting = True
                self.run.hook(Notice(request.key, f"{claim.holder} is submitting this shot; waiting for it"))
            await self._collect_shared()
            await self.timing.sleep(self.timing.claim_wait)

    async def _collect_shared(self) -> None:
        """Raise ``_FoundShared`` if the clip is in the team cache now (releasing our claim)."""
        shared = self._shared()
        fetched = await asyncio.to_thread(shared.fetch, self.request.hash, self.run.store)
        if fetched.clip is None:
            return
        if self.claim is not None:
            await asyncio.to_thread(shared.claims.release, self.claim)
            self.claim = None
        raise _FoundShared(fetched.clip)

    async def _renew_claim(self) -> None:
        claim = self.claim
        if claim is not None and time.time() - claim.renewed_at >= self.timing.claim_renew:
            # Lost (taken over while we were slow)? Both then poll the same job: no harm.
            self.claim = await asyncio.to_thread(self._shared().claims.renew, claim)

    def _resume(self, record: JobRecord, job_id: str) -> str:
        self.record, self.job_id = record, job_id
        self.just_submitted = False
        self.run.hook(ShotSubmitted(self.request.key, self.request.provider, job_id, resumed=True))
        return job_id

    async def _submit(self, record: JobRecord) -> str:
        key = record.idempotency_key
        try:
            job_id = await self._retrying("submit", lambda: self.provider.submit(self.request, key))
        except ProviderError as exc:
            if not _transient(exc):
                # A definite refusal: no job exists, so nothing is left to resume.
                await asyncio.to_thread(self.run.store.journal_remove, self.request.hash)
            raise
        submitted_at = self.timing.clock()
        record = mark_submitted(record, job_id)
        # Durable before the first poll: from here on a crash resumes this job.
        await asyncio.to_thread(self.run.store.journal_put, record)
        self.record, self.job_id = record, job_id
        self.just_submitted = True
        self.submitted_at = submitted_at
        self.observed = (submitted_at, 0.0)
        self.run.submitted += 1
        self.run.hook(ShotSubmitted(self.request.key, self.request.provider, job_id))
        if self.claim is not None:
            self.claim = await asyncio.to_thread(self._shared().claims.record_job, self.claim, job_id)
        return job_id

    async def _forget_job(self, *, fresh_key: bool) -> None:
        """The provider no longer knows the job: submit again, under a new key if
        the old one names a dead job, else under the same key (safe to repeat)."""
        assert self.record is not None
        if fresh_key:
            record = new_job_record(self.request, self.record.generation + 1)
        else:
            record = replace(self.record, state="submitting", job_id=None)
        await asyncio.to_thread(self.run.store.journal_put, record)
        self.record, self.job_id, self.deadline, self.observed = record, None, None, None

    async def _end_job(self) -> None:
        if self.record is not None:
            await asyncio.to_thread(self.run.store.journal_put, mark_ended(self.record))

    # -- poll

    async def _wait_for_result(self, job_id: str) -> JobStatus:
        """Poll until the job is terminal (or unknown to the provider)."""
        if self.deadline is None:
            self.deadline = self.timing.clock() + self.timing.job_deadline
        # Only jobs submitted here teach or use the latency: a resumed job's age is unknown.
        latency = self.run.latency(self.request) if self.just_submitted else None
        submitted = self.submitted_at if self.submitted_at is not None else 0.0
        interval = self.run.poll_intervals.get(self.request.provider, self.timing.poll_min)
        schedule = PollSchedule(self.timing, interval, submitted, latency)
        due = schedule.start(self.timing.clock())
        self.just_submitted = False
        while True:
            await self._sleep_until(due, schedule)
            polled = self.polled_at = self.timing.clock()
            status = await self._retrying("poll", lambda: self.provider.poll(self.request, job_id))
            if latency is not None:
                if status.state is JobState.SUCCEEDED:
                    latency.learn(self.timing.clock() - submitted)  # done by the answer
                elif status.state in (JobState.QUEUED, JobState.RUNNING):
                    latency.learn_running(polled - submitted, status.progress)  # running when asked
            if status.state is JobState.MISSING:
                if self._past_retention():
                    return replace(status, state=JobState.EXPIRED)
                self._report_missing(status, job_id)
            elif status.state.terminal or status.state is JobState.SUBMIT_UNKNOWN:
                return status
            else:
                self._report_progress(status)
            await self._record_expiry(status)
            await self._renew_claim()
            now = self.timing.clock()
            if now >= self.deadline:
                unknown = " (the provider still answers that it does not know it)"
                raise ProviderError(
                    f"no result within {self.timing.job_deadline:g} s"
                    f"{unknown if status.state is JobState.MISSING else ''}; the job stays "
                    "journalled and the next render resumes it",
                    job_id=job_id,
                    kind="timeout",
                )
            due = min(schedule.after_running(polled, now, status.progress, self.observed), self.deadline)
            self._observe(now, status.progress)

    def _past_retention(self) -> bool:
        """Whether the provider may by now have forgotten the job it says it does not know."""
        record = self.record
        if record is None:
            return True
        now = self.timing.wall()
        if record.expires_at is not None:
            return now > record.expires_at
        submitted = record.submitted_at if record.submitted_at is not None else record.created_at
        return now - submitted > self.timing.job_retention

    def _report_missing(self, status: JobStatus, job_id: str) -> None:
        if self.missing_noted:
            return
        self.missing_noted = True
        said = f" ({status.error.message})" if status.error is not None else ""
        self.run.hook(
            Notice(
                self.request.id,
                f"{self.request.provider} does not know job {job_id} yet{said}; a job this young "
                "cannot have expired, so polling goes on (nothing is submitted again)",
            )
        )

    async def _record_expiry(self, status: JobStatus) -> None:
        record = self.record
        if status.expires_at is None or record is None or record.expires_at == status.expires_at:
            return
        record = replace(record, expires_at=status.expires_at)
        await asyncio.to_thread(self.run.store.journal_put, record)
        self.record = record

    async def _sleep_until(self, due: float, schedule: PollSchedule) -> None:
        """Sleep until ``due``, or less when a job of the same kind finishing meanwhile
        brings the poll forward (``PollSchedule.revise``)."""
        latency = schedule.latency
        while (wait := due - self.timing.clock()) > 0:
            if latency is None:
                await self.timing.sleep(wait)
                return
            if not await self._sleep_or_news(wait, latency):
                return
            due = schedule.revise(due)

    async def _sleep_or_news(self, wait: float, latency: Latency) -> bool:
        """Sleep ``wait``, or less if a job of the same kind finishes meanwhile (True then)."""
        news = asyncio.ensure_future(latency.news.wait())
        sleeping = asyncio.ensure_future(self.timing.sleep(wait))
        try:
            await asyncio.wait({news, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (news, sleeping):
                task.cancel()
            await asyncio.gather(news, sleeping, return_exceptions=True)
        return news.done() and not news.cancelled()

    def _observe(self, now: float, progress: float | None) -> None:
        if progress is None:
            return
        if self.observed is None or progress > self.observed[1]:
            self.observed = (now, progress)

    def _report_progress(self, status: JobStatus) -> None:
        seen = (status.state.value, status.progress)
        if seen != self.last_progress:
            self.last_progress = seen
            self.run.hook(ShotProgress(self.request.key, status.state.value, status.progress))

    # -- fetch and store

    async def _download(self, job_id: str, status: JobStatus) -> Path:
        """Fetch the finished clip to a file of ``.shotlist/downloads`` (removed if this fails)."""
        tmp = await asyncio.to_thread(self.run.store.download_path, self.request.hash)
        try:
            await self.provider.fetch(self.request, job_id, status, tmp)
            if tmp.stat().st_size == 0:
                raise ProviderError("the download is empty", job_id=job_id, kind="download", retryable=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    async def _keep(self, job_id: str, status: JobStatus, tmp: Path) -> CachedClip:
        """Check the downloaded clip and move it into the cache; the download is gone either way."""
        store = self.run.store
        # Whatever the provider's code did, only a believable price reaches the lock.
        meta = ClipMeta(job_id=job_id, provider=self.provider.name, cost_usd=reported_cost(status.cost_usd))
        # The local engine's clip is ffmpeg's own output (it exited 0): decoding it again
        # would only cost time. What crossed a network is decoded to its end.
        local = self.request.provider == LOCAL_PROVIDER
        storing = False
        try:
            async with self.run.checking:
                problem = None if local else await asyncio.to_thread(clip_problem, tmp)
                if problem is not None:
                    # Fetched again after a fresh poll (the engine's download retry), never paid again.
                    raise ProviderError(
                        f"the downloaded clip is broken: {problem}",
                        job_id=job_id,
                        kind="download",
                        retryable=True,
                    )
                # From here the worker thread owns the download: a cancellation cannot
                # stop it half-way, and the journal is only closed once the clip is in.
                storing = True
                clip = await asyncio.to_thread(_store_download, store, self.request.hash, tmp, meta)
        except BaseException:
            if not storing:
                tmp.unlink(missing_ok=True)  # noqa: ASYNC240 -- one unlink, as in _download
            raise
        await asyncio.to_thread(store.journal_remove, self.request.hash)
        if self.run.shared is not None:
            await asyncio.to_thread(self.run.shared.publish, clip)
            if self.claim is not None:
                await asyncio.to_thread(self.run.shared.claims.release, self.claim)
                self.claim = None
        self.run.hook(ShotDownloaded(self.request.key, str(clip.file)))
        return clip

    # -- retrying (the one place)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 1
        while True:
            try:
                return await call()
            except ProviderError as exc:
                if not _transient(exc) or attempt >= self.timing.retry_attempts:
                    raise
                await self._pause(attempt, exc, what)
                attempt += 1

    async def _pause(self, attempt: int, exc: ProviderError, what: str) -> None:
        if what == "submit" and exc.kind == "submit_unknown":
            self._warn_duplicate("the answer to a submit was lost")
        delay = self.timing.retry_delay(attempt, exc.retry_after)
        self.run.hook(ShotRetrying(self.request.key, attempt, delay, f"{what}: {exc.message}"))
        await self.timing.sleep(delay)

    def _warn_duplicate(self, what_happened: str) -> None:
        """Say plainly when submitting again may pay twice: a provider without idempotency
        keys names how to check (``duplicate_check``); the others dedupe or reconcile."""
        check = getattr(self.provider, "duplicate_check", None)
        if check:
            self.run.hook(
                Notice(
                    self.request.key,
                    f"{what_happened}; {self.provider.name} has no idempotency key, so submitting "
                    f"again may create a duplicate, billed job ({check})",
                )
            )

    # -- interruption and errors

    def _interrupted(self) -> None:
        """Leave the journal as the next render needs it. Synchronous on purpose: the
        task is being cancelled and must not be interrupted again half-way."""
        if self.provider.name in self.run.cancel_on_interrupt and self.record is not None:
            self.run.store.journal_put(mark_ended(self.record))

    async def _cancel_local_work(self) -> None:
        if self.provider.name not in self.run.cancel_on_interrupt or self.job_id is None:
            return
        with contextlib.suppress(ProviderError, TimeoutError):
            await asyncio.wait_for(
                self.provider.cancel(self.request, self.job_id), self.timing.cancel_timeout
            )

    def _job_error(self, status: JobStatus, job_id: str) -> ProviderError:
        if status.error is not None:
            return status.error
        if status.state is JobState.CANCELLED:
            return ProviderError("the job was cancelled at the provider", job_id=job_id, kind="cancelled")
        return ProviderError(f"the job ended {status.state.value}", job_id=job_id, kind="failed")

    def _attribute(self, exc: ProviderError) -> None:
        """Name the shot, provider and job on an error that does not yet."""
        exc.shot_id = exc.shot_id or self.request.key
        exc.provider = exc.provider or self.request.provider
        exc.job_id = exc.job_id or (self.job_id or "")


class _FoundShared(Exception):
    """The clip of a shot another machine was rendering reached the team cache."""

    def __init__(self, clip: CachedClip) -> None:
        super().__init__(clip.hash)
        self.clip = clip


async def _outcome(work: Awaitable[T]) -> T | ProviderError:
    """The result of ``work``, or the ``ProviderError`` it raised."""
    try:
        return await work
    except ProviderError as exc:
        return exc


def _store_download(store: Store, request_hash: str, tmp: Path, meta: ClipMeta) -> CachedClip:
    try:
        return store.put(request_hash, tmp, meta, move=True)
    finally:
        tmp.unlink(missing_ok=True)


def _for_shot(exc: ProviderError, shot_id: str) -> ProviderError:
    """The same failure, reported for another shot sharing the request."""
    return ProviderError(
        exc.message,
        provider=exc.provider,
        shot_id=shot_id,
        job_id=exc.job_id,
        kind=exc.kind,
        retryable=exc.retryable,
        retry_after=exc.retry_after,
    )


# ---------------------------------------------------------------- one render


@dataclass
class _Run:
    store: Store
    sessions: _Sessions
    slots: dict[str, asyncio.Semaphore]
    hook: Hook
    timing: Timing
    cancel_on_interrupt: frozenset[str]
    shared: SharedCache | None = None
    submitted: int = 0
    results: dict[str, RenderedShot] = field(default_factory=dict)
    failures: dict[str, ProviderError] = field(default_factory=dict)
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    """Set, per request key, once that request has a clip or a failure."""
    completed: dict[str, ShotRequest] = field(default_factory=dict)
    # A provider that refused the account (bad key, no balance) refuses every shot alike:
    # the rest of its shots fail at once instead of each asking again.
    halted: dict[str, ProviderError] = field(default_factory=dict)
    latencies: dict[tuple[str, str, float, int, int], Latency] = field(default_factory=dict)
    poll_intervals: dict[str, float] = field(default_factory=dict)
    """Per provider, the soonest one job is polled again (``poll_interval``)."""
    checking: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(os.cpu_count() or 1))
    """Decoding and storing finished clips, one per core: the worker threads left over keep
    the journal writes that precede a submit from queueing behind them."""

    def latency(self, request: ShotRequest) -> Latency:
        return self.latencies.setdefault(latency_key(request), Latency())

    async def render_group(self, shots: Sequence[ShotRequest]) -> None:
        """Render one request; shots sharing it (identical requests) share the clip."""
        primary = shots[0]
        job = _Job(self, primary, self.sessions[primary.provider], self.slots[primary.provider])
        try:
            clip, source = await job.render()
        except ProviderError as exc:
            if exc.kind in HALTING_KINDS:
                self.halted.setdefault(primary.provider, exc)
            for shot in shots:
                self.fail(shot, exc if shot is primary else _for_shot(exc, shot.key))
            return
        self.succeed(primary, _rendered(primary, clip, source))
        if source == "cache":
            self.hook(ShotCached(primary.key, str(clip.file)))
        for shot in shots[1:]:
            self.hook(ShotCached(shot.key, str(clip.file)))
            self.succeed(shot, _rendered(shot, clip, "cache"))

    def succeed(self, request: ShotRequest, rendered: RenderedShot) -> None:
        self.results[request.key] = rendered
        self.finished.setdefault(request.key, asyncio.Event()).set()

    def fail(self, request: ShotRequest, error: ProviderError) -> None:
        self.failures[request.key] = error
        self.hook(ShotFailed(request.key, str(error)))
        self.finished.setdefault(request.key, asyncio.Event()).set()

    async def render_pending(self, pending: Pending, complete: Complete) -> None:
        """Wait for the parents' clips (holding no slot), complete the requests, render them."""
        parents: dict[str, RenderedShot] = {}
        for need in pending.needs:
            problem = await self._parent(need, parents)
            if problem is not None:
                for request in pending.requests:
                    self.fail(request, ProviderError(problem, shot_id=request.key, kind="dependency"))
                return
        try:
            requests = await asyncio.to_thread(complete, pending, parents)
        except ShotlistError as exc:
            for request in pending.requests:
                self.fail(request, ProviderError(str(exc), shot_id=request.key, kind="dependency"))
            return
        self.completed.update({r.key: r for r in requests})
        async with asyncio.TaskGroup() as group:
            for request in requests:
                group.create_task(self._render_completed(request))

    async def _parent(self, need: FrameFrom, parents: dict[str, RenderedShot]) -> str | None:
        """Wait for one parent; the reason the shot cannot go on, if it cannot."""
        done = self.finished.get(need.key)
        if done is None:
            return (
                f"{need.where}: waits on shot {need.shot!r}, which is not rendered and not part of "
                f"this render; render it first (or add --only {need.shot})"
            )
        await done.wait()
        parent = self.results.get(need.key)
        if parent is None:
            return (
                f"{need.where}: shot {need.shot!r} failed, so it has no frame to give; nothing was submitted"
            )
        parents[need.key] = parent
        return None

    async def _render_completed(self, request: ShotRequest) -> None:
        clip, discarded = await asyncio.to_thread(self.store.check, request.hash)
        if clip is not None:
            self.hook(ShotCached(request.key, str(clip.file)))
            self.succeed(request, _rendered(request, clip, "cache"))
            return
        if discarded is not None:
            self.hook(Notice(request.key, f"{discarded}; rendering it again"))
        await self.render_group([request])

    def check_halted(self, request: ShotRequest) -> None:
        refusal = self.halted.get(request.provider)
        if refusal is not None:
            # The same words as the refusal, so the report lists these shots under it.
            raise ProviderError(
                refusal.message,
                provider=request.provider,
                shot_id=request.key,
                kind=refusal.kind,
            )


# Failures about the account, not the shot: no other shot of that provider can succeed.
HALTING_KINDS = frozenset({"auth", "balance"})


def _group_by_hash(requests: Sequence[ShotRequest]) -> dict[str, list[ShotRequest]]:
    ids: set[str] = set()
    groups: dict[str, list[ShotRequest]] = {}
    for request in requests:
        if not request.hash:
            raise ValueError(f"shot {request.key!r} has no request hash")
        if request.key in ids:
            raise ValueError(f"shot id {request.key!r} appears twice")
        ids.add(request.key)
        groups.setdefault(request.hash, []).append(request)
    return groups


async def _lookup_cache(
    store: Store,
    groups: Mapping[str, Sequence[ShotRequest]],
    hook: Hook,
    shared: SharedCache | None = None,
) -> dict[str, CachedClip]:
    """Verified cache entries by hash (sha256 checked in worker threads, in parallel); with a
    team cache, what is missing here is fetched from it (verified), and what is here but not
    there is offered to it."""
    hashes = list(groups)
    checks = await asyncio.gather(*(asyncio.to_thread(store.check, h) for h in hashes))
    found: dict[str, CachedClip] = {}
    for request_hash, (clip, discarded) in zip(hashes, checks, strict=True):
        if clip is not None:
            found[request_hash] = clip
        elif discarded is not None:
            for shot in groups[request_hash]:
                hook(Notice(shot.key, f"{discarded}; rendering it again"))
    if shared is None:
        return found
    missing = [h for h in hashes if h not in found]
    await asyncio.gather(*(asyncio.to_thread(shared.publish_if_absent, c) for c in found.values()))
    fetches = await asyncio.gather(*(asyncio.to_thread(shared.fetch, h, store) for h in missing))
    for request_hash, fetched in zip(missing, fetches, strict=True):
        if fetched.clip is not None:
            found[request_hash] = fetched.clip
        elif fetched.discarded is not None:
            for shot in groups[request_hash]:
                hook(Notice(shot.key, f"{fetched.discarded}; rendering it again"))
    return found


async def render_shots(
    requests: Sequence[ShotRequest],
    *,
    store: Store,
    providers: ProviderSource,
    concurrency: Concurrency = None,
    hook: Hook = ignore,
    frozen: bool = False,
    timing: Timing = Timing(),
    cancel_on_interrupt: frozenset[str] = frozenset({LOCAL_PROVIDER}),
    pending: Sequence[Pending] = (),
    complete: Complete | None = None,
    shared: SharedCache | None = None,
) -> RenderReport:
    """Bring every request's clip into the cache, submitting only what is missing.

    ``requests`` are fully resolved and hashed, with unique ids, in storyboard
    order. ``providers`` maps a provider name to an open session, or is a
    factory called once per provider actually needed (the engine then closes
    the sessions it made). ``concurrency`` bounds jobs in flight per provider
    (see ``resolve_concurrency``): being submitted, polled or downloaded. With
    ``frozen`` nothing is submitted: ``FrozenError`` lists every shot not in the
    cache, before any other work.
    ``shared`` is the team cache (fetched from, published to, claimed in).

    A failing shot does not stop the others: its ``ProviderError`` (naming the
    shot, provider and job) is in ``RenderReport.failures`` and the caller
    decides (the CLI raises ``RenderError``). Raises ``ConfigError`` when a
    needed provider cannot be opened, before anything is submitted.

    ``pending`` shots wait on frames of other shots' clips; ``complete`` (required
    with them) turns each into hashed requests once its parents are verified.
    """
    groups = _group_by_hash(requests)
    waiting = [r for p in pending for r in p.requests]
    if pending and complete is None:
        raise ValueError("pending shots need a complete function")
    with store.exclusive():
        store.sweep_downloads()
        for request in [*requests, *waiting]:
            hook(ShotQueued(request.key, request.provider))
        cached = await _lookup_cache(store, groups, hook, shared)
        missing = [h for h in groups if h not in cached]
        if frozen and (missing or waiting):
            raise FrozenError([shot.key for h in missing for shot in groups[h]] + [r.key for r in waiting])
        run = _Run(
            store=store,
            sessions=_Sessions(providers),
            slots={},
            hook=hook,
            timing=timing,
            cancel_on_interrupt=cancel_on_interrupt,
            finished={r.key: asyncio.Event() for r in [*requests, *waiting]},
            shared=shared,
        )
        await _report_cached(run, groups, cached)
        await _render_missing(run, [groups[h] for h in missing], concurrency, pending, complete)
    order = [r.key for r in requests] + [r.key for r in waiting]
    return RenderReport(
        shots=tuple(run.results[k] for k in order if k in run.results),
        failures=tuple(run.failures[k] for k in order if k in run.failures),
        submitted=run.submitted,
        completed=dict(run.completed),
    )


async def _report_cached(
    run: _Run, groups: Mapping[str, Sequence[ShotRequest]], cached: Mapping[str, CachedClip]
) -> None:
    for request_hash, clip in cached.items():
        # A render killed after storing a clip but before closing its journal record.
        await asyncio.to_thread(run.store.journal_remove, request_hash)
        for shot in groups[request_hash]:
            run.hook(ShotCached(shot.key, str(clip.file)))
            run.succeed(shot, _rendered(shot, clip, "cache"))


async def _render_missing(
    run: _Run,
    missing: Sequence[Sequence[ShotRequest]],
    concurrency: Concurrency,
    pending: Sequence[Pending] = (),
    complete: Complete | None = None,
) -> None:
    if not missing and not pending:
        return
    names = {shots[0].provider for shots in missing} | {r.provider for p in pending for r in p.requests}
    limits = resolve_concurrency(concurrency, names)
    run.slots.update({name: asyncio.Semaphore(limit) for name, limit in limits.items()})
    run.poll_intervals.update(
        {name: poll_interval(name, limit, run.timing) for name, limit in limits.items()}
    )
    try:
        # Every needed session opens before the first submit: a missing key
        # fails the render before anything is paid for.
        run.sessions.open(names)
        async with asyncio.TaskGroup() as group:
            for shots in missing:
                group.create_task(run.render_group(shots))
            for shot in pending:
                assert complete is not None
                group.create_task(run.render_pending(shot, complete))
    except BaseExceptionGroup as failed:
        # Only unexpected errors get here (provider failures are collected per
        # shot); hand the caller the first one rather than a group.
        raise _first_error(failed) from None
    finally:
        await run.sessions.aclose()


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first

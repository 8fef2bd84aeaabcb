"""An in-process provider double for engine tests, and a script to render with it.

``ProviderDouble`` speaks the ``Provider`` protocol like a real gateway: it
dedupes submissions by idempotency key (same key, same job), finishes a job
``latency`` seconds after it was created (reporting linear progress), and
hands out a real tiny MP4. A ``Script`` per shot id makes a shot misbehave:
submits that fail or lose their answer, scripted poll answers, downloads
that break off half-way, jobs that fail or expire. ``block_at`` stops the
double at a chosen point so a test can cancel the render exactly there.

With ``state_file`` the jobs live in a JSON file, so a second process (or a
second run after ``kill -9``) sees the jobs of the first.

Run as a script it renders N shots with a file-backed double (used by the
SIGKILL test)::

    python tests/provider_double.py --store DIR --state FILE --clip CLIP --shots 6
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shotlist.errors import ProviderError
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.providers.base import JobState, JobStatus
from shotlist.request import ShotRequest

BlockPoint = Literal["submit", "poll", "fetch"]


def make_tiny_clip(dest: Path) -> Path:
    """A real 1 s 320x180 H.264/AAC clip (testsrc2 and a sine tone)."""
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=1",
            "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(dest),
        ],
        step="making the test clip",
    )  # fmt: skip
    return dest


def make_request(
    shot_id: str, prompt: str | None = None, *, provider: str = "double", **fields: Any
) -> ShotRequest:
    """A resolved request whose hash covers every field, as planning's would."""
    values: dict[str, Any] = {
        "id": shot_id,
        "provider": provider,
        "model": "seedance-2.0",
        "prompt": prompt or f"shot {shot_id}",
        "source_prompt": prompt or f"shot {shot_id}",
        "duration": 5.0,
        "seed": 1234,
        "width": 320,
        "height": 180,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "fps": 24,
        "generate_audio": True,
    }
    values.update(fields)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    return ShotRequest(**values, hash=digest)


@dataclass
class Script:
    """How one shot's jobs misbehave; lists are consumed one call at a time."""

    submit_errors: list[ProviderError] = field(default_factory=list)
    """Raised by successive submit calls, before any job is created."""
    lost_answers: int = 0
    """Submits that create the job and then lose the answer (``submit_unknown``)."""
    polls: list[JobState | ProviderError] = field(default_factory=list)
    """The first poll answers (an error is raised); afterwards time decides."""
    fetch_errors: list[ProviderError] = field(default_factory=list)
    """Successive downloads that write half the clip and then fail with this."""
    fail: str | None = None
    """Every job of the shot ends FAILED with this message."""
    expire_jobs: int = 0
    """The first N jobs of the shot answer EXPIRED (the provider forgot them)."""
    latency: float | None = None


@dataclass
class _Job:
    job_id: str
    key: str
    shot_id: str
    created: float
    index: int
    cancelled: bool = False


class ProviderDouble:
    """A scripted, counting provider. ``submissions`` is the number of jobs created."""

    def __init__(
        self,
        clip: Path,
        *,
        name: str = "double",
        latency: float = 0.0,
        scripts: dict[str, Script] | None = None,
        state_file: Path | None = None,
        report_progress: bool = True,
        cost_usd: float | None = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.clip = clip
        self.latency = latency
        self.scripts = scripts or {}
        self.state_file = state_file
        self.report_progress = report_progress
        self.cost_usd = cost_usd
        self.clock = clock
        self.jobs: dict[str, _Job] = {}
        self.keys_seen: list[str] = []
        self.submit_calls = 0
        self.poll_calls = 0
        self.fetch_calls = 0
        self.cancelled: list[str] = []
        self.active: set[str] = set()
        self.max_active = 0
        self.closed = False
        self._blocks: dict[str, asyncio.Event] = {}
        self._load()

    # -- what tests look at

    @property
    def submissions(self) -> int:
        return len(self.jobs)

    def jobs_for(self, shot_id: str) -> list[str]:
        return [j.job_id for j in self.jobs.values() if j.shot_id == shot_id]

    def block_at(self, point: BlockPoint) -> asyncio.Event:
        """The next call reaching ``point`` sets the returned event and hangs until cancelled.

        submit: after the job is created, before the answer; poll: before
        answering; fetch: after the whole clip is written to ``dest``.
        """
        reached = asyncio.Event()
        self._blocks[point] = reached
        return reached

    # -- the protocol

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        self.submit_calls += 1
        self.keys_seen.append(idempotency_key)
        await asyncio.sleep(0)
        script = self.scripts.get(request.id, Script())
        if script.submit_errors:
            raise script.submit_errors.pop(0)
        job = self._job_for_key(idempotency_key, request.id)
        self.active.add(job.job_id)
        self.max_active = max(self.max_active, len(self.active))
        await self._maybe_block("submit")
        if script.lost_answers:
            script.lost_answers -= 1
            raise ProviderError("connection reset before the answer", kind="submit_unknown")
        return job.job_id

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        self.poll_calls += 1
        await asyncio.sleep(0)
        await self._maybe_block("poll")
        job = self.jobs.get(job_id)
        if job is None:
            return JobStatus(JobState.EXPIRED)
        script = self.scripts.get(job.shot_id, Script())
        if job.cancelled:
            return JobStatus(JobState.CANCELLED)
        if script.polls:
            answer = script.polls.pop(0)
            if isinstance(answer, ProviderError):
                raise answer
            return self._status(answer)
        if job.index < script.expire_jobs:
            return JobStatus(JobState.EXPIRED)
        latency = self.latency if script.latency is None else script.latency
        elapsed = self.clock() - job.created
        if elapsed < latency:
            progress = elapsed / latency if self.report_progress else None
            return JobStatus(JobState.RUNNING, progress=progress)
        if script.fail is not None:
            return JobStatus(JobState.FAILED, error=ProviderError(script.fail, kind="failed"))
        return self._status(JobState.SUCCEEDED)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        self.fetch_calls += 1
        await asyncio.sleep(0)
        if job_id not in self.jobs:
            raise ProviderError("no such job", kind="expired")
        script = self.scripts.get(request.id, Script())
        if script.fetch_errors:
            # A download cut off half-way: the engine must not keep it.
            data = self.clip.read_bytes()
            dest.write_bytes(data[: len(data) // 2])  # noqa: ASYNC240 - a tiny local file
            raise script.fetch_errors.pop(0)
        shutil.copyfile(self.clip, dest)
        await self._maybe_block("fetch")
        self.active.discard(job_id)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        await asyncio.sleep(0)
        if job_id in self.jobs:
            self.jobs[job_id].cancelled = True
            self.cancelled.append(job_id)
            self.active.discard(job_id)
            self._save()

    async def aclose(self) -> None:
        self.closed = True

    # -- internals

    def _status(self, state: JobState) -> JobStatus:
        if state is JobState.SUCCEEDED:
            return JobStatus(state, progress=1.0, result_url="double://clip", cost_usd=self.cost_usd)
        return JobStatus(state)

    def _job_for_key(self, key: str, shot_id: str) -> _Job:
        # Reload first: another process may have created the job (SIGKILL test).
        self._load()
        for job in self.jobs.values():
            if job.key == key:
                return job
        index = sum(1 for j in self.jobs.values() if j.shot_id == shot_id)
        job_id = f"job-{len(self.jobs) + 1:04d}"
        job = _Job(job_id, key, shot_id, self.clock(), index)
        self.jobs[job_id] = job
        self._save()
        return job

    async def _maybe_block(self, point: BlockPoint) -> None:
        reached = self._blocks.pop(point, None)
        if reached is not None:
            reached.set()
            await asyncio.Event().wait()

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        data = json.loads(self.state_file.read_text())
        self.jobs = {j["job_id"]: _Job(**j) for j in data["jobs"]}

    def _save(self) -> None:
        if self.state_file is None:
            return
        data = {"jobs": [vars(j) for j in self.jobs.values()]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)


def main(argv: list[str] | None = None) -> int:
    """Render ``--shots`` shots with a file-backed double; print the report as JSON."""
    from shotlist.engine import Timing, render_shots
    from shotlist.store.cache import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)

    double = ProviderDouble(args.clip, latency=args.latency, state_file=args.state)
    requests = [make_request(f"shot-{i}") for i in range(args.shots)]
    timing = Timing(poll_initial=0.05, poll_cap=0.2, poll_min=0.02)
    report = asyncio.run(
        render_shots(
            requests,
            store=Store(args.store),
            providers={"double": double},
            concurrency=args.concurrency,
            timing=timing,
        )
    )
    summary = {
        "submitted": report.submitted,
        "shots": [s.id for s in report.shots],
        "failures": [str(f) for f in report.failures],
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

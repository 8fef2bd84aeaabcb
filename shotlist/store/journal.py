"""The journal's records: a paid job is written here before it is polled, so a crash or
Ctrl-C never loses a job that money was spent on (``Store.journal_put`` writes them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

from shotlist.request import ShotRequest

JobPhase = Literal["submitting", "submitted", "ended"]


def idempotency_key(request_hash: str, generation: int = 0) -> str:
    """The key a job for this request is submitted under; the same on every attempt.

    ``generation`` counts fresh jobs for the same request after a provider
    forgot an earlier one (expired): the old key would only find the dead job.
    """
    key = f"shotlist-{request_hash[:32]}"
    return key if generation == 0 else f"{key}-{generation}"


@dataclass(frozen=True)
class JobRecord:
    """One journalled job.

    ``submitting`` is written before the submit call: finding it on start-up
    means the answer may have been lost, so the shot is submitted again under
    the same ``idempotency_key`` (the provider dedupes). ``submitted`` is
    written, with the job id, before polling begins: the job is resumed,
    never submitted again. ``ended`` marks a job that finished without a
    clip (failed, cancelled, forgotten): the next attempt is a new job under
    the next ``generation``'s key, since the old key would find the dead job.
    A record is removed once its clip is in the cache.
    """

    hash: str
    shot_id: str
    provider: str
    idempotency_key: str
    state: JobPhase
    job_id: str | None
    created_at: float
    updated_at: float
    generation: int = 0
    submitted_at: float | None = None
    """When the provider accepted the job (Unix time); a job younger than its
    retention cannot have been forgotten, whatever a poll answers."""
    expires_at: float | None = None
    """When the provider said it forgets the job, once a poll has said so."""


def new_job_record(request: ShotRequest, generation: int = 0) -> JobRecord:
    """The ``submitting`` record written before a request is first submitted."""
    now = time.time()
    return JobRecord(
        hash=request.hash,
        shot_id=request.id,
        provider=request.provider,
        idempotency_key=idempotency_key(request.hash, generation),
        state="submitting",
        job_id=None,
        created_at=now,
        updated_at=now,
        generation=generation,
    )


def mark_submitted(record: JobRecord, job_id: str) -> JobRecord:
    now = time.time()
    return replace(record, state="submitted", job_id=job_id, updated_at=now, submitted_at=now)


def mark_ended(record: JobRecord) -> JobRecord:
    return replace(record, state="ended", updated_at=time.time())

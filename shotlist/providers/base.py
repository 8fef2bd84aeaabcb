"""The protocol every provider speaks, its capability record, and the job state machine.

A provider turns a ``ShotRequest`` into a paid (or local) job and the job
into a clip on disk. The engine drives every provider the same way::

    job_id = await provider.submit(request, idempotency_key)   # journalled right after
    status = await provider.poll(request, job_id)               # until terminal, backing off
    await provider.fetch(request, job_id, status, dest)         # stream the result to dest
    await provider.cancel(request, job_id)                      # on Ctrl-C, best effort

Job states::

    queued -> running -> succeeded
                      \\-> failed (with a kind) | cancelled | expired
    submit_unknown: the submit may have been accepted but its answer was lost;
                    resubmitting with the same idempotency key is safe.
    missing:        the provider does not know the job right now (a 404 from a
                    replica that has not seen it yet, a proxy's error page). Not
                    terminal: the engine keeps polling, and only once the job's
                    expiry has passed does it count the job as expired.

Providers raise ``ProviderError`` (``retryable`` set for transient faults)
and nothing else; they translate their HTTP library's exceptions themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from shotlist.errors import ProviderError
from shotlist.request import ShotRequest


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SUBMIT_UNKNOWN = "submit_unknown"
    MISSING = "missing"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


@dataclass(frozen=True)
class JobStatus:
    """One answer to ``poll``. ``progress`` is 0..1 when the provider reports it."""

    state: JobState
    progress: float | None = None
    result_url: str | None = None
    error: ProviderError | None = None
    cost_usd: float | None = None
    expires_at: float | None = None
    """When the provider says it forgets the job (Unix time), if it says."""


MAX_REPORTED_COST_USD = 10_000.0
"""No one clip costs more: a larger reported cost is a provider's mistake, not a price."""


def reported_cost(value: object) -> float | None:
    """A cost a provider reported, as dollars, or None when it is not a believable price
    (not a number, NaN, infinite, negative or absurd): the lock and ``--json`` record it,
    and JSON has no NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = float(value)
    except ValueError:
        return None
    return cost if math.isfinite(cost) and 0 <= cost <= MAX_REPORTED_COST_USD else None


@runtime_checkable
class Provider(Protocol):
    """A session with one provider; ``aclose`` ends it (one HTTP client per session)."""

    name: str

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Create the job; return its id. Same key, same job, where the provider allows."""
        ...

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        """The job's current state."""
        ...

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        """Write the finished clip to ``dest`` (complete, or not at all)."""
        ...

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Ask the provider to stop the job; best effort."""
        ...

    async def aclose(self) -> None:
        """Release the session's resources."""
        ...

"""Claims: two machines never pay for the same shot.

Before a paid job is submitted, the renderer creates ``claims/<hash>.json`` in the team
cache, create-only. Exactly one machine succeeds: it submits, then writes the job id into
its claim (compare-and-swap on the claim's etag) and renews the claim while it polls.
Everyone else reads the claim instead of submitting::

    claim has a job id                 -> poll that job at the provider (it is the same account)
    claim has no job id yet            -> wait: the clip or the job id shows up soon
    claim not renewed for ``ttl`` s    -> its holder died: take it over (compare-and-swap),
                                          poll its job, or submit under its idempotency key
                                          (the provider dedupes: never a second job)
    claim gone                         -> the holder gave up (a definite failure): claim afresh

The holder deletes its claim once the clip is in the team cache or the job failed for
good; a render interrupted mid-job leaves the claim (the job goes on being paid for),
and whoever comes next takes it over after the deadline and collects the job.

A claim holds the shot id, provider, idempotency key, job id and who holds it (host,
process, a random tag): never a credential. Times are wall-clock seconds, compared
across machines: keep their clocks in sync (NTP) well within ``ttl``.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from shotlist.store.backend import ObjectStore

CLAIM_TTL = 600.0
"""Seconds without renewal after which a claim's holder counts as dead."""


def claim_key(request_hash: str) -> str:
    return f"claims/{request_hash}.json"


def holder_name() -> str:
    """Who this process is, in a claim: host, process id and a random tag (unique per run)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claim:
    hash: str
    shot_id: str
    provider: str
    idempotency_key: str
    holder: str
    claimed_at: float
    renewed_at: float
    job_id: str | None = None
    etag: str = ""

    def stale(self, now: float, ttl: float) -> bool:
        return now - self.renewed_at > ttl

    def to_bytes(self) -> bytes:
        record = asdict(self)
        del record["etag"]
        return (json.dumps(record, sort_keys=True, indent=2) + "\n").encode()


def _parse(data: bytes, etag: str) -> Claim | None:
    try:
        record: Any = json.loads(data)
        return Claim(**record, etag=etag)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Outcome:
    """The result of ``Claims.acquire``: ``claim`` is what is in the bucket now; ``mine``
    says whether this process holds it."""

    claim: Claim
    mine: bool


class Claims:
    """Claims in one object store, made and held by one ``holder``. Blocking calls."""

    def __init__(self, objects: ObjectStore, holder: str | None = None, ttl: float = CLAIM_TTL) -> None:
        self.objects = objects
        self.holder = holder or holder_name()
        self.ttl = ttl

    def acquire(self, request_hash: str, shot_id: str, provider: str, idempotency_key: str) -> Outcome:
        """Create the claim, or read the one in the way."""
        now = time.time()
        mine = Claim(request_hash, shot_id, provider, idempotency_key, self.holder, now, now)
        while True:
            etag = self.objects.create(claim_key(request_hash), mine.to_bytes())
            if etag is not None:
                return Outcome(replace(mine, etag=etag), True)
            theirs = self.read(request_hash)
            if theirs is not None:
                return Outcome(theirs, theirs.holder == self.holder)
            # Released between our create and our read: try again.

    def read(self, request_hash: str) -> Claim | None:
        blob = self.objects.read(claim_key(request_hash))
        if blob is None:
            return None
        claim = _parse(blob.data, blob.etag)
        if claim is None:
            # Unreadable (not ours to guess at): treat as a dead holder's, so it is taken over.
            return Claim(request_hash, "", "", "", "unreadable claim", 0.0, 0.0, None, blob.etag)
        return claim

    def record_job(self, claim: Claim, job_id: str) -> Claim | None:
        """Write the job id into our claim; None if the claim is no longer ours."""
        return self._swap(claim, replace(claim, job_id=job_id, renewed_at=time.time()))

    def renew(self, claim: Claim) -> Claim | None:
        return self._swap(claim, replace(claim, renewed_at=time.time()))

    def take_over(self, claim: Claim, *, idempotency_key: str) -> Claim | None:
        """Make a dead holder's claim ours, keeping its job id and its idempotency key (or
        ``idempotency_key`` if it recorded none). None when another machine was quicker."""
        now = time.time()
        ours = replace(
            claim,
            holder=self.holder,
            renewed_at=now,
            claimed_at=claim.claimed_at or now,
            idempotency_key=claim.idempotency_key or idempotency_key,
        )
        return self._swap(claim, ours)

    def release(self, claim: Claim) -> None:
        """Delete our claim, if it is still ours."""
        current = self.read(claim.hash)
        if current is not None and current.holder == self.holder:
            self.objects.delete(claim_key(claim.hash))

    def _swap(self, old: Claim, new: Claim) -> Claim | None:
        etag = self.objects.replace(claim_key(old.hash), new.to_bytes(), etag=old.etag)
        return None if etag is None else replace(new, etag=etag)

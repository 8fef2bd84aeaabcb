"""Planning and rendering a batch (``--matrix rows.csv``): every row's plan, the requests they
share rendered once through the one engine path, then one cut per row.

Without ``cluster`` the rows' cuts are stitched here, ``concurrency`` at a time (default:
one per core). With ``cluster`` (``--cluster ADDRESS`` or ``RAY_ADDRESS``) the local previz
renders and the stitches run as Ray tasks (batch/cluster.py); paid shots still go through
the engine here, with its journal, and the team cache's claims when there is one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from shotlist import pipeline
from shotlist.batch.matrix import MatrixPlan, Row, RowPlan, check_outputs, check_supported, read_rows
from shotlist.engine import ProviderSource, RenderedShot, Timing, render_shots
from shotlist.errors import Problem, ProviderError, RenderError, ShotlistError, StoryboardError
from shotlist.events import Hook, RowFinished, ignore
from shotlist.planner import estimate_cost
from shotlist.providers import capabilities as caps
from shotlist.providers.base import JobStatus, Provider
from shotlist.request import ShotRequest
from shotlist.store.cache import Store, store_root

RAY_ADDRESS_ENV = "RAY_ADDRESS"


def plan_matrix(
    file: Path,
    matrix: Path,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    allow_outside: bool = False,
    budget: float | None = None,
    env: Mapping[str, str] | None = None,
    cache: str | None = None,
) -> MatrixPlan:
    """Plan every row of ``matrix`` against ``file``; check the budget against the requests
    the rows need, each once. Submits nothing, writes nothing."""
    from shotlist.storyboard.expand import template_variables
    from shotlist.storyboard.loader import parse_var_overrides
    from shotlist.storyboard.source import load_yaml, read_text

    environ = os.environ if env is None else env
    document, _ = load_yaml(read_text(file, str(file)), str(file))
    rows = read_rows(matrix, template_variables(document))
    base = dict(overrides) if isinstance(overrides, Mapping) else parse_var_overrides(list(overrides))
    plans = []
    for row in rows:
        try:
            result = pipeline.plan(
                file,
                overrides={**base, **row.values},
                provider=provider,
                allow_outside=allow_outside,
                env=environ,
                cache=cache,
            )
        except StoryboardError as exc:
            raise StoryboardError(_in_row(p, row) for p in exc.problems) from exc
        plans.append(RowPlan(row, result, pipeline.cut_output(result, None)))
    check_outputs(plans)
    check_supported(plans)
    batch = MatrixPlan(tuple(plans))
    pipeline.check_budget(batch.total_estimated_cost_usd, budget)
    return batch


def _in_row(problem: Problem, row: Row) -> Problem:
    return replace(problem, message=f"{problem.message} ({row.label} of the matrix)")


@dataclass(frozen=True)
class RowResult:
    row: Row
    output: Path
    shots: tuple[RenderedShot, ...]
    error: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: each row's cut, the jobs submitted, and what the cache saved."""

    plan: MatrixPlan
    rows: tuple[RowResult, ...]
    submitted: int
    distinct: int
    cache_hits: int
    """Distinct requests that came from a cache (local or team) instead of a provider."""
    cost_usd: float
    """Estimated cost of the requests rendered by this batch, each once."""

    def to_json(self) -> dict[str, object]:
        return {
            "rows": [
                {
                    "row": r.row.number,
                    "output": str(r.output),
                    "error": r.error,
                    "shots": [{"id": s.id, "hash": s.hash, "source": s.source} for s in r.shots],
                }
                for r in self.rows
            ],
            "shots": self.plan.shots,
            "distinct_requests": self.distinct,
            "submitted": self.submitted,
            "cache_hits": self.cache_hits,
            "estimated_cost_usd": round(self.cost_usd, 4),
        }


def render_matrix(
    file: Path,
    matrix: Path,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    concurrency: int | None = None,
    budget: float | None = None,
    frozen: bool = False,
    allow_outside: bool = False,
    hook: Hook = ignore,
    env: Mapping[str, str] | None = None,
    providers: ProviderSource | None = None,
    timing: Timing | None = None,
    cache: str | None = None,
    cluster: str | None = None,
) -> BatchResult:
    """``arender_matrix`` for callers without an event loop (it runs one)."""
    return asyncio.run(
        arender_matrix(
            file,
            matrix,
            overrides=overrides,
            provider=provider,
            concurrency=concurrency,
            budget=budget,
            frozen=frozen,
            allow_outside=allow_outside,
            hook=hook,
            env=env,
            providers=providers,
            timing=timing,
            cache=cache,
            cluster=cluster,
        )
    )


async def arender_matrix(
    file: Path,
    matrix: Path,
    *,
    overrides: Sequence[str] | Mapping[str, object] = (),
    provider: str | None = None,
    concurrency: int | None = None,
    budget: float | None = None,
    frozen: bool = False,
    allow_outside: bool = False,
    hook: Hook = ignore,
    env: Mapping[str, str] | None = None,
    providers: ProviderSource | None = None,
    timing: Timing | None = None,
    cache: str | None = None,
    cluster: str | None = None,
) -> BatchResult:
    """Render one cut per row of ``matrix``: plan every row, render each distinct request once,
    stitch every row whose shots all rendered (``RowFinished`` per row), then raise
    ``RenderError`` if any shot failed. The storyboard's lock is not written (it records one
    cut, and a batch makes many)."""
    environ = os.environ if env is None else env
    address = cluster or environ.get(RAY_ADDRESS_ENV) or None
    batch = await pipeline.in_thread(
        plan_matrix,
        file,
        matrix,
        overrides=overrides,
        provider=provider,
        allow_outside=allow_outside,
        budget=budget,
        env=environ,
        cache=cache,
    )
    pool = None
    if address is not None:
        from shotlist.batch.cluster import RayPool

        pool = await pipeline.in_thread(RayPool.connect, address)
    store = Store(store_root(batch.rows[0].plan.loaded.path, environ))
    shared = pipeline.team_cache(cache, environ)
    requests, originals = engine_requests(batch)
    base = providers or pipeline.provider_factory(store, environ)
    report = await render_shots(
        requests,
        store=store,
        providers=_BatchSessions(base, originals, pool).open,
        concurrency=concurrency,
        hook=hook,
        frozen=frozen,
        timing=timing or Timing(),
        shared=shared,
    )
    clips = {s.hash: s for s in report.shots}
    by_key = {r.key: r.hash for r in requests}
    failed = {by_key[f.shot_id]: f for f in report.failures if f.shot_id in by_key}
    limit = concurrency or max(1, os.cpu_count() or 1)
    slots = asyncio.Semaphore(limit)

    first_use: dict[str, int] = {}
    for row in batch.rows:
        for shot in row.plan.shots:
            first_use.setdefault(shot.request.hash, row.row.number)

    async def one_row(row: RowPlan) -> RowResult:
        # A shot generated by this batch counts as rendered for the first row that uses it.
        own = {h for h, n in first_use.items() if n == row.row.number and h in clips}
        new = {h for h in own if clips[h].source == "generated"}
        async with slots:
            return await _finish_row(row, clips, new, failed, store, pool, hook)

    # The first row's cut normalizes the shots every row shares; the others then find them
    # in the stitch cache instead of racing each other to build the same pieces.
    first = await one_row(batch.rows[0])
    rows = [first, *await asyncio.gather(*(one_row(r) for r in batch.rows[1:]))]
    generated = {s.hash for s in report.shots if s.source == "generated"}
    result = BatchResult(
        plan=batch,
        rows=tuple(rows),
        submitted=report.submitted,
        distinct=len(requests),
        cache_hits=len(clips) - len(generated),
        cost_usd=sum(estimate_cost(originals[h]) for h in generated),
    )
    if report.failures:
        raise RenderError(report.failures, partial=result)
    return result


def engine_requests(batch: MatrixPlan) -> tuple[list[ShotRequest], dict[str, ShotRequest]]:
    """One request per distinct hash (every take of every shot), under a name unique in the batch
    (``shot@row 3`` when rows give one shot different requests), and the original request behind
    each hash: providers receive the original (the local engine captions the shot id)."""
    requests: list[ShotRequest] = []
    originals: dict[str, ShotRequest] = {}
    keys: set[str] = set()
    for row in batch.rows:
        for shot in row.plan.shots:
            for request in shot.requests:
                if request.hash in originals:
                    continue
                originals[request.hash] = request
                renamed = (
                    request
                    if request.key not in keys
                    else replace(request, id=f"{request.id}@{row.row.label}")
                )
                keys.add(renamed.key)
                requests.append(renamed)
    return requests, originals


async def _finish_row(
    row: RowPlan,
    clips: Mapping[str, RenderedShot],
    new: set[str],
    failed: Mapping[str, ProviderError],
    store: Store,
    pool: object,
    hook: Hook,
) -> RowResult:
    shots = tuple(
        replace(
            clips[s.request.hash], id=s.request.id, source="generated" if s.request.hash in new else "cache"
        )
        for s in row.plan.shots
        if s.request.hash in clips
    )
    rendered = sum(1 for s in shots if s.source == "generated")
    cost = sum(estimate_cost(s.request) for s in row.plan.shots if s.status != "cached")
    error = None
    missing = [s.request.id for s in row.plan.shots if s.request.hash not in clips]
    if missing:
        reasons = {str(failed[s.request.hash].message) for s in row.plan.shots if s.request.hash in failed}
        error = f"shots not rendered: {', '.join(missing)}" + (
            f" ({'; '.join(sorted(reasons))})" if reasons else ""
        )
    else:
        verified = {s.hash: (s.file, s.sha256) for s in shots}
        try:
            if pool is not None:
                from shotlist.batch.cluster import RayPool

                assert isinstance(pool, RayPool)
                await pool.stitch(row.plan, verified, row.output, store.root)
            else:
                await pipeline.in_thread(
                    pipeline.stitch_plan, row.plan, store, output=row.output, hook=ignore, verified=verified
                )
        except ShotlistError as exc:
            error = str(exc)
    hook(
        RowFinished(
            "",
            row=row.row.label,
            output=str(row.output),
            shots=len(row.plan.shots),
            rendered=rendered,
            cached=len(shots) - rendered,
            cost_usd=cost,
            error=error or "",
        )
    )
    return RowResult(row.row, row.output, shots, error)


class _BatchSessions:
    """Provider sessions for a batch: each receives the original request behind a batch id (the
    local engine captions the shot id), and with a cluster the local engine runs on Ray."""

    def __init__(self, base: ProviderSource, originals: Mapping[str, ShotRequest], pool: object) -> None:
        self.base = base
        self.originals = originals
        self.pool = pool

    def open(self, name: str) -> Provider:
        if name == caps.LOCAL_PROVIDER and self.pool is not None:
            from shotlist.batch.cluster import RayPool

            assert isinstance(self.pool, RayPool)
            return _Originals(self.pool.local_provider(), self.originals, owned=True)
        if isinstance(self.base, Mapping):
            return _Originals(self.base[name], self.originals, owned=False)
        return _Originals(self.base(name), self.originals, owned=True)


class _Originals:
    def __init__(self, inner: Provider, originals: Mapping[str, ShotRequest], *, owned: bool) -> None:
        self.inner = inner
        self.owned = owned
        self.name = inner.name
        self.originals = originals

    def _original(self, request: ShotRequest) -> ShotRequest:
        return self.originals.get(request.hash, request)

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        return await self.inner.submit(self._original(request), idempotency_key)

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        return await self.inner.poll(self._original(request), job_id)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        await self.inner.fetch(self._original(request), job_id, status, dest)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        await self.inner.cancel(self._original(request), job_id)

    async def aclose(self) -> None:
        if self.owned:  # a session the caller passed in is the caller's to close
            await self.inner.aclose()

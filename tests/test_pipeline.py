"""The one render path: plan, the CLI's render and watch mode agree on money, the lock and
the clips (each drift found between them is pinned here)."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from lumenfall_server import LumenfallServer

from shotlist import files, pipeline
from shotlist.engine import Timing
from shotlist.errors import BudgetError, RenderError
from shotlist.watchmode.session import WatchOptions, watch

# Whole renders, stitches, servers or subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

KEY = "sk-lf-pipeline-test-77aa"

TWINS = """\
    version: 1
    defaults: {provider: lumenfall, duration: 4, resolution: 480p}
    shots:
      - id: x
        prompt: The same wave breaking on the same rock
        seed: 5
      - id: y
        prompt: The same wave breaking on the same rock
        seed: 5
    cut: {size: 320x180, fps: 12, loudness: null}
    """


@pytest.fixture
def lumenfall() -> Iterator[LumenfallServer]:
    with LumenfallServer(api_key=KEY, polls_to_complete=1, clip_seconds_cap=1.0) as server:
        yield server


def write(folder: Path, text: str) -> Path:
    path = folder / "film.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def paid_env(server: LumenfallServer, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LUMENFALL_API_KEY": KEY,
        "LUMENFALL_BASE_URL": server.base_url,
        "SHOTLIST_CACHE_DIR": str(cache),
    }


def test_two_identical_paid_shots_plan_at_the_price_of_one(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = write(tmp_path, TWINS)
    env = paid_env(lumenfall, tmp_path / "cache")
    result = pipeline.plan(film, env=env)
    price = result.shots[0].estimated_cost_usd
    assert price > 0
    assert result.shots[1].estimated_cost_usd == 0
    assert result.shots[1].same_as == "x"
    assert result.total_estimated_cost_usd == pytest.approx(price)
    assert result.to_json()["shots"][1]["same_request_as"] == "x"
    # A budget between one and two prices: plan and render both allow it; one job is paid.
    budget = round(1.5 * price, 2)
    pipeline.plan(film, env=env, budget=budget)
    with pytest.raises(BudgetError):
        pipeline.plan(film, env=env, budget=round(0.5 * price, 2))
    rendered = pipeline.render(film, env=env, budget=budget, timing=Timing.instant())
    assert lumenfall.jobs_created == 1
    assert rendered.submitted == 1
    assert rendered.output is not None


async def test_watch_spends_what_plan_says_for_identical_shots(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = write(tmp_path, TWINS)
    env = paid_env(lumenfall, tmp_path / "cache")
    price = pipeline.plan(film, env=env).total_estimated_cost_usd
    stop = asyncio.Event()
    options = WatchOptions(budget=round(1.5 * price, 2))
    async for cycle in watch(film, options, env=env, stop_event=stop, timing=Timing.instant()):
        stop.set()
        assert cycle.outcome == "built", cycle.errors
        assert cycle.spent_usd == pytest.approx(price)
        assert sum(v.to_pay_usd for v in cycle.shots) == pytest.approx(price)
    assert lumenfall.jobs_created == 1


async def test_a_first_render_that_all_failed_writes_no_lock_in_render_or_watch(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = write(tmp_path, TWINS.replace("seed: 5", "seed: 6"))
    env = paid_env(lumenfall, tmp_path / "cache")
    lumenfall.fail_jobs("refused by the content policy", times=2)
    with pytest.raises(RenderError):
        await pipeline.arender(film, env=env, timing=Timing.instant())
    assert not (tmp_path / "film.lock").exists()

    lumenfall.fail_jobs("refused by the content policy", times=2)
    stop = asyncio.Event()
    async for cycle in watch(film, WatchOptions(), env=env, stop_event=stop, timing=Timing.instant()):
        stop.set()
        assert cycle.outcome == "failed"
    assert not (tmp_path / "film.lock").exists()


LOCAL = """\
    version: 1
    defaults: {duration: 1, size: 320x180, seed: 3}
    shots:
      - id: a
        prompt: A red kite over the dunes
      - id: b
        prompt: A blue boat in the harbour
    cut: {size: 320x180, fps: 12, loudness: null}
    """


@pytest.mark.e2e
@pytest.mark.parametrize("path", ["render", "watch"])
async def test_each_clip_is_hashed_once_per_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    film = write(tmp_path, LOCAL)
    env = {**os.environ, "SHOTLIST_CACHE_DIR": str(tmp_path / "cache")}
    hashed: Counter[str] = Counter()
    real = files.sha256_file

    def counting(file: Path) -> str:
        hashed[Path(file).name] += 1
        return real(file)

    monkeypatch.setattr(files, "sha256_file", counting)
    if path == "render":
        result = await pipeline.arender(film, env=env)
        assert result.output is not None
    else:
        stop = asyncio.Event()
        async for cycle in watch(film, WatchOptions(), env=env, stop_event=stop):
            stop.set()
            assert cycle.outcome == "built", cycle.errors
    # Two new clips: the store hashes each once as it takes it in; the cut trusts that.
    assert sorted(hashed.values()) == [1, 1], hashed

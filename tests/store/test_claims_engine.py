"""The engine with a team cache, in process and fast: two "machines" (two stores, two claim
holders, one folder as the team cache) rendering the same shots at once through one counting
provider double. Each shot is submitted once; whoever did not submit followed the other's job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from provider_double import ProviderDouble, make_request, make_tiny_clip

from shotlist.engine import Timing, render_shots
from shotlist.events import Event, Notice
from shotlist.store.cache import Store
from shotlist.store.claims import Claims
from shotlist.store.folder import FolderObjects
from shotlist.store.shared import SharedCache


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


def machine(tmp_path: Path, name: str, ttl: float = 600.0) -> tuple[Store, SharedCache]:
    objects = FolderObjects(tmp_path / "team")
    return Store(tmp_path / name), SharedCache(objects, Claims(objects, holder=name, ttl=ttl))


async def test_two_machines_at_once_submit_each_shot_once(tmp_path: Path, clip: Path) -> None:
    double = ProviderDouble(clip, latency=0.2)
    requests = [make_request(f"s{n}") for n in range(6)]
    (store_a, team_a), (store_b, team_b) = machine(tmp_path, "a"), machine(tmp_path, "b")
    events: list[Event] = []

    def render(store: Store, team: SharedCache) -> asyncio.Future[object]:
        return asyncio.ensure_future(
            render_shots(
                requests,
                store=store,
                providers={"double": double},
                timing=Timing.instant(),
                shared=team,
                hook=events.append,
            )
        )

    first, second = await asyncio.gather(render(store_a, team_a), render(store_b, team_b))

    assert double.submissions == 6
    assert double.submit_calls == 6  # never sent twice, not merely deduped
    assert first.submitted + second.submitted == 6  # type: ignore[attr-defined]
    assert len(first.shots) == len(second.shots) == 6  # type: ignore[attr-defined]
    assert any(isinstance(e, Notice) and "following its job" in e.message for e in events)
    assert not list((tmp_path / "team" / "claims").glob("*.json"))

    third_store, third_team = machine(tmp_path, "c")
    third = await render_shots(
        requests, store=third_store, providers={"double": double}, timing=Timing.instant(), shared=third_team
    )
    assert third.submitted == 0
    assert {s.source for s in third.shots} == {"cache"}
    assert double.submissions == 6


async def test_a_refused_shot_releases_its_claim(tmp_path: Path, clip: Path) -> None:
    from provider_double import Script

    from shotlist.errors import ProviderError

    request = make_request("bad")
    refusing = ProviderDouble(
        clip, scripts={"bad": Script(submit_errors=[ProviderError("no", kind="invalid")])}
    )
    store, team = machine(tmp_path, "a")
    report = await render_shots(
        [request], store=store, providers={"double": refusing}, timing=Timing.instant(), shared=team
    )
    assert [f.kind for f in report.failures] == ["invalid"]
    assert not list((tmp_path / "team" / "claims").glob("*.json"))

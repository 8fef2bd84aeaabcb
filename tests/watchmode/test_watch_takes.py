"""The watch page's takes and pick button, through the page server over HTTP: a pick edits
the storyboard as ``shotlist pick`` does and the next cycle restitches, submitting nothing."""

from __future__ import annotations

import asyncio
import http.client
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from test_watch import get, storyboard, watching

from shotlist import pipeline
from shotlist.watchmode.server import PreviewServer, PreviewState
from shotlist.watchmode.session import CutReady, CyclePlanned, ShotView, TakeView, WatchOptions

TAKES = """\
    version: 1
    title: Takes
    defaults: {duration: 1, size: 320x180, seed: 5}
    shots:
      - id: storm   # the one with takes
        prompt: Waves break
        takes: 3
      - id: calm
        prompt: A calm sea
    cut: {size: 320x180, fps: 12, loudness: null}
    """


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) as connection:
        connection.request("POST", "/pick", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type") or ""
        return response.status, json.loads(data) if kind.startswith("application/json") else data.decode()


JSON = {"Content-Type": "application/json"}


@pytest.mark.e2e
async def test_the_pick_button_edits_the_storyboard_and_the_cut_follows(tmp_path: Path) -> None:
    film = storyboard(tmp_path, seed=5, text=TAKES)
    original = film.read_text()

    def pick(shot: str, take: int) -> object:
        return pipeline.pick(film, shot, take)

    env = {"SHOTLIST_CACHE_DIR": str(tmp_path / "cache")}
    with PreviewServer(0, pick=pick) as server:
        async with watching(film, WatchOptions(page_assets=True), also=server.hook, env=env) as session:
            first = await session.next_cycle()
            assert first.ok
            assert sorted(first.rendered) == ["calm", "storm", "storm#2", "storm#3"]
            state = json.loads(get(server.port, "/state")[2])
            storm = state["shots"][0]
            assert storm["pick"] == 1
            assert [t["take"] for t in storm["takes"]] == [1, 2, 3]
            assert all(t["thumb"] == f"/thumb/{t['hash']}.jpg" for t in storm["takes"])
            assert len({t["seed"] for t in storm["takes"]}) == 3
            [first_cut] = session.of(first.number, CutReady)

            status, answer = await asyncio.to_thread(
                post, server.port, json.dumps({"shot": "storm", "take": 3}).encode(), JSON
            )
            assert (status, answer) == (200, {"ok": True, "shot": "storm", "take": 3})
            assert film.read_text() == original.replace("    takes: 3\n", "    takes: 3\n    pick: 3\n")

            second = await session.next_cycle()
            assert second.ok
            assert second.rendered == ()  # nothing submitted: every take was rendered
            [second_cut] = session.of(second.number, CutReady)
            assert second_cut.version != first_cut.version
            state = json.loads(get(server.port, "/state")[2])
            assert state["shots"][0]["pick"] == 3
            assert state["shots"][0]["hash"] == state["shots"][0]["takes"][2]["hash"]

            status, answer = await asyncio.to_thread(
                post, server.port, json.dumps({"shot": "storm", "take": 9}).encode(), JSON
            )
            assert status == 422
            assert answer["ok"] is False
            assert "take 9 is out of range: shot 'storm' has 3 takes" in answer["error"]


def test_a_pick_must_be_same_origin_json() -> None:
    picked: list[tuple[str, int]] = []

    def pick(shot: str, take: int) -> object:
        picked.append((shot, take))
        return None

    with PreviewServer(0, pick=pick) as server:
        body = json.dumps({"shot": "storm", "take": 2}).encode()
        port = server.port
        assert post(port, body, {"Content-Type": "text/plain"})[0] == 415  # what a cross-site form can send
        assert post(port, body, {**JSON, "Origin": "https://attacker.example"})[0] == 403
        assert post(port, body, {**JSON, "Host": "attacker.example"})[0] == 421
        assert post(port, b'{"shot": "storm", "take": "2"}', JSON)[0] == 400
        assert post(port, body, {**JSON, "Origin": f"http://127.0.0.1:{port}"}) == (
            200,
            {"ok": True, "shot": "storm", "take": 2},
        )
    assert picked == [("storm", 2)]
    with PreviewServer(0) as server:
        assert post(server.port, body, JSON)[0] == 501  # a server given no way to pick


def test_take_events_move_their_take_and_the_picked_one_moves_the_shot() -> None:
    from shotlist.events import ShotCached, ShotProgress

    takes = tuple(TakeView(k, str(k) * 64, k, "new") for k in (1, 2))
    view = ShotView(
        "storm", "2" * 64, "new", "local", "previz", "Waves", 2, 1.0, 0.0, 0.0, pick=2, takes=takes
    )
    state = PreviewState()
    state.apply(CyclePlanned("", 1, "Film", (view,), False, 0.0, None))
    state.apply(ShotCached("storm", "clip-1.mp4"))
    state.apply(ShotProgress("storm#2", "running", 0.5))
    shot = json.loads(state.snapshot()[1])["shots"][0]
    assert [(t["take"], t["state"]) for t in shot["takes"]] == [(1, "cached"), (2, "rendering")]
    assert (shot["state"], shot["progress"]) == ("rendering", 0.5)

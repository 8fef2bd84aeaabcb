"""Issue 15's check through the command line, for each route without a gateway: ``shotlist
render`` against a real HTTP server speaking fal's, Ark's or Replicate's protocol on
127.0.0.1 (tests/fal_server.py, ark_server.py, replicate_server.py), under faults, killed
part-way, and with a refused generation.

What is pinned is what a user and their bill notice: how many jobs each route created
(Ark exactly one per shot, since a lost answer is found again in its task list; fal and
Replicate at most one extra per lost answer, and the output says so), the prompts in
each route's token form, a complete cut, and the key nowhere on disk or screen.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ark_server import ArkServer
from fal_server import FalServer
from render_helpers import (
    Run,
    assert_cut,
    assert_lock_matches_cache,
    finished_clips,
    journal,
    make_image,
    part_way,
    shotlist,
    signal_when,
    start,
    write,
)
from replicate_server import ReplicateServer

from shotlist.media.probe import probe

# Whole renders, servers and subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

IDS = [f"s{n:02d}" for n in range(12)]
DUPLICATE_NOTE = "has no idempotency key, so submitting again may create a duplicate, billed job"


@dataclass(frozen=True)
class Route:
    name: str
    server: Callable[..., Any]
    key: str
    key_env: str
    base_env: str
    first_token: str  # how the prompt names the first image
    idempotent: bool  # may a lost answer cost an extra job?

    def env(self, server: Any, key: str | None = None) -> dict[str, str]:
        return {self.base_env: server.base_url, self.key_env: key or self.key}

    def prompt(self, job: Any) -> str:
        body = job.body
        if self.name == "ark":
            return next(str(item["text"]) for item in body["content"] if item["type"] == "text")
        if self.name == "replicate":
            return str(body["input"]["prompt"])
        return str(body["prompt"])

    def image_count(self, job: Any) -> int:
        body = job.body
        if self.name == "ark":
            return sum(1 for item in body["content"] if item.get("role") == "reference_image")
        if self.name == "replicate":
            return len(body["input"].get("reference_images", []))
        return len(body.get("image_urls", []))


ROUTES = {
    "fal": Route("fal", FalServer, "fal-key-5a0c:9b1e77f0d2", "FAL_KEY", "FAL_BASE_URL", "@Image1", False),
    "ark": Route("ark", ArkServer, "ark-9f3e1c0a-77d2-4b1e", "ARK_API_KEY", "ARK_BASE_URL", "Image 1", True),
    "replicate": Route(
        "replicate",
        ReplicateServer,
        "r8_route0123456789abcdefXYZ",
        "REPLICATE_API_TOKEN",
        "REPLICATE_BASE_URL",
        "[Image1]",
        False,
    ),
}


@pytest.fixture(params=list(ROUTES))
def route(request: pytest.FixtureRequest) -> Route:
    return ROUTES[request.param]


@pytest.fixture
def server(route: Route) -> Iterator[Any]:
    with route.server(api_key=route.key, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


def twelve_shots(folder: Path, provider: str) -> Path:
    """Twelve Seedance shots: text only, two numbered image references, a named one,
    durations of 4 and 5 s, explicit and derived seeds."""
    make_image(folder / "refs" / "keeper.png", "yellow")
    make_image(folder / "refs" / "tower.png", "white", size="36x64")
    shots = []
    for n, sid in enumerate(IDS):
        lines = [f"  - id: {sid}"]
        if n % 4 == 0:
            lines += [f"    prompt: The keeper @Image1 climbs toward @Image2, take {n}"]
            lines += ["    images: [refs/keeper.png, refs/tower.png]"]
        elif n % 4 == 1:
            lines += [f"    prompt: '@keeper watches the storm from the gallery, take {n}'"]
        else:
            lines += [f"    prompt: Waves break on the rocks below the tower, take {n}"]
        if n % 3 == 0:
            lines += [f"    seed: {100 + n}"]
        if n % 2:
            lines += ["    duration: 5"]
        shots.append("\n".join(lines))
    text = (
        "version: 1\n"
        "title: The Keeper\n"
        "defaults:\n"
        f"  provider: {provider}\n"
        "  duration: 4\n"
        '  aspect_ratio: "16:9"\n'
        "  resolution: 480p\n"
        "  seed: 1234\n"
        "references:\n"
        "  keeper: refs/keeper.png\n"
        "shots:\n" + "\n".join(shots) + "\ncut: {size: 320x180, fps: 12}\n"
    )
    return write(folder, text)


def assert_key_nowhere(folder: Path, key: str, *runs: Run) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    for run in runs:
        assert key not in run.stdout + run.stderr, run.args


def cut_seconds(folder: Path, hashes: list[str]) -> float:
    return sum(probe(folder / ".shotlist" / "clips" / h[:2] / f"{h}.mp4").duration for h in hashes)


def inject_faults(route: Route, server: Any) -> int:
    """429s, 5xx (one not even JSON), two lost submit answers, poll errors, truncated and
    expired downloads; the number of submit answers lost after the job was created."""
    if route.name == "replicate":  # Replicate says when in words only
        server.fail_next("submit", 429, "Request was throttled. Expected available in 1 second.", times=2)
    else:
        server.fail_next("submit", 429, "slow down", retry_after="1", times=2)
    server.fail_next("submit", 500, "upstream hiccup")
    server.fail_next("submit", 502, non_json=True)
    server.drop_next("submit", after=True, times=2)
    poll_route = "status" if route.name == "fal" else "poll"
    server.fail_next(poll_route, 503, "busy", times=2)
    server.drop_next(poll_route, times=1)
    if route.name == "fal":
        server.fail_next("result", 500, "result store hiccup")
    if route.name == "ark":
        server.fail_next("list", 500, "list hiccup")
    server.truncate_next_download(times=2)
    server.expire_next_download(times=1)
    return 2


def test_twelve_shots_under_faults_are_rendered_once_each_with_the_route_s_tokens(
    tmp_path: Path, route: Route, server: Any
) -> None:
    twelve_shots(tmp_path, route.name)
    plan = shotlist("plan", "film.yaml", "--json", cwd=tmp_path, env=route.env(server))
    lost = inject_faults(route, server)

    run = shotlist(
        "render", "film.yaml", "--concurrency", "12", "--json", cwd=tmp_path, env=route.env(server)
    )

    assert run.returncode == 0, run.stderr
    assert run.generated() == IDS
    assert "retrying" in run.stderr  # the faults were met, and survived
    duplicates_said = run.stderr.count(DUPLICATE_NOTE)
    if route.idempotent:
        assert server.jobs_created == 12  # the lost answers were found in the task list
        assert duplicates_said == 0
        assert len(server.lists) >= lost
    else:
        # Each lost answer may cost one extra job; the output said so each time.
        assert 12 <= server.jobs_created <= 12 + lost
        assert duplicates_said == lost
    planned = {shot["id"]: shot for shot in plan.json["shots"]}
    entries = assert_lock_matches_cache(tmp_path / "film.lock", tmp_path / ".shotlist", IDS)
    for n, sid in enumerate(IDS):
        job = server.jobs[entries[sid]["job_id"]]
        assert route.prompt(job) == planned[sid]["prompt"]  # exactly what `plan` showed
        assert route.image_count(job) == (2 if n % 4 == 0 else 1 if n % 4 == 1 else 0)
        if n % 4 == 0:
            assert route.first_token in planned[sid]["prompt"]
    assert len({entries[sid]["job_id"] for sid in IDS}) == 12
    assert {r.auth for r in server.requests if not r.path.startswith("/files/")} == {"valid"}
    assert {r.auth for r in server.downloads} == {"none"}
    assert_cut(
        tmp_path / "out" / "film.mp4",
        seconds=cut_seconds(tmp_path, [entries[sid]["hash"] for sid in IDS]),
        fps=12,
        size="320x180",
    )
    assert_key_nowhere(tmp_path, route.key, plan, run)


def test_a_render_killed_part_way_and_resumed_adds_no_job(tmp_path: Path, route: Route, server: Any) -> None:
    twelve_shots(tmp_path, route.name)
    store = tmp_path / ".shotlist"
    server.polls_to_complete = 3
    env = route.env(server)
    with (tmp_path / "killed.log").open("wb") as log:
        child = start("render", "film.yaml", cwd=tmp_path, output=log, env=env)
        try:
            # Some shots stored while others are in flight and journalled: the kill must land
            # between the two (waiting for the first clip alone can see every job done first).
            signal_when(lambda: part_way(store), child, signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    finished = finished_clips(store)
    assert journal(store), "the jobs in flight were journalled"

    server.polls_to_complete = 1
    second = shotlist("render", "film.yaml", cwd=tmp_path, env=env)

    assert second.returncode == 0, second.stderr
    assert 1 <= len(finished) < 12
    interrupted = second.stderr.count("an earlier render stopped while submitting this shot")
    if route.idempotent:
        assert server.jobs_created == 12
    else:
        assert 12 <= server.jobs_created <= 12 + interrupted
    assert second.stderr.count(": from the cache") == len(finished)
    # Jobs in flight at the kill are resumed, or (killed while submitting) sent again.
    resumed = second.stderr.count(f": resumed to {route.name}")
    assert resumed + second.stderr.count(f": submitted to {route.name}") == 12 - len(finished)
    assert resumed + interrupted >= 1 or route.idempotent
    entries = assert_lock_matches_cache(tmp_path / "film.lock", store, IDS)
    assert {e["job_id"] for e in entries.values()} <= set(server.jobs)
    assert journal(store) == []
    assert (tmp_path / "out" / "film.mp4").exists()
    assert route.key not in (tmp_path / "killed.log").read_text()
    assert_key_nowhere(tmp_path, route.key, second)


def test_a_refused_generation_is_final_one_line_with_the_provider_s_reason(
    tmp_path: Path, route: Route, server: Any
) -> None:
    twelve_shots(tmp_path, route.name)
    reason = {
        "fal": "The content could not be processed because it was flagged by a content checker.",
        "ark": "The request failed because the output video may contain sensitive information.",
        "replicate": "The input or output was flagged as sensitive. Please try again. (E005)",
    }[route.name]
    server.fail_jobs(reason)

    failed = shotlist("render", "film.yaml", "--concurrency", "12", cwd=tmp_path, env=route.env(server))

    assert failed.returncode == 1
    assert len(failed.errors) == 1
    assert failed.errors[0].startswith("error: 1 shot failed: shot 's")
    assert reason in failed.errors[0]
    assert "retrying" not in failed.stderr  # never retried
    assert server.jobs_created == 12
    assert_key_nowhere(tmp_path, route.key, failed)


def test_a_wrong_key_is_one_clear_line_naming_the_variable(tmp_path: Path, route: Route, server: Any) -> None:
    twelve_shots(tmp_path, route.name)
    wrong = "wrong-key-0000aaaa1111bbbb"

    missing = shotlist("render", "film.yaml", cwd=tmp_path, env={route.base_env: server.base_url})
    refused = shotlist("render", "film.yaml", cwd=tmp_path, env=route.env(server, key=wrong))

    assert missing.returncode == 1
    assert missing.errors == [
        f"error: {route.key_env} is not set: the {route.name} provider needs an API key in the "
        f"environment (export {route.key_env}=...)"
    ]
    assert refused.returncode == 1
    assert len(refused.errors) == 1
    assert refused.errors[0].endswith(f"(check {route.key_env})")
    assert server.jobs_created == 0
    assert_key_nowhere(tmp_path, wrong, missing, refused)


def test_a_shot_that_starts_on_another_s_last_frame_sends_it_in_the_route_s_field(
    tmp_path: Path, route: Route, server: Any
) -> None:
    write(
        tmp_path,
        f"""\
        version: 1
        defaults: {{provider: {route.name}, duration: 4, seed: 3, resolution: 480p}}
        shots:
          - {{id: storm, prompt: Waves break over the tower}}
          - {{id: inside, prompt: The keeper turns from the window, first_frame: {{shot: storm}}}}
          - id: calm
            prompt: The sea goes still
            first_frame: {{shot: storm}}
            last_frame: {{shot: inside}}
        cut: {{size: 320x180, fps: 12}}
        """,
    )
    run = shotlist("render", "film.yaml", "--json", cwd=tmp_path, env=route.env(server))

    assert run.returncode == 0, run.stderr
    assert server.jobs_created == 3
    bodies = {route.prompt(job).split()[1]: job.body for job in server.jobs.values()}
    first, last = {
        "fal": ("image_url", "end_image_url"),
        "ark": ("first_frame", "last_frame"),
        "replicate": ("image", "last_frame_image"),
    }[route.name]

    def frames(body: dict[str, Any]) -> dict[str, str]:
        if route.name == "ark":
            return {i["role"]: i["image_url"]["url"] for i in body["content"] if i["type"] == "image_url"}
        fields = body["input"] if route.name == "replicate" else body
        return {name: fields[name] for name in (first, last) if name in fields}

    assert frames(bodies["break"]) == {}
    assert list(frames(bodies["keeper"])) == [first]
    assert sorted(frames(bodies["sea"])) == sorted([first, last])
    assert all(url.startswith("data:image/png;base64,") for url in frames(bodies["sea"]).values())
    if route.name == "fal":
        assert [job.route.rsplit("/", 1)[-1] for job in server.jobs.values()].count("image-to-video") == 2

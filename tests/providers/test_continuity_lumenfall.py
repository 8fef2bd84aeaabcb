"""Continuity against a slow gateway (tests/lumenfall_server.py with a job latency): a
dependent shot is submitted as soon as its parent is verified, and never when it failed."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from lumenfall_server import LumenfallServer
from render_helpers import shotlist, write

from shotlist import pipeline

pytestmark = pytest.mark.e2e

KEY = "sk-lf-continuity-5c1e2a9b7d"
LATENCY = 3.0


def env_for(server: LumenfallServer) -> dict[str, str]:
    return {"LUMENFALL_BASE_URL": server.base_url, "LUMENFALL_API_KEY": KEY}


def chain_and_six(folder: Path) -> Path:
    lines = [
        "version: 1",
        "defaults: {provider: lumenfall, duration: 4, generate_audio: false}",
        "shots:",
        "  - {id: a, prompt: The boat leaves}",
        "  - {id: b, prompt: The keeper turns, first_frame: {shot: a}}",
    ]
    lines += [f"  - {{id: s{n}, prompt: Waves number {n}}}" for n in range(6)]
    return write(folder, "\n".join(lines) + "\n")


def test_a_chain_of_two_and_six_independent_shots_take_two_latencies_and_eight_jobs(tmp_path: Path) -> None:
    film = chain_and_six(tmp_path)
    with LumenfallServer(api_key=KEY, latency=LATENCY, clip_seconds_cap=1.0) as server:
        planned = pipeline.plan(film, env=env_for(server))
        assert [s.status for s in planned.shots] == ["new", "waiting", *["new"] * 6]
        started = time.monotonic()
        result = pipeline.render(film, env=env_for(server), concurrency=8, stitch=False)
        elapsed = time.monotonic() - started
        assert server.jobs_created == 8
        assert result.submitted == 8
        # Two job latencies (a, then b), plus planning, polling, downloads and taking one frame
        # (about 0.6 s on a quiet machine).
        print(f"chain of two + six: {elapsed:.2f} s at {LATENCY:g} s latency ({elapsed / LATENCY:.2f}x)")
        assert 2 * LATENCY <= elapsed < 2.5 * LATENCY, elapsed
        bodies = {r.body["prompt"]: r.body for r in server.submits if isinstance(r.body, dict)}
        frame = bodies["The keeper turns"]["input_reference"]
        assert len(frame) == 1
        assert base64.b64decode(frame[0].removeprefix("data:image/png;base64,"))[:8] == b"\x89PNG\r\n\x1a\n"
        others = [body for prompt, body in bodies.items() if prompt != "The keeper turns"]
        assert all("input_reference" not in body for body in others)
        assert server.errors == []

        again = pipeline.render(film, env=env_for(server), concurrency=8, stitch=False)
        assert again.submitted == 0
        assert server.jobs_created == 8
        replanned = pipeline.plan(film, env=env_for(server))
        assert {s.status for s in replanned.shots} == {"cached"}


def test_a_shot_whose_parent_failed_is_not_submitted(tmp_path: Path) -> None:
    film = write(
        tmp_path,
        "version: 1\n"
        "defaults: {provider: lumenfall, duration: 4, generate_audio: false}\n"
        "shots:\n"
        "  - {id: a, prompt: The boat leaves}\n"
        "  - id: b\n"
        "    prompt: The keeper turns\n"
        "    first_frame: {shot: a}\n",
    )
    with LumenfallServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as server:
        server.fail_jobs("the boat was refused")
        run = shotlist("render", film.name, cwd=tmp_path, env=env_for(server))
        assert run.returncode == 1
        assert server.jobs_created == 1  # a only
        assert any(
            "film.yaml:7:18: shots[1].first_frame: shot 'a' failed, so it has no frame to give; "
            "nothing was submitted" in line
            for line in run.stderr.splitlines()
        ), run.stderr
        again = pipeline.render(film, env=env_for(server), stitch=False)  # the gateway takes a now
        assert again.submitted == 2
        assert server.jobs_created == 3

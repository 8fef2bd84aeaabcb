"""Issue 7's check through the command line: ``shotlist render`` against a real HTTP server
speaking the Lumenfall protocol (tests/lumenfall_server.py) on 127.0.0.1, with faults
switched on, killed part-way, with a wrong key and with none.

The server's clips are short and small (1 s at 320x180) whatever duration was asked:
the cut is checked against what was delivered. What is pinned is what a user and
their bill notice: one created job per shot, the exact request bodies, a complete
cut, the actual cost in the lock, and the API key nowhere on disk or screen.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from lumenfall_server import LumenfallServer
from render_helpers import (
    Run,
    assert_cut,
    assert_lock_matches_cache,
    finished_clips,
    journal,
    lock_entries,
    make_image,
    shotlist,
    signal_when,
    start,
    write,
)

from shotlist.media.probe import probe

# Whole renders, stitches, servers or subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

KEY = "sk-lf-cli-3f9a27c1e8d04b56"
IDS = [f"s{n:02d}" for n in range(12)]


@pytest.fixture
def server() -> Iterator[LumenfallServer]:
    with LumenfallServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


def env_for(server: LumenfallServer, key: str | None = KEY) -> dict[str, str]:
    env = {"LUMENFALL_BASE_URL": server.base_url}
    return env if key is None else {**env, "LUMENFALL_API_KEY": key}


def twelve_shots(folder: Path) -> Path:
    """Twelve Seedance shots: text only, a named reference, numbered references, a camera,
    durations of 4 and 5 s, explicit and derived seeds, params passed through."""
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
        if n == 2:
            lines += ["    camera: {move: dolly_in, speed: slow, shot: wide}"]
            lines += ["    params: {camera_fixed: false, watermark: true}"]
        shots.append("\n".join(lines))
    text = (
        "version: 1\n"
        "title: The Keeper\n"
        "defaults:\n"
        "  provider: lumenfall\n"
        "  model: seedance-2.0\n"
        "  duration: 4\n"
        '  aspect_ratio: "16:9"\n'
        "  resolution: 480p\n"
        "  seed: 1234\n"
        "  params: {watermark: false}\n"
        "references:\n"
        "  keeper: refs/keeper.png\n"
        "shots:\n" + "\n".join(shots) + "\ncut: {size: 320x180, fps: 12}\n"
    )
    return write(folder, text)


def resumable_job_waiting(store: Path, server: LumenfallServer) -> bool:
    """Whether a job created after the first batch of four is journalled with its id: a job
    that, at the next kill, is surely still in flight and will be resumed."""
    with server._lock:
        later = {job.key.removeprefix("shotlist-") for job in list(server.jobs.values())[4:]}
    for record in journal(store):
        with suppress(OSError, ValueError):
            state = json.loads(record.read_text()).get("state")
            if record.stem[:32] in later and state == "submitted":
                return True
    return False


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def assert_key_nowhere(folder: Path, *runs: Run, key: str = KEY) -> None:
    """Not in any file under ``folder`` (lock, cache, journal, cut, timeline) nor on screen."""
    for path in folder.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    for run in runs:
        assert key not in run.stdout + run.stderr, run.args


def cut_seconds(folder: Path, hashes: list[str]) -> float:
    return sum(probe(folder / ".shotlist" / "clips" / h[:2] / f"{h}.mp4").duration for h in hashes)


def test_twelve_shots_under_faults_make_twelve_jobs_the_expected_requests_and_a_cut(
    tmp_path: Path, server: LumenfallServer
) -> None:
    twelve_shots(tmp_path)
    plan = shotlist("plan", "film.yaml", "--json", cwd=tmp_path, env=env_for(server))
    server.fail_next("submit", 429, "RATE_LIMITED", "slow down", retry_after="1", times=2)
    server.fail_next("submit", 500, "UPSTREAM_ERROR", times=1)
    server.fail_next("submit", 502, "ALL_PROVIDERS_EXHAUSTED", non_json=True, times=1)
    server.drop_next("submit", after=True, times=2)  # the job exists, the answer is lost
    server.fail_next("poll", 502, "ALL_PROVIDERS_EXHAUSTED", times=2)
    server.truncate_next_download(times=2)
    server.expire_next_download(times=2)

    run = shotlist("render", "film.yaml", "--concurrency", "12", "--json", cwd=tmp_path, env=env_for(server))

    assert run.returncode == 0, run.stderr
    assert run.json["submitted"] == 12
    assert run.generated() == IDS
    assert server.jobs_created == 12
    assert "retrying" in run.stderr  # the faults were met, and survived
    planned = {shot["id"]: shot for shot in plan.json["shots"]}
    entries = assert_lock_matches_cache(tmp_path / "film.lock", tmp_path / ".shotlist", IDS)
    keeper, tower = tmp_path / "refs" / "keeper.png", tmp_path / "refs" / "tower.png"
    for n, sid in enumerate(IDS):
        job = server.jobs[entries[sid]["job_id"]]
        want = planned[sid]
        body = job.body
        assert body["model"] == "seedance-2.0"
        assert body["prompt"] == want["prompt"]  # exactly what `plan` showed
        assert body["seed"] == want["seed"] == entries[sid]["seed"]
        assert body["duration"] == (5 if n % 2 else 4)
        # 480p is not on the gateway's page: the nearest documented tier is 1K (1365x768).
        assert (body["aspect_ratio"], body["resolution"]) == ("16:9", "1K")
        assert "size" not in body
        assert body["generate_audio"] is True
        assert body["watermark"] is (n == 2)
        assert job.key == f"shotlist-{want['hash'][:32]}"
        # What the gateway reported is what the lock records.
        assert entries[sid]["cost_usd"] == pytest.approx(0.181)
        if n % 4 == 0:
            assert body["input_reference"] == [data_uri(keeper), data_uri(tower)]
            assert "@Image1" in body["prompt"]
            assert "@Image2" in body["prompt"]
        elif n % 4 == 1:
            assert body["input_reference"] == [data_uri(keeper)]
            assert body["prompt"].startswith("@Image1 watches the storm")
        else:
            assert "input_reference" not in body
        if n % 3 == 0:
            assert body["seed"] == 100 + n
    assert planned["s02"]["prompt"].startswith("Waves break on the rocks below the tower, take 2")
    assert "dolly" in planned["s02"]["prompt"].lower()
    assert server.jobs[entries["s02"]["job_id"]].body["camera_fixed"] is False
    assert len({entries[sid]["job_id"] for sid in IDS}) == 12
    # Every submit of a shot carried its one idempotency key; no key made a second job.
    keys = {r.headers["idempotency-key"] for r in server.submits}
    assert len(keys) == 12
    assert {r.auth for r in server.requests_to("GET", "/v1/videos/") + server.submits} == {"valid"}
    assert {r.auth for r in server.downloads} == {"none"}
    assert_cut(
        tmp_path / "out" / "film.mp4",
        seconds=cut_seconds(tmp_path, [entries[sid]["hash"] for sid in IDS]),
        fps=12,
        size="320x180",
    )
    assert_key_nowhere(tmp_path, plan, run)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_render_killed_part_way_and_run_again_creates_no_extra_jobs(
    tmp_path: Path, server: LumenfallServer, sig: signal.Signals
) -> None:
    twelve_shots(tmp_path)
    store = tmp_path / ".shotlist"
    server.polls_to_complete = 3
    env = env_for(server)

    with (tmp_path / "killed.log").open("wb") as log:
        child = start("render", "film.yaml", cwd=tmp_path, output=log, env=env)
        try:
            # Some shots stored, others submitted and journalled, the rest not yet sent.
            # (Both, at the moment of the kill: a downloaded clip is verified before it is
            # stored, which can let a whole batch finish before the next job is journalled.)
            signal_when(
                lambda: bool(finished_clips(store)) and resumable_job_waiting(store, server), child, sig
            )
            child.wait(timeout=10)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    killed_output = (tmp_path / "killed.log").read_text()
    created_before = server.jobs_created
    finished = finished_clips(store)
    in_flight = journal(store)

    server.polls_to_complete = 1
    second = shotlist("render", "film.yaml", cwd=tmp_path, env=env)

    if sig == signal.SIGINT:
        # Paid jobs are left running at the gateway, journalled, and the user is told so.
        assert child.returncode == 130
        assert killed_output.splitlines()[-1] == (
            "interrupted: run the same command again to resume: jobs already submitted are not paid for twice"
        )
    else:
        assert child.returncode == -signal.SIGKILL
    assert 1 <= len(finished) < created_before < 12
    assert in_flight, "the jobs in flight were journalled"
    assert second.returncode == 0, second.stderr
    assert server.jobs_created == 12
    resumed = second.stderr.count(": resumed to lumenfall")
    submitted = second.stderr.count(": submitted to lumenfall")
    assert resumed >= 1
    assert resumed + submitted == 12 - len(finished)
    assert second.stderr.count(": from the cache") == len(finished)
    assert second.stdout.startswith(
        f"12 shots: {12 - len(finished)} rendered, {len(finished)} from the cache"
    )
    entries = assert_lock_matches_cache(tmp_path / "film.lock", store, IDS)
    assert {e["job_id"] for e in entries.values()} == set(server.jobs)
    assert journal(store) == []
    assert_cut(
        tmp_path / "out" / "film.mp4",
        seconds=cut_seconds(tmp_path, [entries[sid]["hash"] for sid in IDS]),
        fps=12,
        size="320x180",
    )
    assert KEY not in killed_output
    assert "Traceback" not in killed_output
    assert_key_nowhere(tmp_path, second)


def test_a_failed_job_is_one_line_and_only_that_shot_is_paid_for_again(
    tmp_path: Path, server: LumenfallServer
) -> None:
    twelve_shots(tmp_path)
    server.polls_to_complete = 1
    server.fail_jobs("the prompt was refused by the content filter")

    failed = shotlist("render", "film.yaml", "--concurrency", "12", cwd=tmp_path, env=env_for(server))
    refused = next(job for job in server.jobs.values() if job.fail)
    kept = lock_entries(tmp_path / "film.lock")
    cut_after_failure = (tmp_path / "out").exists()
    again = shotlist("render", "film.yaml", "--json", cwd=tmp_path, env=env_for(server))

    assert failed.returncode == 1
    assert len(failed.errors) == 1
    failed_id = failed.errors[0].split("'")[1]
    assert failed.errors[0] == (
        f"error: 1 shot failed: shot '{failed_id}', provider lumenfall, job {refused.id}: "
        "the job failed: the prompt was refused by the content filter (CONTENT_POLICY)"
    )
    assert sorted(kept) == sorted(set(IDS) - {failed_id})
    assert not cut_after_failure
    assert again.returncode == 0, again.stderr
    assert again.generated() == [failed_id]
    assert server.jobs_created == 13  # twelve shots, one of them twice: the failed job is not resumed
    assert (tmp_path / "out" / "film.mp4").exists()
    assert_key_nowhere(tmp_path, failed, again)


def test_a_wrong_or_missing_key_is_one_clear_line_and_never_shown(
    tmp_path: Path, server: LumenfallServer
) -> None:
    twelve_shots(tmp_path)
    wrong_key = "sk-lf-wrong-0000aaaa1111bbbb"

    missing = shotlist("render", "film.yaml", cwd=tmp_path, env=env_for(server, key=None))
    requests_without_key = len(server.requests)
    wrong = shotlist("render", "film.yaml", "--json", cwd=tmp_path, env=env_for(server, key=wrong_key))

    assert missing.returncode == 1
    assert missing.errors == [
        "error: LUMENFALL_API_KEY is not set: the lumenfall provider needs an API key in the "
        "environment (export LUMENFALL_API_KEY=...)"
    ]
    assert requests_without_key == 0
    assert journal(tmp_path / ".shotlist") == []
    assert wrong.returncode == 1
    summary = json.loads(wrong.stdout)  # --json still tells a script what was kept: nothing
    assert (summary["shots"], summary["submitted"], len(summary["failed"])) == ([], 0, 12)
    assert len(wrong.errors) == 1
    assert wrong.errors[0].startswith("error: 12 shots failed: shots 's00', 's01', ")
    assert "provider lumenfall: submit failed: HTTP 401 AUTHENTICATION_FAILED" in wrong.errors[0]
    assert wrong.errors[0].endswith("(check LUMENFALL_API_KEY)")
    # A refused key refuses every shot: only the shots already in flight (4 at once) asked.
    assert 1 <= len(server.submits) <= 4
    assert server.jobs_created == 0
    assert not (tmp_path / "film.lock").exists() or lock_entries(tmp_path / "film.lock") == {}
    assert_key_nowhere(tmp_path, missing, wrong, key=wrong_key)


def test_a_lagging_gateway_and_broken_downloads_cost_one_job_per_shot_and_cache_no_broken_clip(
    tmp_path: Path, server: LumenfallServer
) -> None:
    from shotlist.media.probe import clip_problem

    ids = ["a", "b", "c"]
    shots = "".join(f"  - {{id: {sid}, prompt: 'Waves on the rocks, take {sid}'}}\n" for sid in ids)
    write(
        tmp_path,
        "version: 1\ndefaults: {provider: lumenfall, duration: 4}\n"
        f"shots:\n{shots}cut: {{size: 320x180, fps: 12}}\n",
    )
    server.unknown_first_polls = 2  # a replica that has not seen new jobs yet
    server.truncate_next_download(length=False)
    server.garble_next_download()

    run = shotlist("render", "film.yaml", "--json", cwd=tmp_path, env=env_for(server))

    assert run.returncode == 0, run.stderr
    assert server.jobs_created == 3
    assert run.json["submitted"] == 3
    assert "does not know job" in run.stderr
    entries = assert_lock_matches_cache(tmp_path / "film.lock", tmp_path / ".shotlist", ids)
    for entry in entries.values():
        clip = tmp_path / ".shotlist" / "clips" / entry["hash"][:2] / f"{entry['hash']}.mp4"
        assert clip_problem(clip) is None


def test_request_bodies_follow_the_gateway_s_page(tmp_path: Path, server: LumenfallServer) -> None:
    make_image(tmp_path / "refs" / "keeper.png", "yellow")
    (tmp_path / "refs" / "source.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    (tmp_path / "refs" / "theme.mp3").write_bytes(b"ID3" + b"\x00" * 64)
    write(
        tmp_path,
        """\
        version: 1
        defaults: {provider: lumenfall, duration: 4, seed: 7}
        references:
          keeper: refs/keeper.png
          source: refs/source.mp4
          theme: refs/theme.mp3
        shots:
          - id: sized
            prompt: A wide sea at dawn
            size: 1365x768
          - id: ratio-as-size
            prompt: A tall tower
            size: "9:16"
          - id: v2v
            prompt: Apply cinematic color grading to @source
            params: {keep_audio: true}
          - id: scored
            prompt: '@keeper listens to @theme'
            params: {end_user_id: user-42}
        cut: {size: 320x180, fps: 12}
        """,
    )
    plan = shotlist("plan", "film.yaml", "--json", cwd=tmp_path, env=env_for(server))
    run = shotlist("render", "film.yaml", "--no-stitch", cwd=tmp_path, env=env_for(server))

    assert run.returncode == 0, run.stderr
    sizes = {shot["id"]: (shot["size"], shot["resolution"]) for shot in plan.json["shots"]}
    assert sizes == {
        "sized": ("1365x768", "1K"),
        "ratio-as-size": ("768x1365", "1K"),
        "v2v": ("1365x768", "1K"),
        "scored": ("1365x768", "1K"),
    }
    bodies = {job.body["prompt"].split()[0]: job.body for job in server.jobs.values()}
    wide = next(job.body for job in server.jobs.values() if job.body["prompt"].startswith("A wide"))
    assert {key: wide[key] for key in ("size", "n")} == {"size": "1365x768", "n": 1}
    assert "aspect_ratio" not in wide
    tall = next(b for b in server.jobs.values() if b.body["prompt"].startswith("A tall"))
    assert (tall.body["aspect_ratio"], tall.body["resolution"]) == ("9:16", "1K")
    v2v = bodies["Apply"]
    assert v2v["prompt"] == "Apply cinematic color grading to @Video1"
    assert v2v["video_url"].startswith("data:video/mp4;base64,")
    assert v2v["keep_audio"] is True
    scored = bodies["@Image1"]
    assert scored["audio_urls"][0].startswith("data:audio/mpeg;base64,")
    assert scored["end_user_id"] == "user-42"


@pytest.mark.parametrize("provider", ["lumenfall", "fal", "ark", "replicate"])
def test_an_empty_prompt_is_refused_before_anything_is_sent(
    tmp_path: Path, server: LumenfallServer, provider: str
) -> None:
    write(
        tmp_path,
        f"""\
        version: 1
        defaults: {{provider: {provider}, duration: 4}}
        shots:
          - id: fine
            prompt: A lighthouse
          - id: blank
            prompt: "   "
        """,
    )
    env = {**env_for(server), "FAL_KEY": "k", "ARK_API_KEY": "k", "REPLICATE_API_TOKEN": "k"}
    run = shotlist("render", "film.yaml", cwd=tmp_path, env=env)

    assert run.returncode == 1
    assert run.errors == [
        "error: film.yaml:7:13: shots[1].prompt: expected text describing the shot, got an empty prompt"
    ]
    assert server.requests == []

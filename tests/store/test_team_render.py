"""Issue 16's check through the command line: renders on "different machines" (separate
folders, separate processes) sharing a team cache on a real S3 API (moto's server on
127.0.0.1) and one Lumenfall test gateway. What a team and its bill notice: each shot paid
for once however many machines render it at the same moment, a fresh machine paying
nothing and producing the same cut byte for byte, a damaged clip in the bucket never
stitched, ``--frozen`` naming what is missing, and no secret anywhere in the bucket."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from lumenfall_server import LumenfallServer
from render_helpers import Run, shotlist, start, write
from s3_server import BUCKET, SECRET_KEY, S3Server

pytestmark = pytest.mark.e2e

KEY = "sk-lf-team-5d1c0e9b7a2f4836"
IDS = [f"s{n:02d}" for n in range(20)]


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def gateway() -> Iterator[LumenfallServer]:
    with LumenfallServer(api_key=KEY, polls_to_complete=2, clip_seconds_cap=1.0) as running:
        yield running


def env_for(gateway: LumenfallServer, s3: S3Server) -> dict[str, str]:
    return {"LUMENFALL_BASE_URL": gateway.base_url, "LUMENFALL_API_KEY": KEY, **s3.env()}


def film(folder: Path, ids: list[str] = IDS) -> Path:
    shots = "\n".join(
        f"  - id: {sid}\n    prompt: The keeper lights lamp number {n}" for n, sid in enumerate(ids)
    )
    return write(
        folder,
        "version: 1\n"
        "title: Team\n"
        "defaults: {provider: lumenfall, model: seedance-2.0, duration: 4, resolution: 480p, seed: 7}\n"
        f"shots:\n{shots}\n"
        "cut: {size: 320x180, fps: 12}\n",
    )


def wait_all(*processes: tuple[object, Path]) -> list[tuple[int, str]]:
    done = []
    for process, log in processes:
        code = process.wait(timeout=240)  # type: ignore[attr-defined]
        done.append((code, log.read_text()))
    return done


def assert_no_secret(s3: S3Server, *texts: str) -> None:
    for key, (data, metadata) in s3.objects().items():
        for secret in (KEY, SECRET_KEY):
            assert secret.encode() not in data, key
            assert secret not in json.dumps(metadata), key
    for text in texts:
        assert KEY not in text
        assert SECRET_KEY not in text


def test_two_machines_at_once_pay_once_and_a_third_pays_nothing_for_the_same_cut(
    tmp_path: Path, gateway: LumenfallServer, s3: S3Server
) -> None:
    env = env_for(gateway, s3)
    one, two, three = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    for folder in (one, two, three):
        film(folder)
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    with logs[0].open("wb") as log_one, logs[1].open("wb") as log_two:
        first = start("render", "film.yaml", "--concurrency", "8", cwd=one, output=log_one, env=env)
        second = start("render", "film.yaml", "--concurrency", "8", cwd=two, output=log_two, env=env)
        results = wait_all((first, logs[0]), (second, logs[1]))

    for code, text in results:
        assert code == 0, text
        assert "Traceback" not in text
    assert gateway.jobs_created == 20
    assert len(gateway.submits) == 20  # not merely deduped by the gateway: never sent twice
    assert "following its job" in results[0][1] + results[1][1]
    cut = (one / "out" / "film.mp4").read_bytes()
    assert (two / "out" / "film.mp4").read_bytes() == cut
    assert s3.keys("claims/") == []  # every claim released
    assert len(s3.keys("clips/")) == 20

    third = shotlist("render", "film.yaml", "--json", cwd=three, env=env)

    assert third.returncode == 0, third.stderr
    assert third.json["submitted"] == 0
    assert set(third.sources().values()) == {"cache"}
    assert gateway.jobs_created == 20
    assert (three / "out" / "film.mp4").read_bytes() == cut
    assert json.loads((three / "film.lock").read_bytes()) == json.loads((one / "film.lock").read_bytes())
    assert_no_secret(s3, third.stdout, third.stderr, *(text for _, text in results))


def test_a_truncated_clip_in_the_bucket_is_rendered_again_not_stitched(
    tmp_path: Path, gateway: LumenfallServer, s3: S3Server
) -> None:
    env = env_for(gateway, s3)
    film(tmp_path / "one", IDS[:3])
    film(tmp_path / "two", IDS[:3])
    assert shotlist("render", "film.yaml", cwd=tmp_path / "one", env=env).returncode == 0
    key = s3.keys("clips/")[0]
    answer = s3.client.get_object(Bucket=BUCKET, Key=key)
    data, metadata = answer["Body"].read(), answer["Metadata"]
    s3.client.put_object(Bucket=BUCKET, Key=key, Body=data[: len(data) // 2], Metadata=metadata)

    run = shotlist("render", "film.yaml", "--json", cwd=tmp_path / "two", env=env)

    assert run.returncode == 0, run.stderr
    assert f"team cache clip is truncated ({len(data) // 2} of {len(data)} bytes); rendering it again" in (
        run.stderr
    )
    assert run.json["submitted"] == 1
    assert sorted(run.sources().values()) == ["cache", "cache", "generated"]
    # Submitted again, under the same idempotency key (this gateway answers with the finished job).
    assert len(gateway.submits) == 4
    assert s3.client.get_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(data)  # healed


def test_frozen_builds_the_preview_from_the_team_cache_and_names_what_is_missing(
    tmp_path: Path, gateway: LumenfallServer, s3: S3Server
) -> None:
    env = env_for(gateway, s3)
    film(tmp_path / "dev", IDS[:3])
    assert shotlist("render", "film.yaml", cwd=tmp_path / "dev", env=env).returncode == 0
    ci = tmp_path / "ci"
    film(ci, IDS[:3])
    ok = shotlist("render", "film.yaml", "--frozen", "--json", cwd=ci, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.json["submitted"] == 0
    assert (ci / "out" / "film.mp4").read_bytes() == (tmp_path / "dev" / "out" / "film.mp4").read_bytes()

    film(ci, IDS[:5])
    frozen = shotlist("render", "film.yaml", "--frozen", cwd=ci, env=env)

    assert frozen.returncode == 1
    assert frozen.errors == [
        "error: --frozen: these shots are not rendered yet and nothing may be submitted: s03, s04"
    ]
    assert gateway.jobs_created == 3


def test_a_dead_holders_claim_is_taken_over_and_its_job_polled_not_resubmitted(
    tmp_path: Path, gateway: LumenfallServer, s3: S3Server
) -> None:
    env = env_for(gateway, s3)
    gateway.polls_to_complete = 1000  # the first machine dies while its jobs run
    dead = tmp_path / "dead"
    film(dead, IDS[:2])
    with (tmp_path / "dead.log").open("wb") as log:
        child = start("render", "film.yaml", cwd=dead, output=log, env=env)
        try:
            deadline = time.monotonic() + 60
            while not _claims_with_jobs(s3, 2):
                assert child.poll() is None, (tmp_path / "dead.log").read_text()
                assert time.monotonic() < deadline, "the first render never recorded its jobs"
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    # Its claims say it was last alive long ago.
    for key in s3.keys("claims/"):
        claim = json.loads(s3.client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        claim["renewed_at"] -= 3600
        s3.client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(claim).encode())
    gateway.polls_to_complete = 1
    alive = tmp_path / "alive"
    film(alive, IDS[:2])

    run: Run = shotlist("render", "film.yaml", "--json", cwd=alive, env=env)

    assert run.returncode == 0, run.stderr
    assert gateway.jobs_created == 2
    assert len(gateway.submits) == 2
    assert run.json["submitted"] == 0
    assert run.stderr.count("took over the stale claim of") == 2
    assert s3.keys("claims/") == []


def _claims_with_jobs(s3: S3Server, n: int) -> bool:
    with suppress(Exception):
        keys = s3.keys("claims/")
        bodies = [json.loads(s3.client.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
        return sum(1 for b in bodies if b.get("job_id")) >= n
    return False

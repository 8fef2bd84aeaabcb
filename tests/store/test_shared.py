"""The team cache and its claims, on both back-ends: a folder and a real S3 API (moto's
server on 127.0.0.1). What is pinned: create-only writes (one winner), verified reads
(a truncated or corrupt clip is never handed out), claims that one process holds, and
the errors a user sees for a bad URL or a missing extra."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import BUCKET, PREFIX, SECRET_KEY, S3Server

from shotlist.errors import ConfigError, SharedCacheError
from shotlist.store.backend import ObjectStore, cache_url
from shotlist.store.cache import ClipMeta, Store
from shotlist.store.claims import Claims, claim_key
from shotlist.store.folder import FolderObjects
from shotlist.store.shared import SharedCache, clip_key, open_objects

HASH = "ab" + "c" * 62


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(params=["folder", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "folder":
        return FolderObjects(tmp_path / "team")
    s3: S3Server = request.getfixturevalue("s3")
    # A fresh prefix per test: the module's server is shared.
    return open_objects(f"s3://{BUCKET}/{PREFIX}/{tmp_path.name}", s3.env(cache_url=False))


def clip_in(store: Store, data: bytes, request_hash: str = HASH) -> Path:
    src = store.root / "src.mp4"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    store.put(request_hash, src, ClipMeta(job_id="job-1", provider="lumenfall", cost_usd=0.72))
    return store.clip_path(request_hash)


def test_create_is_create_only_and_replace_compares_etags(objects: ObjectStore) -> None:
    first = objects.create("claims/x.json", b"one", {"who": "a"})
    assert first is not None
    assert objects.create("claims/x.json", b"two") is None
    blob = objects.read("claims/x.json")
    assert blob is not None
    assert blob.data == b"one"
    assert blob.metadata == {"who": "a"}
    second = objects.replace("claims/x.json", b"three", etag=blob.etag)
    assert second is not None
    assert objects.replace("claims/x.json", b"four", etag=blob.etag) is None  # stale etag
    assert objects.read("claims/x.json").data == b"three"  # type: ignore[union-attr]
    objects.delete("claims/x.json")
    assert objects.read("claims/x.json") is None
    assert objects.replace("claims/x.json", b"five", etag=second) is None


def test_of_many_simultaneous_creates_exactly_one_wins(objects: ObjectStore) -> None:
    results: list[str | None] = []
    barrier = threading.Barrier(8)

    def create(n: int) -> None:
        barrier.wait()
        results.append(objects.create("claims/race.json", f"writer {n}".encode()))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in results) == 1


def test_a_clip_published_on_one_machine_is_fetched_verified_on_another(
    objects: ObjectStore, tmp_path: Path
) -> None:
    here, there = Store(tmp_path / "here"), Store(tmp_path / "there")
    clip_in(here, b"clip bytes " * 1000)
    shared = SharedCache(objects)
    assert not shared.has(HASH)
    assert shared.publish(here.get(HASH))  # type: ignore[arg-type]
    assert not shared.publish(here.get(HASH))  # type: ignore[arg-type]  # create-only
    assert shared.has(HASH)

    fetched = shared.fetch(HASH, there)

    assert fetched.clip is not None
    assert fetched.clip.file.read_bytes() == b"clip bytes " * 1000
    assert (fetched.clip.job_id, fetched.clip.provider, fetched.clip.cost_usd) == ("job-1", "lumenfall", 0.72)
    assert there.get(HASH) is not None  # the read-through copy


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [(lambda b: b[:100], "is truncated (100 of 11000 bytes)"), (lambda b: b"X" + b[1:], "is corrupted")],
    ids=["truncated", "corrupt"],
)
def test_a_truncated_or_corrupt_team_clip_is_discarded_never_handed_out(
    objects: ObjectStore, tmp_path: Path, tamper: object, reason: str
) -> None:
    here, there = Store(tmp_path / "here"), Store(tmp_path / "there")
    clip_in(here, b"clip bytes " * 1000)
    shared = SharedCache(objects)
    shared.publish(here.get(HASH))  # type: ignore[arg-type]
    metadata = dict(objects.head(clip_key(HASH)).metadata)  # type: ignore[union-attr]
    objects.delete(clip_key(HASH))
    objects.create(clip_key(HASH), tamper(b"clip bytes " * 1000), metadata)  # type: ignore[operator]

    fetched = shared.fetch(HASH, there)

    assert fetched.clip is None
    assert fetched.discarded is not None
    assert reason in fetched.discarded
    assert there.get(HASH) is None
    assert objects.head(clip_key(HASH)) is None  # removed, so a fresh render can publish


def test_one_process_holds_a_claim_others_read_it_and_a_stale_one_is_taken_over_once(
    objects: ObjectStore,
) -> None:
    alice, bob, carol = Claims(objects, "alice"), Claims(objects, "bob"), Claims(objects, "carol")
    mine = alice.acquire(HASH, "s01", "lumenfall", "shotlist-key")
    assert mine.mine
    theirs = bob.acquire(HASH, "s01", "lumenfall", "shotlist-key")
    assert not theirs.mine
    assert theirs.claim.holder == "alice"
    assert theirs.claim.job_id is None

    held = alice.record_job(mine.claim, "job-42")
    assert held is not None
    seen = bob.read(HASH)
    assert seen is not None
    assert seen.job_id == "job-42"
    assert not seen.stale(time.time(), 600)
    assert seen.stale(time.time() + 601, 600)

    taken = bob.take_over(seen, idempotency_key="ignored")
    assert taken is not None
    assert taken.holder == "bob"
    assert taken.job_id == "job-42"
    assert taken.idempotency_key == "shotlist-key"
    assert carol.take_over(seen, idempotency_key="x") is None  # the same stale etag: one winner
    assert alice.renew(held) is None  # alice lost it while she was away
    alice.release(held)  # not hers any more: nothing happens
    assert bob.read(HASH).holder == "bob"  # type: ignore[union-attr]
    bob.release(taken)
    assert objects.read(claim_key(HASH)) is None
    assert json.loads(taken.to_bytes())["holder"] == "bob"


def test_cache_url_comes_from_the_option_then_the_environment() -> None:
    env = {"SHOTLIST_CACHE_URL": "s3://env/x"}
    assert cache_url("s3://opt/y", env) == "s3://opt/y"
    assert cache_url(None, env) == "s3://env/x"
    assert cache_url(None, {}) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "gs://bucket/x",
            "cache URL 'gs://bucket/x' is not supported; use s3://bucket/prefix (or file:///shared/folder)",
        ),
        ("s3:///films", "cache URL 's3:///films' names no bucket; expected s3://bucket/prefix"),
        (
            "s3://AKIA:topsecret@bucket/films",
            "cache URL s3://bucket/films: credentials do not belong in the URL; use the "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables",
        ),
    ],
)
def test_a_bad_cache_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_objects(url, {})
    assert str(caught.value) == message
    assert "topsecret" not in str(caught.value)


def test_without_the_s3_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.delitem(sys.modules, "shotlist.store.s3", raising=False)
    with pytest.raises(ConfigError) as caught:
        open_objects("s3://bucket/films", {})
    assert str(caught.value) == (
        "cache URL s3://bucket/films needs the s3 extra: pip install 'shotlist[s3]' (boto3 is missing)"
    )


def test_a_bucket_that_does_not_exist_is_one_clear_error_without_the_secret(s3: S3Server) -> None:
    objects = open_objects("s3://no-such-bucket/films", s3.env(cache_url=False))
    with pytest.raises(SharedCacheError) as caught:
        objects.create("claims/x.json", b"{}")
    said = str(caught.value)
    assert said.startswith("s3://no-such-bucket/films: writing claims/x.json failed: NoSuchBucket")
    assert SECRET_KEY not in str(caught.value)

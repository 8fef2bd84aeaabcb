"""The store: cache entries verified on read, a durable journal, a deterministic lock file."""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest
from provider_double import make_request, make_tiny_clip

from shotlist.errors import ShotlistError
from shotlist.files import sha256_file as file_sha256
from shotlist.store.cache import ClipMeta, Store, store_root
from shotlist.store.journal import idempotency_key, mark_submitted, new_job_record
from shotlist.store.lock import Lock, LockEntry, lock_bytes, lock_path, read_lock, update_lock, write_lock

HASH = "ab" + "0" * 62
META = ClipMeta(job_id="job-1", provider="lumenfall", cost_usd=0.6)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny.mp4")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / ".shotlist")


# ---------------------------------------------------------------- locations


def test_store_root_argument_beats_environment_beats_default(tmp_path: Path) -> None:
    board = tmp_path / "film.yaml"
    env = {"SHOTLIST_CACHE_DIR": "/elsewhere/cache"}
    assert store_root(board, env, tmp_path / "arg") == tmp_path / "arg"
    assert store_root(board, env) == Path("/elsewhere/cache")
    assert store_root(board, {}) == tmp_path / ".shotlist"
    assert store_root(board, {"SHOTLIST_CACHE_DIR": "  "}) == tmp_path / ".shotlist"


def test_lock_file_sits_beside_the_storyboard(tmp_path: Path) -> None:
    assert lock_path(tmp_path / "film.yaml") == tmp_path / "film.lock"


def test_idempotency_key_is_stable_per_request_and_generation() -> None:
    assert idempotency_key(HASH) == "shotlist-" + HASH[:32]
    assert idempotency_key(HASH) == idempotency_key(HASH, 0)
    assert idempotency_key(HASH, 1) == "shotlist-" + HASH[:32] + "-1"


# ---------------------------------------------------------------- cache


def test_put_then_get_returns_the_verified_clip(store: Store, tiny_clip: Path) -> None:
    entry = store.put(HASH, tiny_clip, META)
    assert entry.file == store.root / "clips" / "ab" / f"{HASH}.mp4"
    assert entry.file.read_bytes() == tiny_clip.read_bytes()
    assert store.has(HASH)
    got = store.get(HASH)
    assert got == entry
    assert (got.sha256, got.size) == (file_sha256(tiny_clip), tiny_clip.stat().st_size)
    assert (got.job_id, got.provider, got.cost_usd) == ("job-1", "lumenfall", 0.6)
    sidecar = json.loads(entry.file.with_suffix(".json").read_text())
    assert (sidecar["sha256"], sidecar["size"]) == (entry.sha256, entry.size)


def test_put_leaves_no_temporary_files(store: Store, tiny_clip: Path, tmp_path: Path) -> None:
    src = tmp_path / "download.part"
    src.write_bytes(tiny_clip.read_bytes())
    store.put(HASH, src, META, move=True)
    assert not src.exists()
    assert sorted(p.name for p in store.clip_path(HASH).parent.iterdir()) == [
        f"{HASH}.json",
        f"{HASH}.mp4",
    ]


def test_missing_entry_is_absent(store: Store) -> None:
    assert not store.has(HASH)
    assert store.check(HASH) == (None, None)


def test_truncated_clip_is_absent_and_removed(store: Store, tiny_clip: Path) -> None:
    entry = store.put(HASH, tiny_clip, META)
    entry.file.write_bytes(tiny_clip.read_bytes()[:1000])
    assert not store.has(HASH)
    clip, reason = store.check(HASH)
    assert clip is None
    assert reason == f"cached clip is truncated (1000 of {entry.size} bytes)"
    assert not entry.file.exists()
    assert not entry.file.with_suffix(".json").exists()


def test_corrupted_clip_of_the_same_size_is_caught_by_get(store: Store, tiny_clip: Path) -> None:
    entry = store.put(HASH, tiny_clip, META)
    data = bytearray(entry.file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.file.write_bytes(bytes(data))
    assert store.has(HASH)  # the cheap check sees only the size
    assert store.check(HASH) == (None, "cached clip is corrupted (sha256 mismatch)")
    assert not entry.file.exists()


def test_clip_without_its_record_is_removed(store: Store, tiny_clip: Path) -> None:
    entry = store.put(HASH, tiny_clip, META)
    entry.file.with_suffix(".json").unlink()
    assert store.check(HASH) == (None, "cached clip has no record")
    assert not entry.file.exists()


def test_unreadable_record_discards_the_entry(store: Store, tiny_clip: Path) -> None:
    entry = store.put(HASH, tiny_clip, META)
    entry.file.with_suffix(".json").write_text("{not json")
    assert not store.has(HASH)
    assert store.check(HASH) == (None, "cache record is unreadable")


@pytest.mark.e2e
def test_has_answers_for_500_shots_in_well_under_a_second(store: Store, tiny_clip: Path) -> None:
    hashes = [f"{i:064x}" for i in range(500)]
    for h in hashes[:250]:
        store.put(h, tiny_clip, META)
    started = time.perf_counter()
    present = [store.has(h) for h in hashes]
    elapsed = time.perf_counter() - started
    assert present.count(True) == 250
    assert elapsed < 1.0


def test_sweep_removes_leftover_downloads(store: Store) -> None:
    left = store.download_path(HASH)
    left.write_bytes(b"half a clip")
    store.sweep_downloads()
    assert list(store.downloads_dir.iterdir()) == []


def test_a_second_render_cannot_hold_the_store(store: Store) -> None:
    with (
        store.exclusive(),
        pytest.raises(ShotlistError, match="another shotlist render is using"),
        Store(store.root).exclusive(),
    ):
        pass
    with store.exclusive():  # released again
        pass


# ---------------------------------------------------------------- journal


def test_journal_round_trip_and_removal(store: Store) -> None:
    request = make_request("establishing")
    record = new_job_record(request)
    assert (record.state, record.job_id, record.idempotency_key) == (
        "submitting",
        None,
        idempotency_key(request.hash),
    )
    store.journal_put(record)
    assert store.journal_get(request.hash) == record
    submitted = mark_submitted(record, "job-9")
    store.journal_put(submitted)
    assert store.journal_records() == [submitted]
    store.journal_remove(request.hash)
    assert store.journal_get(request.hash) is None
    assert store.journal_records() == []


def test_unreadable_journal_record_is_an_error_not_an_absence(store: Store) -> None:
    store.journal_dir.mkdir(parents=True)
    path = store.journal_dir / f"{HASH}.json"
    path.write_text("{}")
    with pytest.raises(ShotlistError, match="unreadable journal record") as info:
        store.journal_get(HASH)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- lock file


def _entry(shot_id: str, **changes: object) -> LockEntry:
    base = LockEntry(
        id=shot_id,
        hash=f"hash-{shot_id}",
        provider="local",
        model="previz",
        seed=7,
        duration=4.0,
        job_id=f"job-{shot_id}",
        sha256=f"sha-{shot_id}",
        cost_usd=0.0,
    )
    return replace(base, **changes)


def test_missing_lock_reads_as_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "film.lock") == Lock()


def test_lock_bytes_are_sorted_indented_and_end_with_a_newline() -> None:
    lock = Lock(shots=(_entry("b"), _entry("a", cost_usd=None)))
    text = lock_bytes(lock).decode()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data["version"] == 1
    assert [s["id"] for s in data["shots"]] == ["b", "a"]  # storyboard order, not sorted
    assert list(data["shots"][0]) == sorted(data["shots"][0])
    assert '\n  "shots": [\n    {\n      "cost_usd": 0.0,' in text


def test_write_lock_round_trips_and_skips_unchanged_bytes(tmp_path: Path) -> None:
    path = tmp_path / "film.lock"
    lock = Lock(shots=(_entry("a"), _entry("b")))
    assert write_lock(path, lock) is True
    first = path.read_bytes()
    assert read_lock(path) == lock
    assert write_lock(path, read_lock(path)) is False
    assert path.read_bytes() == first


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("{oops", "Expecting property name"),
        ('{"version": 2, "shots": []}', "unsupported version 2"),
        ('{"version": 1, "shots": {}}', "'shots' must be a list"),
        ('{"version": 1, "shots": [{"id": "a"}]}', "shots[0]: missing field 'hash'"),
        ("[]", "expected a JSON object"),
    ],
)
def test_malformed_lock_is_a_clear_error_naming_the_file(tmp_path: Path, content: str, detail: str) -> None:
    path = tmp_path / "film.lock"
    path.write_text(content)
    with pytest.raises(ShotlistError) as info:
        read_lock(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a valid shotlist lock file (")
    assert detail in message


def test_update_lock_keeps_unrendered_shots_and_drops_removed_ones() -> None:
    previous = Lock(shots=(_entry("gone"), _entry("one"), _entry("two")))
    one, two, three = (
        make_request("one", provider="local", seed=1, duration=4.0),
        make_request("two"),
        make_request("three"),
    )

    class Done:
        def __init__(self, request_hash: str, shot_id: str) -> None:
            self.id, self.hash = shot_id, request_hash
            self.job_id, self.sha256, self.cost_usd = "job-new", "sha-new", 0.25

    # ``--only one --only three``: two keeps its entry, gone is no longer in the storyboard.
    lock = update_lock(previous, [one, two, three], [Done(three.hash, "three"), Done(one.hash, "one")])
    assert [e.id for e in lock.shots] == ["one", "two", "three"]
    assert lock.entry("two") == _entry("two")
    fresh = lock.entry("one")
    assert fresh is not None
    assert (fresh.hash, fresh.provider, fresh.model, fresh.seed, fresh.duration) == (
        one.hash,
        "local",
        "seedance-2.0",
        1,
        4.0,
    )
    assert (fresh.job_id, fresh.sha256, fresh.cost_usd) == ("job-new", "sha-new", 0.25)


def test_the_store_ignores_itself_in_git(tmp_path: Path) -> None:
    store = Store(tmp_path / ".shotlist")
    with store.exclusive():
        pass
    assert (tmp_path / ".shotlist" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_the_lock_follows_the_umask_and_ends_with_a_newline(tmp_path: Path) -> None:
    entry = LockEntry("a", "h" * 64, "local", "previz", 1, 5.0, "job-1", "s" * 64, 0.5)
    old = os.umask(0o022)
    try:
        write_lock(tmp_path / "film.lock", Lock(shots=(entry,)))
    finally:
        os.umask(old)
    path = tmp_path / "film.lock"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_bytes().endswith(b"}\n")

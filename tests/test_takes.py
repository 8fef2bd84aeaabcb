"""Takes and picks in planning and in the lock: one request per take, take 1 as before."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from shotlist.errors import StoryboardError
from shotlist.planner import Lookup, build_plan, take_seed
from shotlist.request import take_key
from shotlist.store.lock import Lock, LockEntry, lock_bytes, read_lock, update_lock
from shotlist.storyboard.loader import load_storyboard


def board(folder: Path, shots: str, defaults: str = "provider: lumenfall") -> Path:
    path = folder / "film.yaml"
    text = f"version: 1\ndefaults: {{{defaults}}}\nshots:\n" + textwrap.indent(textwrap.dedent(shots), "  ")
    path.write_text(text, encoding="utf-8")
    return path


def plan_of(path: Path, lookup: Lookup | None = None):  # type: ignore[no-untyped-def]
    return build_plan(load_storyboard(path), lookup=lookup)


def test_take_one_keeps_the_seed_and_hash_of_the_shot_without_takes(tmp_path: Path) -> None:
    plain = plan_of(board(tmp_path, "- {id: storm, prompt: Waves break}"))
    with_takes = plan_of(board(tmp_path, "- {id: storm, prompt: Waves break, takes: 3, pick: 2}"))
    one, three = plain.shots[0], with_takes.shots[0]
    assert three.takes[0].request.hash == one.request.hash
    assert three.takes[0].request.seed == one.request.seed
    assert len({t.request.hash for t in three.takes}) == 3
    assert three.request is three.takes[1].request  # the shot's own request is the picked take's


def test_take_seeds_are_derived_from_the_shot_seed_and_documented(tmp_path: Path) -> None:
    planned = plan_of(board(tmp_path, "- {id: storm, prompt: Waves, seed: 1234, takes: 3}")).shots[0]
    assert [t.request.seed for t in planned.takes] == [1234, take_seed(1234, 2), take_seed(1234, 3)]
    assert take_seed(1234, 2) == 2979100069  # pinned: the README's rule, stable across releases
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert 'sha256("shotlist-take:{seed}:{k}")' in readme


def test_takes_come_from_defaults_and_templates(tmp_path: Path) -> None:
    path = tmp_path / "film.yaml"
    path.write_text(
        "version: 1\ndefaults: {takes: 2}\ntemplates:\n  wide: {takes: 4}\nshots:\n"
        "  - {id: a, prompt: A}\n  - {id: b, prompt: B, use: wide}\n  - {id: c, prompt: C, takes: 1}\n"
    )
    assert [len(s.takes) for s in plan_of(path).shots] == [2, 4, 1]


def test_plan_json_lists_every_take_with_its_status_and_cost(tmp_path: Path) -> None:
    path = board(tmp_path, "- {id: storm, prompt: Waves break, duration: 5, takes: 3, pick: 2}")
    first = plan_of(path)
    take1 = first.shots[0].takes[0].request.hash
    cached = plan_of(path, Lookup(cached=lambda h: h == take1))
    shot = cached.to_json()["shots"][0]  # type: ignore[index]
    assert shot["pick"] == 2
    assert shot["hash"] == shot["takes"][1]["hash"]
    assert [(t["take"], t["status"]) for t in shot["takes"]] == [(1, "cached"), (2, "new"), (3, "new")]
    assert shot["takes"][0]["estimated_cost_usd"] == 0
    assert shot["takes"][1]["estimated_cost_usd"] == pytest.approx(1.5 * 1365 * 768 / (1280 * 720), abs=1e-4)
    assert cached.total_estimated_cost_usd == pytest.approx(
        3.0 * 1365 * 768 / (1280 * 720)
    )  # two takes to render
    assert first.total_estimated_cost_usd == pytest.approx(4.5 * 1365 * 768 / (1280 * 720))


def test_a_take_in_the_lock_with_another_hash_is_changed(tmp_path: Path) -> None:
    path = board(tmp_path, "- {id: storm, prompt: Waves break, takes: 2}")
    planned = plan_of(path, Lookup(locked={"storm": "x" * 64, take_key("storm", 2): "y" * 64}))
    assert [t.status for t in planned.shots[0].takes] == ["changed", "changed"]


@pytest.mark.parametrize(
    ("shot", "message"),
    [
        (
            "- {id: storm, prompt: Waves, takes: 3, pick: 4}",
            "film.yaml:4:48: shots[0].pick: pick 4 is out of range: the shot has 3 takes "
            "(pick 1 to 3, or raise takes)",
        ),
        (
            "- {id: storm, prompt: Waves, pick: 2}",
            "film.yaml:4:38: shots[0].pick: pick 2 is out of range: the shot has 1 take "
            "(pick 1 to 1, or raise takes)",
        ),
        (
            "- {id: storm, prompt: Waves, takes: 9}",
            "film.yaml:4:39: shots[0].takes: expected a whole number of takes between 1 and 8, got 9",
        ),
        (
            "- {id: storm, prompt: Waves, pick: 0}",
            "film.yaml:4:38: shots[0].pick: expected the number of a take between 1 and 8 "
            "(at most the shot's takes), got 0",
        ),
    ],
)
def test_takes_and_pick_out_of_range_are_one_clear_line(tmp_path: Path, shot: str, message: str) -> None:
    path = board(tmp_path, shot)
    with pytest.raises(StoryboardError) as caught:
        plan_of(path)
    assert [str(p) for p in caught.value.problems] == [message.replace("film.yaml", str(path))]


def test_a_lock_without_takes_reads_and_writes_byte_identical(tmp_path: Path) -> None:
    old = {
        "shots": [
            {
                "cost_usd": 0.9,
                "duration": 5.0,
                "hash": "a" * 64,
                "id": "storm",
                "job_id": "vid_1",
                "model": "seedance-2.0",
                "provider": "lumenfall",
                "seed": 7,
                "sha256": "b" * 64,
            }
        ],
        "version": 1,
    }
    raw = (json.dumps(old, indent=2, sort_keys=True) + "\n").encode()
    (tmp_path / "film.lock").write_bytes(raw)
    lock = read_lock(tmp_path / "film.lock")
    assert lock.shots[0].takes is None
    assert lock_bytes(lock) == raw


class Done:
    def __init__(self, id: str, hash: str, take: int = 1) -> None:
        self.id, self.hash, self.take = id, hash, take
        self.key = take_key(id, take)
        self.job_id, self.sha256, self.cost_usd = f"job-{hash[:4]}", hash[::-1], 0.5


def test_the_lock_records_every_take_and_the_pick(tmp_path: Path) -> None:
    planned = plan_of(board(tmp_path, "- {id: storm, prompt: Waves, takes: 3, pick: 2}")).shots[0]
    requests = planned.requests
    done = [Done("storm", r.hash, r.take) for r in requests]
    lock = update_lock(Lock(), requests, done, picks={"storm": 2})
    entry = lock.shots[0]
    assert entry.pick == 2
    assert entry.hash == requests[1].hash
    assert entry.seed == requests[1].seed
    assert [t.take for t in entry.takes or ()] == [1, 2, 3]
    data = json.loads(lock_bytes(lock))
    assert data["shots"][0]["pick"] == 2
    assert [t["hash"] for t in data["shots"][0]["takes"]] == [r.hash for r in requests]
    (tmp_path / "film.lock").write_bytes(lock_bytes(lock))
    assert read_lock(tmp_path / "film.lock") == lock
    assert entry.take_hashes() == {r.key: r.hash for r in requests}


def test_a_take_not_rendered_keeps_its_previous_record(tmp_path: Path) -> None:
    planned = plan_of(board(tmp_path, "- {id: storm, prompt: Waves, takes: 2}")).shots[0]
    take1, take2 = planned.requests
    before = Lock(
        shots=(LockEntry("storm", take1.hash, "lumenfall", "seedance-2.0", take1.seed, 5.0, "j1", "s1", 0.9),)
    )
    lock = update_lock(before, planned.requests, [Done("storm", take2.hash, 2)])
    assert [(t.take, t.job_id) for t in lock.shots[0].takes or ()] == [
        (1, "j1"),
        (2, f"job-{take2.hash[:4]}"),
    ]
    assert lock.shots[0].hash == take1.hash  # pick 1


def test_take_one_hash_is_the_hash_shotlist_gave_before_takes_existed(tmp_path: Path) -> None:
    """Pinned from the release before takes: a lock written then stays valid. (Issue 15 changed it
    once, with the body: Lumenfall requests carry the gateway's documented 1K tier, 1365x768.)"""
    path = tmp_path / "film.yaml"
    text = (
        "version: 1\ndefaults: {provider: lumenfall, seed: 1234}\n"
        "shots:\n  - {id: storm, prompt: Waves break over the tower, duration: 5}\n"
    )
    for extra in ("", ", takes: 3", ", takes: 3, pick: 1"):
        path.write_text(text.replace("duration: 5}", f"duration: 5{extra}}}"))
        take1 = plan_of(path).shots[0].takes[0].request
        assert (take1.hash, take1.seed) == (
            "61c1e00193598f9a14aa52667959e98ea22e550694c1056aae11b647f4a9db71",
            2783577196,
        )

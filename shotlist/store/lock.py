"""The lock file (``film.lock`` beside ``film.yaml``, DESIGN §4): what each shot was
rendered from and into, meant to be committed. It is written deterministically, so a
render that changes nothing leaves it byte-identical."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from shotlist import files
from shotlist.errors import StoreError
from shotlist.providers.base import reported_cost
from shotlist.request import ShotRequest, take_key

LOCK_VERSION = 1


def lock_path(storyboard: Path) -> Path:
    """The lock file of a storyboard: ``film.yaml`` -> ``film.lock``."""
    return storyboard.with_suffix(".lock")


@dataclass(frozen=True)
class LockTake:
    """One take of a shot with several: what it was rendered from and into."""

    take: int
    hash: str
    seed: int
    job_id: str
    sha256: str
    cost_usd: float | None


@dataclass(frozen=True)
class LockEntry:
    """What one shot was rendered from and into (DESIGN §4).

    A shot with several takes also records ``pick`` and every take (``takes``); its own
    hash, seed, job, sha256 and cost are the picked take's. A shot with one take has
    neither field, so its entry reads as before takes existed.
    """

    id: str
    hash: str
    provider: str
    model: str
    seed: int
    duration: float
    job_id: str
    sha256: str
    cost_usd: float | None
    pick: int | None = None
    takes: tuple[LockTake, ...] | None = None

    def take_hashes(self) -> dict[str, str]:
        """Request key (``id``, ``id#k``) -> hash of every take this entry records."""
        if not self.takes:
            return {self.id: self.hash}
        return {take_key(self.id, t.take): t.hash for t in self.takes}


@dataclass(frozen=True)
class Lock:
    """The lock file: entries in storyboard order."""

    shots: tuple[LockEntry, ...] = ()
    version: int = LOCK_VERSION

    def entry(self, shot_id: str) -> LockEntry | None:
        return next((e for e in self.shots if e.id == shot_id), None)

    def by_id(self) -> dict[str, LockEntry]:
        return {e.id: e for e in self.shots}


class LockedRender(Protocol):
    """The part of a render result the lock records (the engine's ``RenderedShot`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def cost_usd(self) -> float | None: ...


def read_lock(path: Path) -> Lock:
    """Read a lock file; a missing file is an empty lock, a malformed one an error naming it."""
    try:
        raw = files.read_project_bytes(path)
    except FileNotFoundError:
        return Lock()
    try:
        return _parse_lock(json.loads(raw))
    except ValueError as exc:
        raise StoreError(
            f"{path}: not a valid shotlist lock file ({exc}); "
            "fix it or delete it to record the next render afresh"
        ) from exc


def _parse_lock(data: Any) -> Lock:
    """Raises ValueError saying what is wrong and where."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    version = data.get("version")
    if version != LOCK_VERSION:
        raise ValueError(f"unsupported version {version!r}, this shotlist writes {LOCK_VERSION}")
    shots = data.get("shots")
    if not isinstance(shots, list):
        raise ValueError("'shots' must be a list")
    entries = []
    for index, item in enumerate(shots):
        try:
            entries.append(_parse_entry(item))
        except KeyError as exc:
            raise ValueError(f"shots[{index}]: missing field {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"shots[{index}]: {exc}") from exc
    return Lock(shots=tuple(entries))


def _parse_entry(item: Any) -> LockEntry:
    if not isinstance(item, dict):
        raise TypeError("each shot must be an object")
    entry = LockEntry(
        id=_str(item, "id"),
        hash=_str(item, "hash"),
        provider=_str(item, "provider"),
        model=_str(item, "model"),
        seed=int(item["seed"]),
        duration=float(item["duration"]),
        job_id=_str(item, "job_id"),
        sha256=_str(item, "sha256"),
        cost_usd=_cost(item),
        pick=None if item.get("pick") is None else int(item["pick"]),
        takes=None if item.get("takes") is None else tuple(_parse_take(t) for t in item["takes"]),
    )
    unknown = sorted(set(item) - set(LockEntry.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    return entry


def _cost(item: Mapping[str, Any]) -> float | None:
    return None if item["cost_usd"] is None else reported_cost(item["cost_usd"])


def _parse_take(item: Any) -> LockTake:
    if not isinstance(item, dict):
        raise TypeError("each take must be an object")
    return LockTake(
        take=int(item["take"]),
        hash=_str(item, "hash"),
        seed=int(item["seed"]),
        job_id=_str(item, "job_id"),
        sha256=_str(item, "sha256"),
        cost_usd=_cost(item),
    )


def _str(item: Mapping[str, Any], key: str) -> str:
    value = item[key]
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string")
    return value


def lock_bytes(lock: Lock) -> bytes:
    """The exact bytes of a lock file: sorted keys, indent 2, trailing newline."""
    return files.json_bytes({"version": lock.version, "shots": [_entry_json(e) for e in lock.shots]})


def _entry_json(entry: LockEntry) -> dict[str, Any]:
    # A one-take shot is written exactly as before takes existed: old locks stay byte-identical.
    data = asdict(entry)
    if entry.takes is None:
        del data["pick"], data["takes"]
    return data


def write_lock(path: Path, lock: Lock) -> bool:
    """Write the lock atomically unless its bytes are unchanged. Returns whether it wrote."""
    data = lock_bytes(lock)
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    files.write_bytes(path, data)
    return True


def update_lock(
    previous: Lock,
    shots: Sequence[ShotRequest],
    rendered: Iterable[LockedRender],
    *,
    picks: Mapping[str, int] | None = None,
) -> Lock:
    """The lock after a render.

    ``shots`` are the requests of all shots of the storyboard, in storyboard order,
    every take of a shot together (take 1 first); ``picks`` names each shot's picked
    take (default 1). A take rendered (or found in the cache) this time gets a fresh
    record; one not rendered this time (``--only``, or it failed) keeps its previous
    one; a shot no longer in the storyboard is dropped.
    """
    done = {_render_key(r): r for r in rendered}
    kept = previous.by_id()
    groups: dict[str, list[ShotRequest]] = {}
    for request in shots:
        groups.setdefault(request.id, []).append(request)
    entries: list[LockEntry] = []
    for shot_id, takes in groups.items():
        entry = _shot_entry(takes, (picks or {}).get(shot_id, 1), done, kept.get(shot_id))
        if entry is not None:
            entries.append(entry)
    return Lock(shots=tuple(entries))


def _render_key(result: LockedRender) -> str:
    key = getattr(result, "key", None)
    return key if isinstance(key, str) else result.id


def _shot_entry(
    takes: Sequence[ShotRequest], pick: int, done: Mapping[str, LockedRender], previous: LockEntry | None
) -> LockEntry | None:
    if len(takes) == 1:
        result = done.get(takes[0].key)
        if result is not None:
            return _lock_entry(takes[0], result)
        return previous
    before = {t.take: t for t in (previous.takes or ())} if previous else {}
    if previous is not None and not previous.takes:
        before[1] = LockTake(
            1, previous.hash, previous.seed, previous.job_id, previous.sha256, previous.cost_usd
        )
    records: list[LockTake] = []
    for request in takes:
        result = done.get(request.key)
        if result is not None:
            records.append(
                LockTake(
                    request.take, result.hash, request.seed, result.job_id, result.sha256, result.cost_usd
                )
            )
        elif request.take in before:
            records.append(before[request.take])
    picked = next((t for t in records if t.take == pick), None)
    if picked is None:
        return previous
    first = takes[0]
    return LockEntry(
        id=first.id,
        hash=picked.hash,
        provider=first.provider,
        model=first.model,
        seed=picked.seed,
        duration=float(first.duration),
        job_id=picked.job_id,
        sha256=picked.sha256,
        cost_usd=picked.cost_usd,
        pick=pick,
        takes=tuple(records),
    )


def _lock_entry(shot: ShotRequest, result: LockedRender) -> LockEntry:
    return LockEntry(
        id=shot.id,
        hash=result.hash,
        provider=shot.provider,
        model=shot.model,
        seed=shot.seed,
        duration=float(shot.duration),
        job_id=result.job_id,
        sha256=result.sha256,
        cost_usd=result.cost_usd,
    )

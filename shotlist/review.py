"""Reviewing a change: the plan as it is against the plan at a git revision (``plan --against``).

Pure: two plans and the revision's lock in, a ``Review`` out. Shots are matched by id
(ids are stable across edits). A shot is *changed* when its request changed (it must be
rendered again) or when only how the cut uses it changed (trim, transition, mute: nothing
to render). ``fields`` names what changed in the storyboard's words.

Money: ``to_render_usd`` is what rendering the difference costs -- the added shots and
the shots whose request changed, each distinct request once, leaving out requests that
are cached, that an unchanged shot already has, or that the revision's lock records as
rendered. ``spent_*`` are what the revision's lock says was paid for the shots that are
now gone, or whose clip is being replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shotlist.planner import Plan, PlannedShot, cost_to_render
from shotlist.store.lock import Lock

# What a change can touch, in the storyboard's words, each with how to read it off a
# planned shot. The order is the order a review lists them in.
_FIELDS: tuple[tuple[str, Callable[[PlannedShot], Any]], ...] = (
    ("provider", lambda s: s.request.provider),
    ("model", lambda s: s.request.model),
    ("prompt", lambda s: s.shot.prompt),
    ("segments", lambda s: getattr(s.shot, "segments", None)),
    ("duration", lambda s: s.request.duration),
    ("seed", lambda s: s.request.seed),
    ("size", lambda s: s.request.size),
    ("aspect_ratio", lambda s: s.request.aspect_ratio),
    ("resolution", lambda s: s.request.resolution),
    ("generate_audio", lambda s: s.request.generate_audio),
    ("camera", lambda s: s.request.camera),
    ("references", lambda s: [(m.kind, m.sha256) for m in s.request.media]),
    ("params", lambda s: s.request.params),
    ("dialogue", lambda s: s.request.dialogue),
    ("caption", lambda s: s.request.caption),
    ("fps", lambda s: s.request.fps),
    ("trim", lambda s: s.shot.trim),
    ("transition", lambda s: s.shot.transition),
    ("mute", lambda s: s.mute),
)
# Fields that change only how the cut uses a clip, never the clip.
CUT_FIELDS = frozenset({"trim", "transition", "mute"})


@dataclass(frozen=True)
class Change:
    """One shot that is in both plans but not the same: what changed, and whether it re-renders."""

    before: PlannedShot
    after: PlannedShot
    fields: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.after.request.id

    @property
    def rerenders(self) -> bool:
        return self.before.request.hash != self.after.request.hash


@dataclass(frozen=True)
class Review:
    """What a storyboard change renders and costs, against the git revision ``against``."""

    against: str
    commit: str
    storyboard: str
    existed: bool  # the storyboard was in the revision (when not, every shot is added)
    added: tuple[PlannedShot, ...]
    removed: tuple[PlannedShot, ...]
    changed: tuple[Change, ...]
    unchanged: tuple[PlannedShot, ...]
    to_render: tuple[PlannedShot, ...]  # the added and re-rendered shots that cost money or time
    to_render_usd: float
    spent_on_removed_usd: float
    spent_on_changed_usd: float
    spent_at_ref: Mapping[str, float]  # per removed or re-rendered shot: what the lock says it cost

    def to_json(self) -> dict[str, object]:
        return {
            "against": self.against,
            "commit": self.commit,
            "storyboard": self.storyboard,
            "existed_at_ref": self.existed,
            "added": [s.request.id for s in self.added],
            "removed": [s.request.id for s in self.removed],
            "changed": [
                {
                    "id": c.id,
                    "fields": list(c.fields),
                    "rerender": c.rerenders,
                    "hash_before": c.before.request.hash,
                    "hash_after": c.after.request.hash,
                }
                for c in self.changed
            ],
            "unchanged": [s.request.id for s in self.unchanged],
            "to_render": [s.request.id for s in self.to_render],
            "cost_usd": {
                "to_render": round(self.to_render_usd, 4),
                "spent_at_ref_on_removed": round(self.spent_on_removed_usd, 4),
                "spent_at_ref_on_changed": round(self.spent_on_changed_usd, 4),
            },
            "spent_at_ref": {k: round(v, 4) for k, v in self.spent_at_ref.items()},
        }


def changed_fields(before: PlannedShot, after: PlannedShot) -> tuple[str, ...]:
    """The storyboard fields in which two plans of one shot differ (empty: the same shot).

    A request that changed in a way no field names (an engine upgrade) says ``request``.
    """
    fields = tuple(name for name, read in _FIELDS if read(before) != read(after))
    if before.request.hash == after.request.hash:
        # Same request: only the cut's use of the clip can differ (a prompt that names a
        # renamed reference reads differently but sends the same request).
        return tuple(f for f in fields if f in CUT_FIELDS)
    if not set(fields) - CUT_FIELDS:
        fields = ("request", *fields)
    return fields


def compare(
    after: Plan, before: Plan | None, ref_lock: Lock, *, against: str, commit: str, storyboard: str
) -> Review:
    """Review ``after`` (the storyboard now) against ``before`` (at the revision; None when the
    storyboard did not exist there) and the revision's lock."""
    old = {s.request.id: s for s in (before.shots if before else ())}
    new_ids = {s.request.id for s in after.shots}
    added, changed, unchanged = [], [], []
    for shot in after.shots:
        previous = old.get(shot.request.id)
        if previous is None:
            added.append(shot)
            continue
        fields = changed_fields(previous, shot)
        if fields:
            changed.append(Change(previous, shot, fields))
        else:
            unchanged.append(shot)
    removed = [s for s in (before.shots if before else ()) if s.request.id not in new_ids]
    known = {s.request.hash for s in unchanged} | {e.hash for e in ref_lock.shots}
    difference = [*added, *(c.after for c in changed if c.rerenders)]
    order = {s.request.id: i for i, s in enumerate(after.shots)}
    to_render = sorted(
        (s for s in difference if s.request.hash not in known and s.status != "cached"),
        key=lambda s: order[s.request.id],
    )
    locked = ref_lock.by_id()
    spent = {
        shot_id: locked[shot_id].cost_usd or 0.0
        for shot_id in [*(s.request.id for s in removed), *(c.id for c in changed if c.rerenders)]
        if shot_id in locked
    }
    return Review(
        against=against,
        commit=commit,
        storyboard=storyboard,
        existed=before is not None,
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        to_render=tuple(to_render),
        to_render_usd=cost_to_render(to_render),
        spent_on_removed_usd=sum(spent.get(s.request.id, 0.0) for s in removed),
        spent_on_changed_usd=sum(spent.get(c.id, 0.0) for c in changed if c.rerenders),
        spent_at_ref=spent,
    )

"""Continuity: the frames a shot starts or ends on, taken from other shots' rendered clips.

A frame is taken once per clip (by the clip's sha256 and which frame) as a lossless
PNG into the store's ``frames/`` folder, and enters the dependent shot's request by
its content hash: re-rendering a parent changes the child's request only when the
frame really changed. ``frame_lookup`` serves planning (clips already in the cache);
``completer`` serves the engine (clips it has just verified).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shotlist import files
from shotlist.errors import MediaError
from shotlist.planner import FRAME_SLOTS, FrameLookup, with_frames
from shotlist.request import FrameFrom, FrameSlot, MediaRef, ShotRequest
from shotlist.store.cache import Store

# Planning looks up frames already taken without the engine or ffmpeg-python (start-up, issue 17).
if TYPE_CHECKING:
    from shotlist.engine import Pending, RenderedShot


def frame_media(store: Store, clip: Path, clip_sha256: str, need: FrameFrom) -> MediaRef:
    """The frame ``need`` names of ``clip``, as an image reference. Raises MediaError."""
    from shotlist.media.frames import frame_png

    path = store.frame_path(clip_sha256, need.spec)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_bytes(path, frame_png(clip, at=need.at, before=need.before), durable=False)
    return MediaRef(f"{need.shot} frame", "image", files.sha256_file(path), path=path)


def frame_lookup(store: Store) -> FrameLookup:
    """Frames of clips already in the cache, for planning (None when a clip cannot give one:
    the render then verifies the parent and takes the frame itself)."""

    def frame(clip_hash: str, need: FrameFrom) -> MediaRef | None:
        sha256 = store.clip_sha256(clip_hash)
        if sha256 is None:
            return None
        try:
            return frame_media(store, store.clip_path(clip_hash), sha256, need)
        except MediaError:
            return None

    return frame


def completer(
    store: Store, salts: Mapping[str, str]
) -> Callable[[Pending, Mapping[str, RenderedShot]], Sequence[ShotRequest]]:
    """The engine's ``complete``: a pending shot's takes with their frames, hashed."""

    def complete(pending: Pending, parents: Mapping[str, RenderedShot]) -> Sequence[ShotRequest]:
        taken: dict[FrameSlot, MediaRef] = {}
        for need in pending.needs:
            parent = parents[need.key]
            try:
                taken[need.slot] = frame_media(store, parent.file, parent.sha256, need)
            except MediaError as exc:
                raise MediaError(f"{need.where}: {exc}") from exc
        done = []
        for request in pending.requests:
            frames: dict[FrameSlot, MediaRef | None] = {
                slot: getattr(request, slot) for slot in FRAME_SLOTS if getattr(request, slot) is not None
            }
            frames.update(taken)
            done.append(with_frames(request, frames, salts.get(request.provider, "")))
        return done

    return complete

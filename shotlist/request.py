"""The exact request for one shot: what planning produces and providers consume.

These are frozen value objects. Everything in a ``ShotRequest`` is already
expanded, merged, mapped to the provider's limits and hashed; a provider
turns it into its own wire format and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MediaKind = Literal["image", "video", "audio"]
FrameSlot = Literal["first_frame", "last_frame"]

# Request fields the storyboard format names and providers set themselves from it;
# a shot's ``params`` (passed through unchanged) may not replace any of them.
NAMED_FIELDS = frozenset(
    {
        "model",
        "prompt",
        "seed",
        "duration",
        "size",
        "aspect_ratio",
        "resolution",
        "generate_audio",
        "input_reference",
        "image_url",
        "video_url",
        "video_urls",
        "input_video",
        "audio_urls",
        "n",
    }
)


@dataclass(frozen=True)
class MediaRef:
    """One reference medium, in the order the provider receives it.

    ``path`` is set for a local file, ``url`` for an https URL; ``sha256`` is
    the content hash of the file (or the hash of the URL text), so renaming a
    file changes nothing and editing it changes every request that uses it.
    """

    name: str
    kind: MediaKind
    sha256: str
    path: Path | None = None
    url: str | None = None


@dataclass(frozen=True)
class FrameFrom:
    """A frame to take from another shot's rendered clip once it is verified.

    ``key`` is the request key (``ShotRequest.key``) of the parent's picked take;
    ``at`` is the time in the clip (None: its end); with ``before`` the frame is the
    one shown just before ``at`` (an out point), else the one shown at ``at``.
    ``where`` locates the storyboard field (``film.yaml:12:5: shots[3].first_frame``)
    for messages.
    """

    slot: FrameSlot
    shot: str
    key: str
    at: float | None
    before: bool
    where: str = ""

    @property
    def spec(self) -> str:
        """The frame's name, independent of the clip: ``end``, ``before-4.5`` or ``at-2``."""
        if self.at is None:
            return "end"
        return f"{'before' if self.before else 'at'}-{self.at:g}"


@dataclass(frozen=True)
class CameraDirection:
    """A shot's camera direction in the fixed vocabulary (DESIGN §1); None means unspecified."""

    move: str | None = None
    speed: str | None = None
    shot: str | None = None
    angle: str | None = None


@dataclass(frozen=True)
class ShotSegment:
    """One shot inside a multi-shot generation, placed from ``start`` for ``duration`` seconds.

    ``prompt`` is the segment's text in the provider's token form (as it appears in the
    request's compiled prompt); ``source_prompt`` the expanded text with references named
    in plain words (the local engine captions it). ``camera`` is the segment's direction
    over the shot's; ``dialogue`` its spoken lines.
    """

    start: float
    duration: float
    prompt: str
    source_prompt: str
    camera: CameraDirection = CameraDirection()
    dialogue: tuple[str, ...] = ()

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class ShotRequest:
    """One shot, fully resolved: exactly what is sent to ``provider``.

    ``prompt`` is the prompt exactly as the provider receives it (references
    in the provider's token form, camera language compiled in where the
    provider takes it as text). ``source_prompt`` is the expanded prompt
    before that compilation (the local engine captions it). ``width`` and
    ``height`` are the pixel size the shot is rendered at; ``aspect_ratio``
    and ``resolution`` the tier names the provider accepts. ``params`` are
    provider-specific fields passed through unchanged. ``segments`` (a multi-shot
    generation) are already compiled into ``prompt``; the local engine renders each as
    its own scene, and the cut marks them.
    """

    id: str
    provider: str
    model: str
    prompt: str
    source_prompt: str
    duration: float
    seed: int
    width: int
    height: int
    aspect_ratio: str
    resolution: str
    fps: int
    generate_audio: bool
    camera: CameraDirection = CameraDirection()
    images: tuple[MediaRef, ...] = ()
    videos: tuple[MediaRef, ...] = ()
    audios: tuple[MediaRef, ...] = ()
    params: tuple[tuple[str, object], ...] = ()
    caption: bool = True
    dialogue: tuple[str, ...] = ()
    segments: tuple[ShotSegment, ...] = ()
    take: int = 1
    first_frame: MediaRef | None = None
    last_frame: MediaRef | None = None
    # The storyboard gave a pixel ``size`` (a provider that takes one may send it as such).
    # Not hashed: the same frame by size or by ratio and tier is the same render.
    sized: bool = False
    hash: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """The request's name in a render: the shot id, ``id#k`` for take k >= 2."""
        return self.id if self.take == 1 else take_key(self.id, self.take)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def params_dict(self) -> dict[str, object]:
        return dict(self.params)

    @property
    def media(self) -> tuple[MediaRef, ...]:
        return self.images + self.videos + self.audios


def take_key(shot_id: str, take: int) -> str:
    """How a render names take ``take`` of a shot (``#`` never occurs in a shot id)."""
    return shot_id if take == 1 else f"{shot_id}#{take}"

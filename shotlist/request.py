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
    hash: str = field(default="", compare=False)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def params_dict(self) -> dict[str, object]:
        return dict(self.params)

    @property
    def media(self) -> tuple[MediaRef, ...]:
        return self.images + self.videos + self.audios

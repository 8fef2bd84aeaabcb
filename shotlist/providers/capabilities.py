"""What each provider and model accepts, and how a storyboard's values map onto it.

The records are data; the functions are pure. Planning uses them in this order::

    caps = capabilities(provider)                  # UnknownName: unknown provider
    limits = resolve_model(caps, model)            # UnknownName: unknown model (aliases resolve)
    mapped = map_request(limits, duration=..., size=..., aspect_ratio=..., resolution=...,
                         images=..., videos=..., audios=..., generate_audio=...)
    mapped.problems, mapped.notes                  # errors; warnings about mapped values

``map_request`` is ``check_limits`` + ``map_duration`` + ``map_frame`` in one call;
each of those returns its value plus an optional warning (``Mapped``).

The gateway's rule decides the mapping: a value the model cannot take becomes the
nearest one it can (aspect ratio by log ratio, resolution tier by log pixel area;
``size`` beats ``aspect_ratio`` + ``resolution``) and a warning says so. What
would change the film instead -- a duration out of range, more references than
allowed, audio without a visual reference -- is a problem, never a mapping.

Resolution tiers name a pixel area at any aspect ratio: ``480p``/``720p``/``1080p``
(any ``<n>p``) fix the short side; ``1K``/``2K``/``4K`` (any ``<n>K``) mean about
``(n*1024)^2`` pixels, so 16:9 at 1K is 1365.3x768. Pixel sizes are rounded to
even numbers because H.264 in 4:2:0 (what the local engine and the stitcher
write) needs them: 16:9 at 1K renders at 1366x768.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Generic, TypeVar

from shotlist.storyboard.multishot import SEEDANCE_MULTI_SHOT, MultiShotWording
from shotlist.suggest import suggest

T = TypeVar("T")

SEEDANCE_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
SEEDANCE_TIERS = ("480p", "720p", "1080p")


class UnknownName(ValueError, LookupError):
    """An unknown provider or model name; the message lists the valid ones and the nearest."""


class TokenStyle(StrEnum):
    """How a provider's prompts name the n-th reference of a kind (the value shows Image 1)."""

    AT = "@Image1"  # lumenfall, fal
    BRACKET = "[Image1]"  # replicate
    SPACED = "Image 1"  # ark
    NAME = "name"  # local: the reference's own name, in plain words


@dataclass(frozen=True)
class ModelLimits:
    """What one model at one provider accepts; the defaults are Seedance 2.0's.

    ``None`` means "anything" for ratios, tiers and counts. ``multi_shot`` is how the
    model takes several shots in one generation; ``None``: it cannot (segments are refused).

    ``price_per_second_usd`` is quoted at ``price_area`` pixels (1280x720) and
    scales with pixel area, as Seedance's token billing does; ``price_area``
    None means a flat price per second.
    """

    provider: str
    name: str
    aliases: tuple[str, ...] = ()
    wire_id: str = ""  # the provider's own id (endpoint or model version) for this model
    min_duration: float = 4
    max_duration: float = 15
    whole_seconds: bool = True
    aspect_ratios: tuple[str, ...] | None = SEEDANCE_RATIOS
    resolutions: tuple[str, ...] | None = SEEDANCE_TIERS
    max_images: int | None = 9
    max_videos: int | None = 3
    max_audios: int | None = 3
    max_files: int | None = 12
    audio_needs_visual: bool = True
    honours_seed: bool = True
    supports_audio: bool = True
    price_per_second_usd: float = 0.0
    price_area: int | None = 1280 * 720
    multi_shot: MultiShotWording | None = SEEDANCE_MULTI_SHOT
    first_frame_field: str | None = None
    """The documented request field that carries a first frame (image-to-video); None: none."""
    last_frame_field: str | None = None
    """The documented request field that carries a last frame; None: the route takes none."""
    frames_with_references: bool = False
    """Whether first/last frames may be sent with reference images or videos (Seedance: no)."""
    # (ratio, tier, width, height) where the provider documents its own pixel sizes
    # (which need not be even); other frames are computed by ``pixel_size``.
    frame_sizes: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def title(self) -> str:
        """How messages name the model: ``"lumenfall seedance-2.0"``."""
        return f"{self.provider} {self.name}"


@dataclass(frozen=True)
class Capabilities:
    """One provider: its models, settings and the token style its prompts use."""

    name: str
    models: tuple[ModelLimits, ...]
    default_model: str
    api_key_env: str | None
    base_url_env: str | None
    default_base_url: str | None
    default_concurrency: int
    token_style: TokenStyle
    any_model: bool = False  # local: any model name previews with the one previz model
    poll_rate: float | None = None
    """Status requests per second the provider documents for an account, if it documents a
    limit: the engine then polls each job no more often than its jobs in flight allow."""
    # Wire fields this provider fills from storyboard fields, beyond request.NAMED_FIELDS:
    # ``params`` may not set them either.
    named_params: frozenset[str] = frozenset()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(n for m in self.models for n in m.names)


# The records ---------------------------------------------------------------------------------

# Seedance 2.0 (the defaults of ModelLimits above) as every provider documents it: 4-15 s in
# whole seconds; six aspect ratios; up to 9 images, 3 videos, 3 audio clips and 12 files in
# all; audio only alongside an image or video. Sources:
# - fal.ai/models/bytedance/seedance-2.0/reference-to-video: "Up to 9" images, "Up to 3"
#   videos and audio, "Total files across all modalities must not exceed 12", audio
#   "requires at least one image or video", duration "4" to "15", aspect ratios 21:9 16:9
#   4:3 1:1 3:4 9:16;
# - replicate.com/bytedance/seedance-2.0 API schema: the same counts, duration up to 15;
# - BytePlus ModelArk (docs.powertokens.ai's copy of its API page): "reference images (0-9)
#   + videos (0-3) + audio (0-3)", "You cannot input audio alone".
_FAST_TIERS = ("480p", "720p")  # fal's fast tier: "480p (faster/cheaper) or 720p"

LOCAL_PROVIDER = "local"
"""The free previz engine, the default provider: the one place that spells its name."""

PREVIZ = ModelLimits(
    provider=LOCAL_PROVIDER,
    name="previz",
    wire_id="previz",
    min_duration=1,
    max_duration=60,
    whole_seconds=False,
    aspect_ratios=None,
    resolutions=None,
    max_images=None,
    max_videos=None,
    max_audios=None,
    max_files=None,
    audio_needs_visual=False,
    price_per_second_usd=0.0,
    price_area=None,
    first_frame_field="first_frame",
    last_frame_field="last_frame",
    frames_with_references=True,
)

LOCAL = Capabilities(
    name=LOCAL_PROVIDER,
    models=(PREVIZ,),
    default_model="previz",
    api_key_env=None,
    base_url_env=None,
    default_base_url=None,
    default_concurrency=2,  # ffmpeg encodes use several cores each
    token_style=TokenStyle.NAME,
    any_model=True,
)

# The gateway's own Seedance 2.0 page (DESIGN §3; reference/seedance-2.0-lumenfall-api.txt):
# model id seedance-2.0 ("also known as" seedance-2-0, seedance-2); ratios auto, 9:16, 3:4,
# 1:1, 4:3, 16:9, 21:9; tiers auto and 1K, with the six 1K sizes below ("1365x768" or
# "16:9" + "1K"); "any ratio or tier is accepted and mapped to the nearest supported
# value". A 720p shot is therefore rendered (and priced) at 1K, and plan says so. `auto`
# (the model picks the frame) is not offered: plan could not show the size or the price.
# Its price is fal's, the route the page names: $0.30/s at 720p, scaling with pixel area.
LUMENFALL_1K_SIZES = (
    ("21:9", "1K", 1563, 670),
    ("16:9", "1K", 1365, 768),
    ("4:3", "1K", 1183, 887),
    ("1:1", "1K", 1024, 1024),
    ("3:4", "1K", 887, 1182),
    ("9:16", "1K", 768, 1365),
)
LUMENFALL = Capabilities(
    name="lumenfall",
    models=(
        ModelLimits(
            provider="lumenfall",
            name="seedance-2.0",
            aliases=("seedance-2-0", "seedance-2"),
            wire_id="seedance-2.0",
            resolutions=("1K",),
            frame_sizes=LUMENFALL_1K_SIZES,
            price_per_second_usd=0.30,
            # The gateway's page: input_reference, "Input image(s) to animate into video"
            # (I2V); it documents no field for a last frame.
            first_frame_field="input_reference",
        ),
    ),
    default_model="seedance-2.0",
    api_key_env="LUMENFALL_API_KEY",
    base_url_env="LUMENFALL_BASE_URL",
    default_base_url="https://api.lumenfall.ai/v1",
    default_concurrency=4,
    # The page states no rate limit for GET /videos/{id}; its examples poll every 5 s, an
    # example rather than a limit (a 429 is retried, honouring Retry-After).
    token_style=TokenStyle.AT,
)

# fal.ai/models/bytedance/seedance-2.0/{text,image,reference}-to-video (fal picks the endpoint
# by the media given): "$0.3024/second" at 720p, billed by tokens = w*h*duration*24/1024, so
# the price scales with pixel area; resolution 480p, 720p, 1080p ("Output up to 1080p").
# .../seedance-2.0/fast/...: "$0.2419/second" at 720p, "480p ... or 720p".
FAL = Capabilities(
    name="fal",
    models=(
        ModelLimits(
            provider="fal",
            name="seedance-2.0",
            aliases=("seedance-2-0", "seedance-2"),
            wire_id="bytedance/seedance-2.0",
            price_per_second_usd=0.3024,
            first_frame_field="image_url",  # the image-to-video endpoint
            last_frame_field="end_image_url",
        ),
        ModelLimits(
            provider="fal",
            name="seedance-2.0-fast",
            aliases=("seedance-2-0-fast", "seedance-2-fast"),
            wire_id="bytedance/seedance-2.0/fast",
            resolutions=_FAST_TIERS,
            price_per_second_usd=0.2419,
            first_frame_field="image_url",
            last_frame_field="end_image_url",
        ),
    ),
    default_model="seedance-2.0",
    api_key_env="FAL_KEY",
    base_url_env="FAL_BASE_URL",
    default_base_url="https://queue.fal.run",
    # docs.fal.ai documents concurrency limits (requests beyond them wait in its queue); no
    # rate limit for the queue's status endpoint was found.
    default_concurrency=4,
    token_style=TokenStyle.AT,
    named_params=frozenset({"image_urls", "end_image_url"}),
)

# docs.byteplus.com ModelArk (via docs.powertokens.ai's copy of the API page): model ids
# dreamina-seedance-2-0-260128 and dreamina-seedance-2-0-fast-260128; prompts name media
# "Image 1", "Video 1", "Audio 1"; base URL https://ark.ap-southeast.bytepluses.com/api/v3.
# Billed by tokens; Volcengine's published 46 CNY/M tokens (~$6.6/M) is ~$0.14/s at 720p
# (crazyrouter.com measured 87,300 tokens for 4 s of 720p). BytePlus's own USD price was not
# found; treat it as an estimate. The fast model costs 37/46 of it.
ARK = Capabilities(
    name="ark",
    models=(
        ModelLimits(
            provider="ark",
            name="seedance-2.0",
            aliases=("seedance-2-0", "seedance-2", "dreamina-seedance-2-0-260128"),
            wire_id="dreamina-seedance-2-0-260128",
            price_per_second_usd=0.14,
            first_frame_field="first_frame",  # content item roles
            last_frame_field="last_frame",
        ),
        ModelLimits(
            provider="ark",
            name="seedance-2.0-fast",
            aliases=("seedance-2-0-fast", "seedance-2-fast", "dreamina-seedance-2-0-fast-260128"),
            wire_id="dreamina-seedance-2-0-fast-260128",
            resolutions=_FAST_TIERS,
            price_per_second_usd=0.113,
            first_frame_field="first_frame",
            last_frame_field="last_frame",
        ),
    ),
    default_model="seedance-2.0",
    api_key_env="ARK_API_KEY",
    base_url_env="ARK_BASE_URL",
    default_base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
    # ModelArk answers RateLimitExceeded (EndpointRPMExceeded) over its per-endpoint rates; no
    # figure for querying a task was found, so none is assumed.
    default_concurrency=2,
    token_style=TokenStyle.SPACED,
    named_params=frozenset({"content", "ratio"}),
)

# replicate.com/bytedance/seedance-2.0 (and -fast) API schema: reference_images "up to 9 ...
# [Image1]", reference_videos up to 3, reference_audios up to 3 "Requires at least one
# reference image or video", integer duration up to 15, default 720p. Its price was not
# found; we assume Seedance 2.0's usual $0.30/s at 720p, and fal's fast/standard ratio.
REPLICATE = Capabilities(
    name="replicate",
    models=(
        ModelLimits(
            provider="replicate",
            name="seedance-2.0",
            aliases=("seedance-2-0", "seedance-2", "bytedance/seedance-2.0"),
            wire_id="bytedance/seedance-2.0",
            price_per_second_usd=0.30,
            first_frame_field="image",
            last_frame_field="last_frame_image",
        ),
        ModelLimits(
            provider="replicate",
            name="seedance-2.0-fast",
            aliases=("seedance-2-0-fast", "seedance-2-fast", "bytedance/seedance-2.0-fast"),
            wire_id="bytedance/seedance-2.0-fast",
            resolutions=_FAST_TIERS,
            price_per_second_usd=0.24,
            first_frame_field="image",
            last_frame_field="last_frame_image",
        ),
    ),
    default_model="seedance-2.0",
    api_key_env="REPLICATE_API_TOKEN",
    base_url_env="REPLICATE_BASE_URL",
    default_base_url="https://api.replicate.com/v1",
    default_concurrency=4,
    # replicate.com/docs/topics/predictions/rate-limits: creating predictions 600 requests per
    # minute, "all other endpoints" (getting a prediction among them) 3000 per minute.
    poll_rate=3000 / 60,
    token_style=TokenStyle.BRACKET,
    # ``image`` (the first frame) cannot be combined with reference_images.
    named_params=frozenset(
        {"image", "last_frame_image", "reference_images", "reference_videos", "reference_audios"}
    ),
)

_BY_NAME: dict[str, Capabilities] = {c.name: c for c in (LOCAL, LUMENFALL, FAL, ARK, REPLICATE)}
PROVIDERS: tuple[str, ...] = tuple(_BY_NAME)


def capabilities(provider: str) -> Capabilities:
    """The built-in record for ``provider``; UnknownName (a ValueError and LookupError) if unknown.

    ``shotlist.providers.registry.capabilities`` also knows the providers packages add.
    """
    try:
        return _BY_NAME[provider]
    except KeyError:
        raise UnknownName(unknown_name_message("provider", provider, PROVIDERS)) from None


def resolve_model(caps: Capabilities, name: str | None) -> ModelLimits:
    """The model ``name`` (or an alias) names at ``caps``; None means the provider's default.

    For ``local`` every name resolves to the previz model: the storyboard can name
    the model it will render with later and still preview locally. UnknownName
    (a ValueError and a LookupError) lists the names the provider takes.
    """
    wanted = name or caps.default_model
    for model in caps.models:
        if wanted in model.names:
            return model
    if caps.any_model:
        return caps.models[0]
    raise UnknownName(unknown_name_message("model", wanted, caps.model_names, f" for {caps.name}"))


def unknown_name_message(what: str, value: str, choices: tuple[str, ...], where: str = "") -> str:
    hint = suggest(value, choices)
    tail = f'; did you mean "{hint}"?' if hint else ""
    return f"unknown {what} {value!r}{where}: choose one of {', '.join(choices)}{tail}"


# Sizes, ratios and tiers -------------------------------------------------------------------

_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_TIER = re.compile(r"^\s*(\d+)\s*([pPkK])\s*$")

# Ratios a size is labelled with when it is one of them (within 1%).
_NAMED_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
# Tiers a size is labelled with on a model that takes any size.
_NAMED_TIERS = ("480p", "720p", "1080p", "1K", "1440p", "2K", "2160p", "4K")
_RATIO_LABEL_TOLERANCE = math.log(1.01)


def parse_aspect_ratio(text: str) -> float:
    """Width over height of ``"16:9"`` (also ``"2.39:1"``); ValueError otherwise."""
    match = _RATIO.match(text)
    if not match or float(match[1]) <= 0 or float(match[2]) <= 0:
        raise ValueError(f'aspect ratio {text!r} is not of the form "16:9"')
    return float(match[1]) / float(match[2])


def parse_size(text: str) -> tuple[int, int]:
    """``"1365x768"`` as (1365, 768); ValueError otherwise."""
    match = _SIZE.match(text)
    if not match or int(match[1]) <= 0 or int(match[2]) <= 0:
        raise ValueError(f'size {text!r} is not of the form "1280x720"')
    return int(match[1]), int(match[2])


def parse_resolution(text: str) -> tuple[str, int]:
    """A tier as ("p", short side) for ``"720p"`` or ("K", n) for ``"1K"``; ValueError otherwise."""
    match = _TIER.match(text)
    if not match or int(match[1]) <= 0:
        raise ValueError(f'resolution {text!r} is not a tier like "720p" or "1K"')
    return match[2].upper() if match[2] in "kK" else "p", int(match[1])


def _even(value: float) -> int:
    # Halves round up (1365 -> 1366), as the gateway rounds its own sizes.
    return max(2, 2 * math.floor(value / 2 + 0.5))


def pixel_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """The (width, height) of a tier at a ratio, both even: 16:9 at 720p is (1280, 720)."""
    ratio = parse_aspect_ratio(aspect_ratio)
    unit, n = parse_resolution(resolution)
    if unit == "p":
        short = float(n)
        return (_even(short * ratio), _even(short)) if ratio >= 1 else (_even(short), _even(short / ratio))
    area = float(n * 1024) ** 2
    height = math.sqrt(area / ratio)
    return _even(height * ratio), _even(height)


def _area(aspect_ratio: str, resolution: str) -> int:
    width, height = pixel_size(aspect_ratio, resolution)
    return width * height


def nearest_ratio(ratio: float, choices: tuple[str, ...]) -> str:
    """The choice closest to ``ratio`` in log terms (2:1 and 1:2 are equally far from 1:1)."""
    return min(choices, key=lambda c: abs(math.log(parse_aspect_ratio(c)) - math.log(ratio)))


def nearest_tier(area: float, aspect_ratio: str, choices: tuple[str, ...]) -> str:
    """The tier whose pixel area at ``aspect_ratio`` is closest to ``area`` in log terms.

    Ties go to the larger tier: given the choice, keep detail.
    """
    ranked = sorted(choices, key=lambda c: _area(aspect_ratio, c), reverse=True)
    return min(ranked, key=lambda c: abs(math.log(_area(aspect_ratio, c)) - math.log(area)))


def ratio_label(width: int, height: int) -> str:
    """A size's ratio as a name: ``"16:9"`` for 1365x768, else the reduced ``"W:H"``."""
    ratio = width / height
    named = nearest_ratio(ratio, _NAMED_RATIOS)
    if abs(math.log(parse_aspect_ratio(named)) - math.log(ratio)) <= _RATIO_LABEL_TOLERANCE:
        return named
    reduced = Fraction(width, height)
    return f"{reduced.numerator}:{reduced.denominator}"


# Mapping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapped(Generic[T]):
    """A value the model accepts, and what changed to get it (None: nothing changed)."""

    value: T
    warning: str | None = None


@dataclass(frozen=True)
class Frame:
    """The picture a shot is rendered at: tier names the provider accepts, and pixels."""

    aspect_ratio: str
    resolution: str
    width: int
    height: int

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def map_aspect_ratio(limits: ModelLimits, aspect_ratio: str) -> Mapped[str]:
    """The nearest aspect ratio ``limits`` offers (by log ratio); unchanged if any is taken."""
    if limits.aspect_ratios is None or aspect_ratio in limits.aspect_ratios:
        return Mapped(aspect_ratio)
    nearest = nearest_ratio(parse_aspect_ratio(aspect_ratio), limits.aspect_ratios)
    return Mapped(
        nearest,
        f"aspect ratio {aspect_ratio} is not offered by {limits.title}; using the nearest, {nearest}",
    )


def map_resolution(limits: ModelLimits, resolution: str, aspect_ratio: str) -> Mapped[str]:
    """The tier ``limits`` offers nearest in pixel area to ``resolution`` at ``aspect_ratio``."""
    if limits.resolutions is None or resolution in limits.resolutions:
        return Mapped(resolution)
    nearest = nearest_tier(_area(aspect_ratio, resolution), aspect_ratio, limits.resolutions)
    return Mapped(
        nearest,
        f"resolution {resolution} is not offered by {limits.title}; using the nearest, {nearest}",
    )


def map_size(limits: ModelLimits, width: int, height: int) -> Mapped[Frame]:
    """A ``size`` as the nearest ratio and tier ``limits`` offers, at that tier's pixel size.

    A model that takes any size keeps it (odd numbers rounded to even, silently:
    one pixel changes nothing a viewer sees) and labels it with the nearest names.
    """
    if limits.aspect_ratios is None and limits.resolutions is None:
        return Mapped(_any_size_frame(width, height))
    ratio = nearest_ratio(width / height, limits.aspect_ratios or _NAMED_RATIOS)
    tier = nearest_tier(width * height, ratio, limits.resolutions or _NAMED_TIERS)
    frame = Frame(ratio, tier, *frame_pixels(limits, ratio, tier))
    if (frame.width, frame.height) in ((width, height), (_even(width), _even(height))):
        return Mapped(frame)
    return Mapped(
        frame,
        f"size {width}x{height} is not offered by {limits.title}; "
        f"using the nearest, {frame.size} ({ratio} at {tier})",
    )


def frame_pixels(limits: ModelLimits, aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """The (width, height) ``limits`` renders a ratio and tier at: its documented size, if any."""
    for ratio, tier, width, height in limits.frame_sizes:
        if (ratio, tier) == (aspect_ratio, resolution):
            return width, height
    return pixel_size(aspect_ratio, resolution)


def _any_size_frame(width: int, height: int) -> Frame:
    w, h = _even(width), _even(height)
    ratio = ratio_label(w, h)
    return Frame(ratio, nearest_tier(w * h, ratio_label(w, h), _NAMED_TIERS), w, h)


def map_frame(
    limits: ModelLimits,
    *,
    size: str | None = None,
    aspect_ratio: str = "16:9",
    resolution: str = "720p",
) -> Mapped[Frame]:
    """The frame a shot renders at; ``size`` (``"1365x768"``) beats ratio and resolution.

    The warning, if any, names every value that changed, joined by ``"; "``.
    Raises ValueError for text that is not a ratio, size or tier at all (the
    loader's validators use the same ``parse_*`` functions, so plan never sees it).
    """
    if size is not None:
        return map_size(limits, *parse_size(size))
    ratio = map_aspect_ratio(limits, aspect_ratio)
    tier = map_resolution(limits, resolution, ratio.value)
    frame = Frame(ratio.value, tier.value, *frame_pixels(limits, ratio.value, tier.value))
    warnings = [w for w in (ratio.warning, tier.warning) if w]
    return Mapped(frame, "; ".join(warnings) or None)


def map_duration(limits: ModelLimits, duration: float) -> Mapped[float]:
    """The duration sent: whole-second models get the nearest whole second, halves rounding up.

    Rounding up keeps footage that ``trim`` can still cut; rounding down would
    lose it. Range is not checked here: ``check_limits`` reports a duration out
    of range as a problem, since stretching a shot would change the film.
    """
    if not limits.whole_seconds or float(duration).is_integer():
        return Mapped(float(duration))
    whole = float(math.floor(duration + 0.5))
    return Mapped(
        whole,
        f"duration {_seconds(duration)} s: {limits.title} takes whole seconds; using {_seconds(whole)} s",
    )


def _seconds(value: float) -> str:
    return f"{value:g}"


# Problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitProblem:
    """Something the model cannot take and that mapping would not fix.

    ``field`` is the storyboard field to point at: ``duration``, ``images``,
    ``videos``, ``audios`` or ``references`` (the total).
    """

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def check_limits(
    limits: ModelLimits, *, duration: float, images: int = 0, videos: int = 0, audios: int = 0
) -> list[LimitProblem]:
    """Every way this shot exceeds ``limits``, in field order; empty when it fits.

    Counts are of the shot's final media per kind (its lists plus the named
    references its prompt uses).
    """
    problems: list[LimitProblem] = []
    if not limits.min_duration <= duration <= limits.max_duration:
        problems.append(
            LimitProblem(
                "duration",
                f"duration {_seconds(duration)} s is outside what {limits.title} can render "
                f"({_seconds(limits.min_duration)} to {_seconds(limits.max_duration)} s)",
            )
        )
    counts = (
        ("images", "image", images, limits.max_images),
        ("videos", "video", videos, limits.max_videos),
        ("audios", "audio clip", audios, limits.max_audios),
        ("references", "reference file", images + videos + audios, limits.max_files),
    )
    for field_name, noun, count, limit in counts:
        if limit is not None and count > limit:
            message = f"{_plural(count, noun)}, but {limits.title} takes at most {limit}"
            problems.append(LimitProblem(field_name, message))
    if limits.audio_needs_visual and audios and not (images or videos):
        problems.append(
            LimitProblem("audios", f"{limits.title} needs an image or video reference alongside audio")
        )
    return problems


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class MappedRequest:
    """A shot's values as the model will take them, with notes and problems.

    ``notes`` are warnings about values mapped to the nearest accepted one;
    ``problems`` are errors no mapping may fix. ``from_size`` tells whether the
    frame came from a ``size`` (a provider that takes WxH may send it as such).
    """

    duration: float
    aspect_ratio: str
    resolution: str
    width: int
    height: int
    generate_audio: bool
    from_size: bool = False
    notes: tuple[str, ...] = ()
    problems: tuple[LimitProblem, ...] = ()

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def map_request(
    limits: ModelLimits,
    *,
    duration: float,
    size: str | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    images: int = 0,
    videos: int = 0,
    audios: int = 0,
    generate_audio: bool = True,
) -> MappedRequest:
    """Every mapping and check for one shot at once (see the module docstring).

    ``aspect_ratio`` and ``resolution`` default to 16:9 and 720p when not given.
    """
    problems = check_limits(limits, duration=duration, images=images, videos=videos, audios=audios)
    mapped_duration = map_duration(limits, duration)
    frame = map_frame(limits, size=size, aspect_ratio=aspect_ratio or "16:9", resolution=resolution or "720p")
    audio = generate_audio and limits.supports_audio
    audio_note = None
    if generate_audio and not limits.supports_audio:
        audio_note = f"{limits.title} makes no sound; generate_audio is off"
    notes = (mapped_duration.warning, frame.warning, audio_note)
    return MappedRequest(
        duration=mapped_duration.value,
        aspect_ratio=frame.value.aspect_ratio,
        resolution=frame.value.resolution,
        width=frame.value.width,
        height=frame.value.height,
        generate_audio=audio,
        from_size=size is not None,
        notes=tuple(n for n in notes if n),
        problems=tuple(problems),
    )


def estimate_cost_usd(limits: ModelLimits, duration: float, width: int, height: int) -> float:
    """One render's cost by the record's price, scaled by pixel area where billing is by tokens."""
    scale = width * height / limits.price_area if limits.price_area else 1.0
    return limits.price_per_second_usd * duration * scale

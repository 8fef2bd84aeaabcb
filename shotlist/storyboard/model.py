"""The storyboard format (DESIGN §1) as strict, frozen pydantic models.

These models describe a storyboard *after* templating: Jinja2 has run, ``use:``
templates are merged and ``each:`` loops are unrolled (see template.py). The
JSON Schemas in ``schemas/`` are generated from them (``schema.py`` adapts them
to files as written), so every field carries a description.

``EXPECTED`` holds, per model field, the words an error message uses for what
would be valid ("seconds as a number between 1 and 60"). It lives here, next
to the constraints it describes, so the two are edited together.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shotlist.storyboard.camera import Angle, Move, ShotSize, Speed
from shotlist.suggest import suggest

SHOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
SIZE_PATTERN = r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$"
ASPECT_PATTERN = r"^[1-9][0-9]?:[1-9][0-9]?$"
FRAME_SIZE_PATTERN = r"^([1-9][0-9]{1,4}x[1-9][0-9]{1,4}|[1-9][0-9]?:[1-9][0-9]?)$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

StrictBool = Annotated[bool, Strict()]
StrictStr = Annotated[str, Strict()]
Seconds = Annotated[float, Strict(), Field(ge=1, le=60)]
Seed = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
Size = Annotated[str, Strict(), Field(pattern=SIZE_PATTERN)]
AspectRatio = Annotated[str, Strict(), Field(pattern=ASPECT_PATTERN)]
FrameSize = Annotated[str, Strict(), Field(pattern=FRAME_SIZE_PATTERN)]
Resolution = Literal["480p", "720p", "1080p", "1K", "2K", "4K"]
BuiltinProvider = Literal["local", "lumenfall", "fal", "ark", "replicate"]


def _registered_provider(name: str) -> str:
    """A provider name: a built-in one or one a package registers (providers/registry.py)."""
    from shotlist.providers import registry  # entry points are read only when a name is checked

    names = registry.names()
    if name not in names:
        hint = suggest(name, names)
        tail = f'; did you mean "{hint}"?' if hint else ""
        raise ValueError(f"expected one of {', '.join(names)}, got {json.dumps(name)}{tail}")
    return name


ProviderName = Annotated[
    str,
    Strict(),
    AfterValidator(_registered_provider),
    # Editors complete the built-in names; a package may register more.
    WithJsonSchema({"type": "string", "examples": list(get_args(BuiltinProvider))}),
]
TransitionType = Literal[
    "cut",
    "crossfade",
    "fade_black",
    "dip_white",
    "wipeleft",
    "wiperight",
    "wipeup",
    "wipedown",
    "slideleft",
    "slideright",
    "slideup",
    "slidedown",
    "circleopen",
    "circleclose",
    "dissolve",
    "pixelize",
    "radial",
    "smoothleft",
    "smoothright",
]
FitMode = Literal["fit", "fill", "letterbox", "stretch"]

# The same choices as tuples, for messages and for checks elsewhere (one list each, above).
PROVIDER_NAMES: tuple[str, ...] = get_args(BuiltinProvider)
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
TRANSITION_TYPES: tuple[str, ...] = get_args(TransitionType)
FIT_MODES: tuple[str, ...] = get_args(FitMode)

# What would be valid, in words, per (model name, field name); used by error messages.
EXPECTED: dict[tuple[str, str], str] = {
    ("Storyboard", "version"): "the format version 1",
    ("Storyboard", "title"): "text",
    ("Storyboard", "vars"): "a mapping of variable names to values",
    ("Storyboard", "include"): "a list of YAML file paths",
    ("Storyboard", "references"): "a mapping of reference names to files or URLs",
    ("Storyboard", "templates"): "a mapping of template names to partial shots",
    ("Storyboard", "shots"): "a non-empty list of shots",
    ("Storyboard", "defaults"): "a mapping of shot fields",
    ("Storyboard", "soundtrack"): "a mapping with music, volume and duck",
    ("Storyboard", "cut"): "a mapping of cut fields (output, size, fps, ...)",
    ("*", "camera"): "a mapping with move, speed, shot and angle",
    ("*", "trim"): "a mapping with start and end in seconds",
    ("*", "transition"): "a mapping with type and duration",
    ("*", "duration"): "seconds as a number between 1 and 60",
    ("*", "seed"): "a whole number between 0 and 4294967295",
    ("*", "size"): 'a size like "1280x720" or a ratio like "16:9"',
    ("*", "aspect_ratio"): 'an aspect ratio like "16:9"',
    ("*", "resolution"): "one of " + ", ".join(RESOLUTIONS),
    ("*", "provider"): "one of " + ", ".join(PROVIDER_NAMES),
    ("*", "model"): "a model name like seedance-2.0",
    ("*", "generate_audio"): "true or false",
    ("*", "caption"): "true or false",
    ("*", "mute"): "true or false",
    ("*", "params"): "a mapping of provider-specific fields",
    ("*", "prompt"): "text",
    (
        "*",
        "id",
    ): "a shot id of at most 80 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ("*", "use"): "the name of a template",
    ("*", "images"): "a list of image references (@name, a path or an https URL)",
    ("*", "videos"): "a list of video references (@name, a path or an https URL)",
    ("*", "audios"): "a list of audio references (@name, a path or an https URL)",
    ("*", "dialogue"): "a spoken line, or a list of them",
    ("*", "segments"): "a list of segments, each a mapping with duration and prompt (camera, dialogue)",
    ("*", "vars"): "a mapping of variable names to values",
    ("*", "takes"): "a whole number of takes between 1 and 8",
    ("*", "pick"): "the number of a take between 1 and 8 (at most the shot's takes)",
    ("*", "first_frame"): "an image reference (@name or a path), or {shot: ID} or {shot: ID, at: SECONDS}",
    ("*", "last_frame"): "an image reference (@name or a path), or {shot: ID} or {shot: ID, at: SECONDS}",
    ("FrameOf", "shot"): "the id of another shot",
    ("FrameOf", "at"): "seconds into that shot's clip, as a number of 0 or more",
    ("Camera", "move"): "a camera move",
    ("Camera", "speed"): "one of slow, medium, fast",
    ("Camera", "shot"): "a shot size",
    ("Camera", "angle"): "a camera angle",
    ("Trim", "start"): "seconds as a number of 0 or more",
    ("Trim", "end"): "seconds as a number greater than start",
    ("Transition", "type"): "a transition type",
    ("Transition", "duration"): "seconds as a number between 0 and 10",
    ("Soundtrack", "music"): "an audio reference (@name or a path)",
    ("Soundtrack", "volume"): "decibels as a number between -60 and 12",
    ("Soundtrack", "duck"): "true or false",
    ("Cut", "output"): "a file path ending in .mp4",
    ("Cut", "size"): 'a size like "1280x720"',
    ("Cut", "fps"): "frames per second as a whole number between 1 and 120",
    ("Cut", "loudness"): "integrated loudness in LUFS between -70 and -5",
    ("Cut", "fade_in"): "seconds as a number between 0 and 10",
    ("Cut", "fade_out"): "seconds as a number between 0 and 10",
    ("Cut", "fit"): "one of " + ", ".join(FIT_MODES),
    ("Cut", "captions"): "true or false",
    ("Cut", "burn_subtitles"): "true or false",
}


class Frozen(BaseModel):
    """Base of every model: strict about keys, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class Camera(Frozen):
    """A camera direction in the fixed vocabulary; each provider compiles it."""

    move: Move | None = Field(default=None, description="Camera movement over the shot.")
    speed: Speed | None = Field(default=None, description="How fast the move is.")
    shot: ShotSize | None = Field(default=None, description="Shot size (framing).")
    angle: Angle | None = Field(default=None, description="Camera angle.")


class Trim(Frozen):
    """In and out points inside the generated clip, in seconds."""

    # Finite: ``.inf`` is valid YAML, and a trim to infinity cannot be cut.
    start: Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)] = Field(
        default=0.0, description="Seconds to drop from the start of the clip."
    )
    end: Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Second of the clip where the shot ends; omitted: the clip's end."
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: float | None, info: ValidationInfo) -> float | None:
        start = info.data.get("start", 0.0)
        if end is not None and end <= start:
            raise ValueError(f"expected seconds as a number greater than start ({start:g}), got {end:g}")
        return end


class Transition(Frozen):
    """How the previous shot passes into this one."""

    type: TransitionType = Field(default="cut", description="Transition type.")
    duration: Annotated[float, Strict(), Field(ge=0, le=10)] = Field(
        default=0.5,
        description="Seconds the two shots overlap; the cut is shortened by this much.",
    )


class ReferenceFile(Frozen):
    """A reference with its kind stated: exactly one of image, video, audio."""

    image: StrictStr | None = Field(default=None, description="Path or https URL of an image.")
    video: StrictStr | None = Field(default=None, description="Path or https URL of a video.")
    audio: StrictStr | None = Field(default=None, description="Path or https URL of an audio clip.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ReferenceFile:
        given = [k for k in ("image", "video", "audio") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of image, video or audio")
        return self


class FrameOf(Frozen):
    """A frame of another shot's picked take: by default its last frame at the trim out point
    (for ``first_frame``) or its first frame at the trim in point (for ``last_frame``)."""

    shot: StrictStr = Field(description="The id of the shot whose rendered clip gives the frame.")
    at: Annotated[float, Strict(), Field(ge=0)] | None = Field(
        default=None, description="Seconds into that shot's clip: the frame shown at that time."
    )


FrameSource = Annotated[
    StrictStr | FrameOf,
    Field(description="An image reference (@name or a path), or {shot: ID} / {shot: ID, at: SECONDS}."),
]

Reference = Annotated[
    StrictStr | ReferenceFile,
    Field(description="A file path or https URL (kind from the extension), or {image|video|audio: path}."),
]


class ShotFields(Frozen):
    """Fields shared by defaults, templates and shots."""

    provider: ProviderName | None = Field(default=None, description="Provider that renders the shot.")
    model: StrictStr | None = Field(default=None, description="Model name at the provider.")
    duration: Seconds | None = Field(default=None, description="Length of the generated clip in seconds.")
    aspect_ratio: AspectRatio | None = Field(default=None, description='Aspect ratio such as "16:9".')
    size: FrameSize | None = Field(
        default=None,
        description='Pixel size "WxH" (wins over aspect_ratio and resolution), or "W:H" (an aspect ratio).',
    )
    resolution: Resolution | None = Field(default=None, description="Resolution tier.")
    generate_audio: StrictBool | None = Field(default=None, description="Ask the model for sound.")
    seed: Seed | None = Field(
        default=None,
        description="Seed; in defaults, the base seed from which shots without one derive theirs.",
    )
    camera: Camera | None = Field(default=None, description="Camera direction.")
    params: dict[str, Any] | None = Field(
        default=None, description="Provider-specific fields, sent unchanged and hashed."
    )

    @field_validator("params")
    @classmethod
    def _finite_params(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # JSON has no NaN or infinity: such a body is refused upstream, or worse, billed.
        where = _non_finite(value) if value else None
        if where is not None:
            raise ValueError(f"params.{where} is not a finite number; NaN and infinity cannot be sent")
        return value

    caption: StrictBool | None = Field(
        default=None, description="Caption the local previz with the shot id and prompt."
    )
    mute: StrictBool | None = Field(default=None, description="Drop the shot's own audio in the cut.")
    takes: Annotated[int, Strict(), Field(ge=1, le=8)] | None = Field(
        default=None,
        description="Candidates to render (1-8), each its own request and seed; take 1 keeps the seed.",
    )


def _non_finite(value: Any, prefix: str = "") -> str | None:
    """The dotted name of the first NaN or infinite number inside ``value``, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return prefix.rstrip(".") or "value"
    if isinstance(value, dict):
        items: Any = ((f"{prefix}{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{prefix.rstrip('.')}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for name, item in items:
        found = _non_finite(item, f"{name}.")
        if found is not None:
            return found
    return None


class Defaults(ShotFields):
    """Values every shot takes unless it sets its own."""


def _not_blank(value: str | None) -> str | None:
    # An empty prompt is billed and then refused (or rendered as noise) upstream.
    if value is not None and not value.strip():
        raise ValueError("expected text describing the shot, got an empty prompt")
    return value


class Segment(Frozen):
    """One shot inside a multi-shot generation: its length, what happens, its camera, its lines."""

    duration: Seconds = Field(description="Length of the segment in seconds.")
    prompt: StrictStr = Field(description="What happens in the segment; @name refers to a reference.")
    camera: Camera | None = Field(
        default=None, description="Camera direction of the segment, over the shot's own."
    )
    dialogue: StrictStr | list[StrictStr] | None = Field(
        default=None,
        description="Spoken lines in the segment (besides double-quoted lines in its prompt).",
    )

    @field_validator("prompt")
    @classmethod
    def _says_something(cls, value: str) -> str:
        return _not_blank(value) or value


class ShotBody(ShotFields):
    """The fields a shot and a template have in common beyond the defaults."""

    prompt: StrictStr | None = Field(
        default=None, description="What happens in the shot; @name refers to a reference."
    )
    images: list[StrictStr] | None = Field(default=None, description="Image references, in @Image1.. order.")
    videos: list[StrictStr] | None = Field(default=None, description="Video references, in @Video1.. order.")
    audios: list[StrictStr] | None = Field(default=None, description="Audio references, in @Audio1.. order.")
    trim: Trim | None = Field(default=None, description="In and out points inside the generated clip.")
    transition: Transition | None = Field(
        default=None, description="Transition from the previous shot into this one."
    )
    dialogue: StrictStr | list[StrictStr] | None = Field(
        default=None,
        description="Spoken lines for subtitles (besides double-quoted lines in the prompt).",
    )
    segments: Annotated[list[Segment], Field(min_length=1)] | None = Field(
        default=None,
        description="Several shots inside one generation (multi-shot), with a cut between each; "
        "the shot's duration is their sum and its prompt applies to all of them.",
    )
    first_frame: FrameSource | None = Field(
        default=None,
        description="The picture the shot starts on: an image, or {shot: ID} for that shot's last frame.",
    )
    last_frame: FrameSource | None = Field(
        default=None,
        description="The picture the shot ends on: an image, or {shot: ID} for that shot's first frame.",
    )


class Template(ShotBody):
    """A reusable partial shot; shots apply it with ``use:``."""

    use: StrictStr | None = Field(default=None, description="Another template this one builds on.")
    vars: dict[str, Any] | None = Field(default=None, description="Variables for the shots that use it.")


class Shot(ShotBody):
    """One shot of the film, after templating. It needs a prompt, or segments (or both)."""

    id: Annotated[str, Strict(), Field(pattern=SHOT_ID_PATTERN)] = Field(
        description="Unique, stable id; safe as a file name."
    )

    @field_validator("prompt")
    @classmethod
    def _says_something(cls, value: str | None) -> str | None:
        return _not_blank(value)

    use: StrictStr | None = Field(
        default=None, description="A template whose fields this shot takes; its own win."
    )
    each: dict[str, list[Any]] | None = Field(
        default=None,
        description="Loop variables: one shot per value; several keys give their cross product.",
    )
    vars: dict[str, Any] | None = Field(
        default=None, description="Variables for this shot, over the storyboard's vars."
    )
    pick: Annotated[int, Strict(), Field(ge=1, le=8)] | None = Field(
        default=None, description="The take that goes into the cut (1..takes, default 1)."
    )


class Soundtrack(Frozen):
    """Music under the whole cut."""

    music: StrictStr | None = Field(
        default=None, description="Audio reference for the music bed (@name or a path)."
    )
    volume: Annotated[float, Strict(), Field(ge=-60, le=12)] = Field(
        default=-12.0, description="Music level in dB relative to the shots' own audio."
    )
    duck: StrictBool = Field(default=True, description="Lower the music under shot audio.")


class Cut(Frozen):
    """How the shots are stitched into one film."""

    output: StrictStr | None = Field(
        default=None, description="Path of the cut; default out/<storyboard name>.mp4."
    )
    size: Size = Field(default="1280x720", description='Pixel size of the cut "WxH".')
    fps: Annotated[int, Strict(), Field(ge=1, le=120)] = Field(default=24, description="Frames per second.")
    transition: Transition = Field(
        default=Transition(type="cut", duration=0.0), description="Default transition."
    )
    loudness: Annotated[float, Strict(), Field(ge=-70, le=-5)] | None = Field(
        default=-14.0,
        description="Integrated loudness target in LUFS (EBU R128); null: leave levels alone.",
    )
    fade_in: Annotated[float, Strict(), Field(ge=0, le=10)] = Field(
        default=0.0, description="Fade in from black, seconds."
    )
    fade_out: Annotated[float, Strict(), Field(ge=0, le=10)] = Field(
        default=0.0, description="Fade out to black, seconds."
    )
    fit: FitMode = Field(default="fit", description="How clips of another shape fill the frame.")
    captions: StrictBool = Field(default=True, description="Caption local previz shots with id and prompt.")
    burn_subtitles: StrictBool = Field(default=False, description="Burn spoken lines into the picture.")

    @field_validator("output")
    @classmethod
    def _mp4(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(".mp4"):
            raise ValueError("the cut must be an .mp4 file")
        return value


class Storyboard(Frozen):
    """A storyboard: the film as a list of shots, plus what they share."""

    version: Literal[1] = Field(description="Format version; 1.")
    title: StrictStr | None = Field(default=None, description="Title of the film.")
    vars: dict[str, Any] = Field(
        default_factory=dict, description="Jinja2 variables usable in every string field."
    )
    include: list[StrictStr] = Field(
        default_factory=list,
        description="Other YAML files whose shots and templates are pulled in.",
    )
    defaults: Defaults = Field(
        default=Defaults(), description="Values every shot takes unless it sets its own."
    )
    references: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Reference] = Field(
        default_factory=dict, description="Named media; prompts refer to them as @name."
    )
    templates: dict[str, Template] = Field(default_factory=dict, description="Reusable partial shots.")
    shots: list[Shot] = Field(min_length=1, description="The shots, in film order.")
    soundtrack: Soundtrack | None = Field(default=None, description="Music under the whole cut.")
    cut: Cut = Field(default=Cut(), description="How the shots are stitched into one film.")

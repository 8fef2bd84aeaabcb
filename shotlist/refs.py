"""References: declared media, where they live, their content hashes, and prompt tokens.

A storyboard names media once (``references: {keeper: refs/keeper.png}``) and
prompts point at it (``@keeper``); the seed syntax ``@Image1``/``@Video1``/``@Audio1``
points at a shot's own ``images:``/``videos:``/``audios:`` lists instead. Planning::

    spec = declare_reference("keeper", "refs/keeper.png")          # RefError: bad kind
    media = resolve_media(spec, storyboard_dir)                    # RefError: missing, escapes
    resolved = resolve_prompt(prompt, declared, images, videos, audios)
    resolved.problems                                              # unknown @names, bad indexes
    render_tokens(resolved, caps.token_style)                      # the prompt as sent

Errors about one reference raise ``RefError`` (a ValueError without a location:
the loader adds file, line and field). Problems in a prompt come back as data,
``RefProblem``, with the token and its offset in the prompt.

A local file's hash is the sha256 of its bytes, so renaming it changes nothing
and editing it changes every request that uses it; an https URL's hash is the
sha256 of the URL text (its bytes are the provider's to fetch).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from shotlist import files
from shotlist.providers.capabilities import TokenStyle
from shotlist.request import MediaKind, MediaRef
from shotlist.suggest import suggest

EXTENSIONS: dict[MediaKind, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"),
    "video": (".mp4", ".mov", ".webm", ".mkv", ".m4v"),
    "audio": (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".flac", ".opus"),
}
KINDS: tuple[MediaKind, ...] = ("image", "video", "audio")
_KIND_BY_WORD: dict[str, MediaKind] = {kind: kind for kind in KINDS}

# The same rule the model applies to reference names (letters, digits, "_").
NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class RefError(ValueError):
    """One reference cannot be used; the message says why and what would work."""


@dataclass(frozen=True)
class RefSpec:
    """A reference as declared: its name, its kind, and the path or https URL as written."""

    name: str
    kind: MediaKind
    source: str


# Kinds ---------------------------------------------------------------------------------------


def _scheme(source: str) -> str:
    # "C:/x.png" is not a URL with scheme "c"; a real scheme has at least two letters.
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):", source)
    return match[1].lower() if match else ""


def _extension(source: str) -> str:
    path = urlsplit(source).path if _scheme(source) else source
    return os.path.splitext(path)[1].lower()


def _valid_extensions() -> str:
    image, video, audio = (f"{kind} ({' '.join(EXTENSIONS[kind])})" for kind in KINDS)
    return f"{image}, {video} or {audio}"


def kind_of(source: str) -> MediaKind | None:
    """The kind a path or URL's extension says, or None when the extension is not one we know."""
    ext = _extension(source)
    return next((kind for kind in KINDS if ext in EXTENSIONS[kind]), None)


def declare_reference(name: str, source: str, kind: MediaKind | None = None) -> RefSpec:
    """A declared reference, its kind stated or read from the extension.

    A stated kind wins over an unknown extension (an https URL often has none)
    but not over a known one that disagrees: ``{image: clip.mp4}`` is a mistake.
    """
    if is_positional_name(name):
        raise RefError(
            f"the name {name!r} reads as a positional token (@Image1, @Video1, @Audio1 index a shot's "
            "own lists); choose another name"
        )
    detected = kind_of(source)
    if kind is None:
        if detected is None:
            raise RefError(_unknown_kind_message(source))
        return RefSpec(name, detected, source)
    if detected is not None and detected != kind:
        ext = _extension(source)
        raise RefError(f"{source!r} is declared as {_a(kind)}, but {ext} is {_a(detected)} extension")
    return RefSpec(name, kind, source)


def _a(kind: MediaKind) -> str:
    return f"an {kind}" if kind in ("image", "audio") else f"a {kind}"


def _unknown_kind_message(source: str) -> str:
    ext = _extension(source)
    what = f"its extension {ext!r}" if ext else "a name without an extension"
    return (
        f"cannot tell the kind of {source!r} from {what}: use {_valid_extensions()}, "
        f"or state the kind, as in {{image: {source}}}"
    )


# Locations and hashes ------------------------------------------------------------------------

# (resolved path, size, mtime_ns) -> sha256: planning 500 shots must not re-read the same
# files. A changed size or mtime is a changed file; same-size edits inside one mtime tick
# are beyond what a stat can see, and the cache lives only as long as the process.
_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, memoized per (path, size, mtime) within the process."""
    seen = files.project_sha256(path)  # another view of the project (a git revision)
    if seen is not None:
        return seen
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    cached = _HASHES.get(key)
    if cached is None:
        cached = _HASHES[key] = files.sha256_file(path)
    return cached


def clear_hash_cache() -> None:
    """Forget memoized hashes (for long-running watchers and tests)."""
    _HASHES.clear()


def resolve_media(spec: RefSpec, base_dir: Path, *, allow_outside: bool = False) -> MediaRef:
    """The media a reference points at, located, checked and hashed.

    https URLs are taken as they are. Local paths are relative to ``base_dir``
    (the storyboard's folder) and must resolve inside it: an absolute path
    elsewhere, a climb through ``..`` or a symlink out is refused unless
    ``allow_outside``.
    """
    scheme = _scheme(spec.source)
    if scheme:
        _check_url(spec.source, scheme)
        url_hash = hashlib.sha256(spec.source.encode()).hexdigest()
        return MediaRef(spec.name, spec.kind, url_hash, url=spec.source)
    path = locate(spec.source, base_dir, allow_outside=allow_outside)
    try:
        check_content(path, spec.kind, spec.source)
        return MediaRef(spec.name, spec.kind, file_sha256(path), path=path)
    except OSError as exc:
        raise RefError(f"{spec.source!r} cannot be read ({exc.strerror or exc})") from exc


# The first bytes of every image format a provider takes (IMAGE extensions above).
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def check_content(path: Path, kind: MediaKind, source: str) -> None:
    """Refuse a file no provider can use, before anything is paid for: an empty file
    (it would travel as an empty data URI), or an "image" that starts like no image."""
    if files.in_view():  # a git revision (plan --against): the file as it was there
        head = files.read_project_bytes(path)[:16]
    else:
        with path.open("rb") as handle:
            head = handle.read(16)
    if not head:
        raise RefError(f"{source!r} is an empty file (0 bytes); expected {_a(kind)}")
    if kind == "image" and not _looks_like_image(head):
        raise RefError(
            f"{source!r} is not an image file (its first bytes are no PNG, JPEG, WebP, GIF or BMP)"
        )


def _looks_like_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _check_url(url: str, scheme: str) -> None:
    if scheme == "https":
        return
    if scheme == "http":
        raise RefError(
            f"{url!r} uses http: a plain-http download can be read or altered on the way, "
            "so references must use https"
        )
    raise RefError(f"{url!r}: references are local paths or https URLs, not {scheme}: URLs")


def locate(source: str, base_dir: Path, *, allow_outside: bool = False) -> Path:
    """The resolved path of a local reference file, confined to ``base_dir`` unless allowed."""
    base = base_dir.resolve()
    written = Path(source)
    target = (base / written).resolve()
    if not allow_outside and not target.is_relative_to(base):
        raise RefError(_escape_message(source, written, base, target))
    kind = files.project_kind(target)
    if kind is None:
        raise RefError(f"{source!r} does not exist (looked for {target})")
    if kind != "file":
        raise RefError(f"{source!r} is not a file ({target})")
    return target


def _escape_message(source: str, written: Path, base: Path, target: Path) -> str:
    fix = "(--allow-outside permits it)"
    if written.is_absolute():
        how = "is an absolute path"
    elif not Path(os.path.normpath(base / written)).is_relative_to(base):
        how = "climbs out through '..'"
    else:
        how = f"leads out through a symlink (to {target})"
    return f"{source!r} {how}: references must stay inside the storyboard's folder {base} {fix}"


def shot_media_spec(item: str, kind: MediaKind, declared: Mapping[str, RefSpec]) -> RefSpec:
    """A spec for one entry of a shot's ``images:``/``videos:``/``audios:`` list.

    ``@name`` is that declared reference, which must be of the list's kind;
    anything else is a path or https URL of that kind, named after its file
    (``refs/keeper.png`` is ``keeper``).
    """
    if item.startswith("@"):
        name = item[1:]
        spec = declared.get(name)
        if spec is None:
            raise RefError(_unknown_name_message(name, declared))
        if spec.kind != kind:
            raise RefError(f"@{name} is {_a(spec.kind)}, not {_a(kind)}")
        return spec
    stem = Path(urlsplit(item).path if _scheme(item) else item).stem or item
    return declare_reference(stem, item, kind)


def frame_image(
    item: str, declared: Mapping[str, Declared], folder: Path, *, allow_outside: bool
) -> MediaRef:
    """A shot's ``first_frame``/``last_frame`` written as an image reference (``@name``, a path
    or an https URL), located, checked to be an image and hashed. Raises RefError."""
    name = item[1:] if item.startswith("@") else ""
    known = declared.get(name)
    if known is not None and known.error:
        raise RefError(f"@{name} cannot be used: {known.error}")
    if known is not None and known.kind != "image":
        raise RefError(f"@{name} is {_a(known.kind or 'image')}, not an image: a frame is a picture")
    if not name and kind_of(item) not in (None, "image"):
        raise RefError(f"{item!r} is {_a(kind_of(item) or 'image')}, not an image: a frame is a picture")
    specs = {d.name: d.spec for d in declared.values() if d.spec is not None}
    spec = shot_media_spec(item, "image", specs)
    media = (
        known.media
        if known is not None and known.media
        else resolve_media(spec, folder, allow_outside=allow_outside)
    )
    return media  # resolve_media has read its first bytes: it is an image


# Prompt tokens -------------------------------------------------------------------------------


class TokenKind(StrEnum):
    NAMED = "named"  # @keeper
    POSITIONAL = "positional"  # @Image1, @Video2, @Audio1 (any case)
    ESCAPE = "escape"  # @@, a literal @


@dataclass(frozen=True)
class Token:
    """One ``@`` token in a prompt; ``start``/``end`` are offsets into the prompt."""

    kind: TokenKind
    text: str
    start: int
    end: int
    name: str = ""  # NAMED: the reference name
    media_kind: MediaKind | None = None  # POSITIONAL: image, video or audio
    index: int = 0  # POSITIONAL: 1-based, within the shot's list of that kind


# "@@" first, so "@@keeper" is a literal "@keeper". An "@" after a word character is an
# e-mail address or a handle inside a word ("anna@example.com"), never a reference.
_TOKEN = re.compile(
    rf"@@|(?<!\w)@(?:(?P<kind>image|video|audio)(?P<index>\d+)\b|(?P<name>{NAME}))",
    re.IGNORECASE,
)


def scan_prompt(prompt: str) -> list[Token]:
    """Every reference and ``@@`` in ``prompt``, in order. A lone ``@`` is just text."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(prompt):
        start, end = match.span()
        if match[0] == "@@":
            tokens.append(Token(TokenKind.ESCAPE, "@@", start, end))
        elif match["kind"]:
            kind = _KIND_BY_WORD[match["kind"].lower()]
            tokens.append(
                Token(
                    TokenKind.POSITIONAL,
                    match[0],
                    start,
                    end,
                    media_kind=kind,
                    index=int(match["index"]),
                )
            )
        else:
            tokens.append(Token(TokenKind.NAMED, match[0], start, end, name=match["name"]))
    return tokens


def is_positional_name(name: str) -> bool:
    """True for names like ``Image1`` that a prompt would read as seed-style tokens."""
    return re.fullmatch(r"(?i:image|video|audio)\d+", name) is not None


@dataclass(frozen=True)
class RefProblem:
    """A problem with a shot's references, located by field, token and prompt offset.

    ``field`` is the shot field to point at (``prompt``, ``images``, ``videos``,
    ``audios``; ``references`` for unused declarations); ``offset`` is the
    token's offset in the prompt, -1 where there is none.
    """

    message: str
    token: str = ""
    offset: int = -1
    severity: Literal["error", "warning"] = "error"
    field: str = "prompt"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Slot:
    """A resolved reference inside a prompt: the n-th (1-based) medium of a kind."""

    kind: MediaKind
    index: int
    name: str


@dataclass(frozen=True)
class ResolvedPrompt:
    """A prompt with its references resolved, ready to render in any provider's token form.

    ``images``/``videos``/``audios`` are what the provider receives, in order:
    the shot's own lists, then each named reference the prompt uses, in order
    of first use, skipping media already present (by kind and content hash).
    ``segments`` alternate literal text and ``Slot``s; an unresolvable token
    stays as its text and has a problem in ``problems``.
    """

    segments: tuple[str | Slot, ...]
    images: tuple[MediaRef, ...] = ()
    videos: tuple[MediaRef, ...] = ()
    audios: tuple[MediaRef, ...] = ()
    used_names: tuple[str, ...] = ()
    problems: tuple[RefProblem, ...] = ()

    @property
    def prompt(self) -> str:
        """The normalised prompt: every reference as ``@Image1``-style, ``@@`` as ``@``."""
        return render_tokens(self, TokenStyle.AT)

    @property
    def plain_prompt(self) -> str:
        """The prompt in plain words: references by name (``old_man`` as "old man")."""
        return render_tokens(self, TokenStyle.NAME)

    @property
    def errors(self) -> tuple[RefProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class _Media:
    """The per-kind media lists being built while a prompt resolves."""

    def __init__(
        self, images: Sequence[MediaRef], videos: Sequence[MediaRef], audios: Sequence[MediaRef]
    ) -> None:
        self.lists: dict[MediaKind, list[MediaRef]] = {
            "image": list(images),
            "video": list(videos),
            "audio": list(audios),
        }
        self.own = {kind: len(items) for kind, items in self.lists.items()}

    def slot_of(self, media: MediaRef, name: str) -> Slot:
        items = self.lists[media.kind]
        for i, present in enumerate(items, start=1):
            if present.sha256 == media.sha256:
                return Slot(media.kind, i, name)
        items.append(media)
        return Slot(media.kind, len(items), name)


def resolve_prompt(
    prompt: str,
    declared: Mapping[str, MediaRef | None],
    images: Sequence[MediaRef] = (),
    videos: Sequence[MediaRef] = (),
    audios: Sequence[MediaRef] = (),
) -> ResolvedPrompt:
    """Resolve a shot's prompt against the storyboard's references and the shot's own media.

    ``declared`` maps each declared name to its resolved media (resolve them once
    per storyboard), or to None for a reference whose own error was reported
    already: its tokens stay as text without a second problem. ``@Image2`` is the
    shot's second image and may not point past the shot's own list; ``@keeper``
    adds keeper's media to its kind's list.
    """
    media = _Media(images, videos, audios)
    segments: list[str | Slot] = []
    problems: list[RefProblem] = []
    used: list[str] = []
    cursor = 0
    for token in scan_prompt(prompt):
        segments.append(prompt[cursor : token.start])
        cursor = token.end
        if token.kind is TokenKind.ESCAPE:
            segments.append("@")
            continue
        slot, problem = _resolve_token(token, declared, media)
        segments.append(slot or token.text)
        if problem:
            problems.append(problem)
        if token.kind is TokenKind.NAMED and slot and token.name not in used:
            used.append(token.name)
    segments.append(prompt[cursor:])
    return ResolvedPrompt(
        segments=_merge_text(segments),
        images=tuple(media.lists["image"]),
        videos=tuple(media.lists["video"]),
        audios=tuple(media.lists["audio"]),
        used_names=tuple(used),
        problems=tuple(problems),
    )


def _resolve_token(
    token: Token, declared: Mapping[str, MediaRef | None], media: _Media
) -> tuple[Slot | None, RefProblem | None]:
    if token.kind is TokenKind.NAMED:
        ref = declared.get(token.name)
        if ref is None:
            if token.name in declared:
                return None, None  # declared, but broken: reported where it is declared
            return None, RefProblem(_unknown_name_message(token.name, declared), token.text, token.start)
        return media.slot_of(ref, token.name), None
    assert token.media_kind is not None  # set for every positional token
    kind, index = token.media_kind, token.index
    count = media.own[kind]
    if not 1 <= index <= count:
        message = _out_of_range_message(token, count)
        return None, RefProblem(message, token.text, token.start)
    return Slot(kind, index, media.lists[kind][index - 1].name), None


def _unknown_name_message(name: str, declared: Mapping[str, object]) -> str:
    escape = "write @@ for a literal @"
    if not declared:
        return f"unknown reference @{name} (no references are declared; {escape})"
    hint = suggest(name, declared)
    guess = f"; did you mean @{hint}?" if hint else ""
    return f"unknown reference @{name}{guess} (declared: {', '.join(sorted(declared))}; {escape})"


def _out_of_range_message(token: Token, count: int) -> str:
    kind = token.media_kind or "image"
    where = f"{token.text} points at {kind} {token.index} of the shot's {kind}s: list"
    return f"{where}, which has only {count}" if count else f"{where}, but the shot has none"


def _merge_text(segments: Iterable[str | Slot]) -> tuple[str | Slot, ...]:
    merged: list[str | Slot] = []
    for segment in segments:
        if isinstance(segment, str):
            if not segment:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += segment
                continue
        merged.append(segment)
    return tuple(merged)


# A storyboard's references, all at once ----------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """One entry of ``references:``, resolved; ``error`` says why it cannot be used."""

    name: str
    source: str
    kind: MediaKind | None = None
    media: MediaRef | None = None
    error: str | None = None

    @property
    def path(self) -> Path | None:
        return self.media.path if self.media else None

    @property
    def spec(self) -> RefSpec | None:
        return RefSpec(self.name, self.kind, self.source) if self.kind else None


def _source_and_kind(value: object) -> tuple[str, MediaKind | None]:
    """``"refs/a.png"``, ``{image: "refs/a.png"}`` or an object with one of image/video/audio."""
    if isinstance(value, str):
        return value, None
    for kind in KINDS:
        given = value.get(kind) if isinstance(value, Mapping) else getattr(value, kind, None)
        if isinstance(given, str):
            return given, kind
    raise TypeError(f"a reference is a path or URL, or one of image/video/audio: {value!r}")


def declare(
    references: Mapping[str, object], folder: Path, *, allow_outside: bool = False
) -> dict[str, Declared]:
    """Every declared reference located, checked and hashed, in declaration order.

    Nothing raises for a bad reference: its ``Declared.error`` holds the message,
    so one run reports every broken reference.
    """
    declared: dict[str, Declared] = {}
    for name, value in references.items():
        source, kind = _source_and_kind(value)
        try:
            spec = declare_reference(name, source, kind)
            ref = resolve_media(spec, folder, allow_outside=allow_outside)
        except RefError as exc:
            declared[name] = Declared(name, source, kind, error=str(exc))
            continue
        declared[name] = Declared(name, source, spec.kind, ref)
    return declared


def resolve_shot(
    prompt: str,
    declared: Mapping[str, Declared],
    images: Sequence[str] = (),
    videos: Sequence[str] = (),
    audios: Sequence[str] = (),
    *,
    folder: Path,
    allow_outside: bool = False,
) -> ResolvedPrompt:
    """A shot's prompt and lists (``@name``, paths or https URLs) resolved into its media.

    Problems with list entries carry the list's name as ``field``; those in the
    prompt carry ``prompt``. ``used_names`` holds every declared name the shot
    uses, from its lists or its prompt.
    """
    specs = {d.name: d.spec for d in declared.values() if d.spec is not None}
    problems: list[RefProblem] = []
    used: list[str] = []
    lists: dict[MediaKind, list[MediaRef]] = {}
    for kind, items in zip(KINDS, (images, videos, audios), strict=True):
        lists[kind] = []
        for item in items:
            ref = _list_entry(item, kind, declared, specs, folder, allow_outside, problems)
            if ref is not None:
                lists[kind].append(ref)
                if item.startswith("@") and ref.name not in used:
                    used.append(ref.name)
    usable = {d.name: d.media for d in declared.values()}
    resolved = resolve_prompt(prompt, usable, lists["image"], lists["video"], lists["audio"])
    names = tuple(dict.fromkeys([*used, *resolved.used_names]))
    return replace(resolved, used_names=names, problems=(*problems, *resolved.problems))


def _list_entry(
    item: str,
    kind: MediaKind,
    declared: Mapping[str, Declared],
    specs: Mapping[str, RefSpec],
    folder: Path,
    allow_outside: bool,
    problems: list[RefProblem],
) -> MediaRef | None:
    """One list entry as media, or None with a problem appended (or already reported)."""
    name = item[1:] if item.startswith("@") else ""
    if name in declared and declared[name].media is None:
        return None  # its own error was reported where it is declared
    try:
        spec = shot_media_spec(item, kind, specs)
        if spec.name in declared and item.startswith("@"):
            return declared[spec.name].media
        return resolve_media(spec, folder, allow_outside=allow_outside)
    except RefError as exc:
        problems.append(RefProblem(str(exc), item, field=f"{kind}s"))
        return None


# Token forms -------------------------------------------------------------------------------

_KIND_WORDS: dict[MediaKind, str] = {"image": "Image", "video": "Video", "audio": "Audio"}


def token_text(slot: Slot, style: TokenStyle) -> str:
    """One reference in a provider's form: ``@Image1``, ``[Image1]``, ``Image 1`` or ``keeper``."""
    word = _KIND_WORDS[slot.kind]
    if style is TokenStyle.AT:
        return f"@{word}{slot.index}"
    if style is TokenStyle.BRACKET:
        return f"[{word}{slot.index}]"
    if style is TokenStyle.SPACED:
        return f"{word} {slot.index}"
    return slot.name.replace("_", " ")  # the local engine captions plain words


def render_tokens(resolved: ResolvedPrompt, style: TokenStyle) -> str:
    """The prompt as ``style``'s provider receives it."""
    return "".join(s if isinstance(s, str) else token_text(s, style) for s in resolved.segments)

"""References: kinds, locations, confinement, content hashes and prompt tokens."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from shotlist.providers.capabilities import TokenStyle
from shotlist.refs import (
    Declared,
    RefError,
    RefProblem,
    RefSpec,
    Slot,
    TokenKind,
    clear_hash_cache,
    declare,
    declare_reference,
    file_sha256,
    is_positional_name,
    kind_of,
    render_tokens,
    resolve_media,
    resolve_prompt,
    resolve_shot,
    scan_prompt,
    shot_media_spec,
)
from shotlist.request import MediaRef


def media(name: str, kind: str = "image") -> MediaRef:
    # A fake hash per name: equal names are the same content.
    return MediaRef(name, kind, name.encode().hex().ljust(64, "0"))  # type: ignore[arg-type]


KEEPER = media("keeper")
TOWER = media("tower")
WAVES = media("waves", "video")
THEME = media("theme", "audio")
DECLARED = {"keeper": KEEPER, "tower": TOWER, "waves": WAVES, "theme": THEME}


@pytest.fixture
def board(tmp_path: Path) -> Path:
    clear_hash_cache()
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "keeper.png").write_bytes(b"\x89PNG\r\n\x1a\nkeeper pixels")
    return tmp_path


# Kinds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("refs/keeper.PNG", "image"),
        ("a.jpeg", "image"),
        ("b.webp", "image"),
        ("clip.mov", "video"),
        ("clip.m4v", "video"),
        ("theme.opus", "audio"),
        ("theme.flac", "audio"),
        ("https://cdn.example.com/a/b.mp4?sig=1", "video"),
        ("notes.txt", None),
    ],
)
def test_kind_from_extension(source: str, kind: str | None) -> None:
    assert kind_of(source) == kind


def test_unknown_extension_lists_the_valid_ones() -> None:
    with pytest.raises(RefError) as info:
        declare_reference("keeper", "refs/keeper.tiff")
    assert str(info.value) == (
        "cannot tell the kind of 'refs/keeper.tiff' from its extension '.tiff': use "
        "image (.png .jpg .jpeg .webp .gif .bmp), video (.mp4 .mov .webm .mkv .m4v) or "
        "audio (.mp3 .wav .m4a .aac .ogg .flac .opus), or state the kind, as in "
        "{image: refs/keeper.tiff}"
    )


def test_stated_kind_covers_a_url_without_extension() -> None:
    spec = declare_reference("tower", "https://example.com/photo?id=7", "image")
    assert spec == RefSpec("tower", "image", "https://example.com/photo?id=7")


def test_stated_kind_must_agree_with_a_known_extension() -> None:
    with pytest.raises(RefError, match=r"'clip.mp4' is declared as an image, but .mp4 is a video"):
        declare_reference("clip", "clip.mp4", "image")


# Locations --------------------------------------------------------------------------------------


def test_local_file_resolves_relative_to_the_storyboard(board: Path) -> None:
    ref = resolve_media(declare_reference("keeper", "refs/keeper.png"), board)
    assert ref.path == (board / "refs" / "keeper.png").resolve()
    assert (ref.kind, ref.url) == ("image", None)
    assert ref.sha256 == hashlib.sha256(b"\x89PNG\r\n\x1a\nkeeper pixels").hexdigest()


def test_missing_file_is_refused(board: Path) -> None:
    with pytest.raises(RefError, match=r"'refs/gone.png' does not exist \(looked for .*gone.png\)"):
        resolve_media(declare_reference("gone", "refs/gone.png"), board)


def test_https_url_is_hashed_by_its_text(board: Path) -> None:
    url = "https://example.com/tower.jpg"
    ref = resolve_media(declare_reference("tower", url), board)
    assert (ref.url, ref.path) == (url, None)
    assert ref.sha256 == hashlib.sha256(url.encode()).hexdigest()


def test_http_url_is_refused_with_a_reason(board: Path) -> None:
    with pytest.raises(RefError) as info:
        resolve_media(declare_reference("tower", "http://example.com/tower.jpg"), board)
    assert str(info.value) == (
        "'http://example.com/tower.jpg' uses http: a plain-http download can be read or "
        "altered on the way, so references must use https"
    )


def test_other_schemes_are_refused(board: Path) -> None:
    with pytest.raises(RefError, match="not file: URLs"):
        resolve_media(declare_reference("x", "file:///etc/hosts.png"), board)


def test_absolute_path_is_refused(board: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    with pytest.raises(RefError, match=r"is an absolute path: references must stay inside"):
        resolve_media(declare_reference("s", str(outside)), board)
    allowed = resolve_media(declare_reference("s", str(outside)), board, allow_outside=True)
    assert allowed.path == outside.resolve()


def test_dotdot_escape_is_refused(board: Path) -> None:
    (board.parent / "sibling.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(RefError) as info:
        resolve_media(declare_reference("s", "../sibling.png"), board)
    assert str(info.value) == (
        f"'../sibling.png' climbs out through '..': references must stay inside the "
        f"storyboard's folder {board.resolve()} (--allow-outside permits it)"
    )


def test_dotdot_that_stays_inside_is_fine(board: Path) -> None:
    ref = resolve_media(declare_reference("k", "refs/../refs/keeper.png"), board)
    assert ref.path == (board / "refs" / "keeper.png").resolve()


def test_symlink_escape_is_refused(board: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    (board / "refs" / "link.png").symlink_to(outside)
    escape = r"'refs/link.png' leads out through a symlink \(to .*secret.png\)"
    with pytest.raises(RefError, match=escape):
        resolve_media(declare_reference("s", "refs/link.png"), board)
    assert resolve_media(declare_reference("s", "refs/link.png"), board, allow_outside=True).path


def test_symlink_inside_the_folder_is_fine(board: Path) -> None:
    (board / "alias.png").symlink_to(board / "refs" / "keeper.png")
    ref = resolve_media(declare_reference("a", "alias.png"), board)
    assert ref.path == (board / "refs" / "keeper.png").resolve()


# Hashes -----------------------------------------------------------------------------------------


def test_renaming_a_file_keeps_its_hash(board: Path) -> None:
    before = resolve_media(declare_reference("keeper", "refs/keeper.png"), board).sha256
    (board / "refs" / "keeper.png").rename(board / "refs" / "old-man.png")
    after = resolve_media(declare_reference("keeper", "refs/old-man.png"), board).sha256
    assert before == after


def test_editing_a_file_changes_its_hash(board: Path) -> None:
    path = (board / "refs" / "keeper.png").resolve()
    before = file_sha256(path)
    mtime = path.stat().st_mtime_ns
    path.write_bytes(b"\x89PNG\r\n\x1a\nkeeper pixelz")  # same size: the new mtime tells the edit
    os.utime(path, ns=(mtime + 1_000_000, mtime + 1_000_000))
    assert file_sha256(path) == hashlib.sha256(b"\x89PNG\r\n\x1a\nkeeper pixelz").hexdigest() != before


def test_hash_is_memoized_while_the_file_is_unchanged(board: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = (board / "refs" / "keeper.png").resolve()
    first = file_sha256(path)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(Path, "open", no_reading)
    assert file_sha256(path) == first


# Shot lists -------------------------------------------------------------------------------------


def test_shot_list_entry_names_a_reference_or_a_path() -> None:
    declared = {"keeper": RefSpec("keeper", "image", "refs/keeper.png")}
    assert shot_media_spec("@keeper", "image", declared) is declared["keeper"]
    assert shot_media_spec("refs/tower.jpg", "image", declared) == RefSpec("tower", "image", "refs/tower.jpg")
    with pytest.raises(RefError, match=r"@keeper is an image, not a video"):
        shot_media_spec("@keeper", "video", declared)
    with pytest.raises(RefError, match=r"unknown reference @keepr; did you mean @keeper\?"):
        shot_media_spec("@keepr", "image", declared)


# Scanning ---------------------------------------------------------------------------------------


def test_scan_finds_named_positional_and_escapes_with_offsets() -> None:
    tokens = scan_prompt("@keeper sees @Image2 @@ @video1")
    assert [(t.kind, t.text, t.start, t.end) for t in tokens] == [
        (TokenKind.NAMED, "@keeper", 0, 7),
        (TokenKind.POSITIONAL, "@Image2", 13, 20),
        (TokenKind.ESCAPE, "@@", 21, 23),
        (TokenKind.POSITIONAL, "@video1", 24, 31),
    ]
    assert (tokens[1].media_kind, tokens[1].index) == ("image", 2)
    assert tokens[0].name == "keeper"


def test_email_addresses_are_not_references() -> None:
    assert scan_prompt("write to anna@example.com or keeper@tower") == []


def test_double_at_is_a_literal_at() -> None:
    resolved = resolve_prompt("follow @@keeper on the tower", DECLARED)
    assert resolved.prompt == "follow @keeper on the tower"
    assert (resolved.problems, resolved.images) == ((), ())


def test_lone_at_is_text() -> None:
    assert scan_prompt("meet @ 5, @3pm") == []


def test_positional_names_are_recognised() -> None:
    assert [is_positional_name(n) for n in ("Image1", "audio12", "keeper", "Image")] == [
        True,
        True,
        False,
        False,
    ]


# Resolving --------------------------------------------------------------------------------------

PROMPT = "@keeper (@Image1) looks at @tower; @keeper again, @waves, music @theme"


def test_named_refs_append_in_order_of_first_use() -> None:
    own = media("sketch")
    resolved = resolve_prompt(PROMPT, DECLARED, images=[own])
    assert resolved.images == (own, KEEPER, TOWER)
    assert resolved.videos == (WAVES,)
    assert resolved.audios == (THEME,)
    assert resolved.used_names == ("keeper", "tower", "waves", "theme")
    assert resolved.problems == ()


def test_named_ref_already_in_the_shot_list_keeps_its_place() -> None:
    resolved = resolve_prompt("@tower at dusk, @Image2", DECLARED, images=[KEEPER, TOWER])
    assert resolved.images == (KEEPER, TOWER)
    assert resolved.prompt == "@Image2 at dusk, @Image2"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            TokenStyle.AT,
            "@Image2 (@Image1) looks at @Image3; @Image2 again, @Video1, music @Audio1",
        ),
        (
            TokenStyle.BRACKET,
            "[Image2] ([Image1]) looks at [Image3]; [Image2] again, [Video1], music [Audio1]",
        ),
        (
            TokenStyle.SPACED,
            "Image 2 (Image 1) looks at Image 3; Image 2 again, Video 1, music Audio 1",
        ),
        (TokenStyle.NAME, "keeper (old man) looks at tower; keeper again, waves, music theme"),
    ],
)
def test_each_provider_gets_its_token_form(style: TokenStyle, expected: str) -> None:
    resolved = resolve_prompt(PROMPT, DECLARED, images=[media("old_man")])
    assert render_tokens(resolved, style) == expected


def test_segments_alternate_text_and_slots() -> None:
    resolved = resolve_prompt("@keeper by @@ the sea", DECLARED)
    assert resolved.segments == (Slot("image", 1, "keeper"), " by @ the sea")


def test_unknown_name_lists_declared_names_with_a_guess() -> None:
    resolved = resolve_prompt("a storm over @towr", DECLARED)
    assert resolved.problems == (
        RefProblem(
            "unknown reference @towr; did you mean @tower? "
            "(declared: keeper, theme, tower, waves; write @@ for a literal @)",
            "@towr",
            13,
        ),
    )
    assert resolved.prompt == "a storm over @towr"
    assert resolved.errors == resolved.problems


def test_unknown_name_without_declarations() -> None:
    resolved = resolve_prompt("ask @john", {})
    assert [str(p) for p in resolved.problems] == [
        "unknown reference @john (no references are declared; write @@ for a literal @)"
    ]


def test_positional_token_past_the_shot_list_is_an_error() -> None:
    resolved = resolve_prompt("@Image1 and @Image3 over @Audio1", DECLARED, images=[KEEPER, TOWER])
    assert [(p.message, p.token, p.offset) for p in resolved.problems] == [
        ("@Image3 points at image 3 of the shot's images: list, which has only 2", "@Image3", 12),
        (
            "@Audio1 points at audio 1 of the shot's audios: list, but the shot has none",
            "@Audio1",
            25,
        ),
    ]


def test_five_hundred_prompts_resolve_quickly() -> None:
    start = time.perf_counter()
    for i in range(500):
        resolve_prompt(f"shot {i}: " + PROMPT, DECLARED, images=[media("old_man")])
    assert time.perf_counter() - start < 0.5


# A whole storyboard's references ----------------------------------------------------------------


def test_declare_resolves_every_reference_and_keeps_errors(board: Path) -> None:
    declared = declare(
        {
            "keeper": "refs/keeper.png",
            "tower": {"image": "https://example.com/tower"},
            "gone": "refs/gone.mp3",
            "odd": "refs/notes.txt",
        },
        board,
    )
    assert list(declared) == ["keeper", "tower", "gone", "odd"]
    assert declared["keeper"].path == (board / "refs" / "keeper.png").resolve()
    assert declared["tower"].kind == "image"
    assert declared["tower"].media is not None
    assert declared["gone"] == Declared(
        "gone",
        "refs/gone.mp3",
        error=f"'refs/gone.mp3' does not exist (looked for {board.resolve()}/refs/gone.mp3)",
    )
    assert (declared["odd"].error or "").startswith("cannot tell the kind of 'refs/notes.txt'")


def test_resolve_shot_takes_names_paths_and_urls(board: Path) -> None:
    (board / "refs" / "sea.mp4").write_bytes(b"waves")
    declared = declare({"keeper": "refs/keeper.png", "theme": {"audio": "https://e.com/t"}}, board)
    resolved = resolve_shot(
        "@Image2 beside @Image1, @Video1 behind, @theme under",
        declared,
        images=["https://e.com/lamp.jpg", "@keeper"],
        videos=["refs/sea.mp4"],
        folder=board,
    )
    assert resolved.problems == ()
    assert [m.name for m in resolved.images] == ["lamp", "keeper"]
    assert [m.name for m in resolved.videos] == ["sea"]
    assert [m.name for m in resolved.audios] == ["theme"]
    assert resolved.used_names == ("keeper", "theme")
    assert resolved.plain_prompt == "keeper beside lamp, sea behind, theme under"
    assert render_tokens(resolved, TokenStyle.SPACED) == (
        "Image 2 beside Image 1, Video 1 behind, Audio 1 under"
    )


def test_resolve_shot_locates_list_problems(board: Path) -> None:
    declared = declare({"keeper": "refs/keeper.png", "broken": "refs/nope.png"}, board)
    resolved = resolve_shot(
        "@broken and @keeper",
        declared,
        images=["@keeper", "@broken", "../outside.png"],
        audios=["@keeper"],
        folder=board,
    )
    assert [(p.field, p.token, p.message[:40]) for p in resolved.problems] == [
        ("images", "../outside.png", "'../outside.png' climbs out through '..'"),
        ("audios", "@keeper", "@keeper is an image, not an audio"),
    ]
    # A broken declaration was reported where it is declared, not again per use.
    assert resolved.prompt == "@broken and @Image1"


def test_a_reference_may_not_be_named_like_a_positional_token() -> None:
    with pytest.raises(RefError, match=r"the name 'Image1' reads as a positional token"):
        declare_reference("Image1", "refs/a.png")

"""Provider records, the gateway's mapping rule, and the limits that are errors."""

from __future__ import annotations

import pytest

from shotlist.providers.capabilities import (
    PROVIDERS,
    Frame,
    LimitProblem,
    Mapped,
    MappedRequest,
    TokenStyle,
    UnknownName,
    capabilities,
    check_limits,
    estimate_cost_usd,
    map_aspect_ratio,
    map_duration,
    map_frame,
    map_request,
    map_resolution,
    parse_aspect_ratio,
    parse_resolution,
    parse_size,
    pixel_size,
    resolve_model,
)

LUMENFALL = resolve_model(capabilities("lumenfall"), "seedance-2.0")
SEEDANCE = resolve_model(capabilities("fal"), "seedance-2.0")  # Seedance's usual 480p/720p/1080p
LOCAL = resolve_model(capabilities("local"), None)


def test_providers_are_listed_in_order() -> None:
    assert PROVIDERS == ("local", "lumenfall", "fal", "ark", "replicate")


@pytest.mark.parametrize(
    ("provider", "style", "key_env", "base_env"),
    [
        ("local", TokenStyle.NAME, None, None),
        ("lumenfall", TokenStyle.AT, "LUMENFALL_API_KEY", "LUMENFALL_BASE_URL"),
        ("fal", TokenStyle.AT, "FAL_KEY", "FAL_BASE_URL"),
        ("ark", TokenStyle.SPACED, "ARK_API_KEY", "ARK_BASE_URL"),
        ("replicate", TokenStyle.BRACKET, "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"),
    ],
)
def test_provider_settings(
    provider: str, style: TokenStyle, key_env: str | None, base_env: str | None
) -> None:
    caps = capabilities(provider)
    assert (caps.token_style, caps.api_key_env, caps.base_url_env) == (style, key_env, base_env)
    assert caps.default_concurrency >= 1
    assert resolve_model(caps, None).name == caps.default_model


def test_lumenfall_record() -> None:
    caps = capabilities("lumenfall")
    assert caps.default_base_url == "https://api.lumenfall.ai/v1"
    assert LUMENFALL.title == "lumenfall seedance-2.0"
    assert (LUMENFALL.min_duration, LUMENFALL.max_duration, LUMENFALL.whole_seconds) == (
        4,
        15,
        True,
    )
    assert LUMENFALL.aspect_ratios == ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
    assert LUMENFALL.resolutions == ("1K",)
    counts = (LUMENFALL.max_images, LUMENFALL.max_videos, LUMENFALL.max_audios, LUMENFALL.max_files)
    assert counts == (9, 3, 3, 12)
    assert LUMENFALL.audio_needs_visual
    assert LUMENFALL.price_per_second_usd == 0.30


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("21:9", "1563x670"),
        ("16:9", "1365x768"),
        ("4:3", "1183x887"),
        ("1:1", "1024x1024"),
        ("3:4", "887x1182"),
        ("9:16", "768x1365"),
    ],
)
def test_lumenfall_renders_the_page_s_six_1k_sizes(ratio: str, size: str) -> None:
    by_ratio = map_frame(LUMENFALL, aspect_ratio=ratio, resolution="1K")
    by_size = map_frame(LUMENFALL, size=size)
    assert by_ratio == by_size == Mapped(Frame(ratio, "1K", *parse_size(size)))


def test_lumenfall_maps_any_tier_or_size_to_the_nearest_1k_size_and_says_so() -> None:
    assert map_frame(LUMENFALL, aspect_ratio="16:9", resolution="720p") == Mapped(
        Frame("16:9", "1K", 1365, 768),
        "resolution 720p is not offered by lumenfall seedance-2.0; using the nearest, 1K",
    )
    assert map_frame(LUMENFALL, size="1920x1080") == Mapped(
        Frame("16:9", "1K", 1365, 768),
        "size 1920x1080 is not offered by lumenfall seedance-2.0; using the nearest, 1365x768 (16:9 at 1K)",
    )
    assert map_frame(LUMENFALL, aspect_ratio="2:1", resolution="1K").value.size == "1365x768"


def test_local_is_free_and_takes_anything() -> None:
    assert LOCAL.price_per_second_usd == 0.0
    assert (LOCAL.min_duration, LOCAL.max_duration, LOCAL.whole_seconds) == (1, 60, False)
    assert (LOCAL.aspect_ratios, LOCAL.resolutions) == (None, None)
    assert (LOCAL.max_images, LOCAL.max_videos, LOCAL.max_audios, LOCAL.max_files) == (None,) * 4
    assert LOCAL.honours_seed
    assert capabilities("local").api_key_env is None


@pytest.mark.parametrize("alias", ["seedance-2.0", "seedance-2-0", "seedance-2"])
def test_aliases_resolve_to_one_model(alias: str) -> None:
    assert resolve_model(capabilities("lumenfall"), alias) is LUMENFALL


def test_local_previews_any_model_name() -> None:
    assert resolve_model(capabilities("local"), "seedance-2.0").name == "previz"


def test_unknown_model_suggests_nearest() -> None:
    with pytest.raises(LookupError) as info:
        resolve_model(capabilities("lumenfall"), "seedance-2.1")
    assert str(info.value) == (
        "unknown model 'seedance-2.1' for lumenfall: choose one of seedance-2.0, seedance-2-0, "
        'seedance-2; did you mean "seedance-2.0"?'
    )


def test_unknown_provider_suggests_nearest() -> None:
    with pytest.raises(UnknownName, match='did you mean "lumenfall"'):
        capabilities("lumenfal")
    assert issubclass(UnknownName, ValueError)


def test_every_provider_offers_seedance() -> None:
    for name in PROVIDERS[1:]:
        model = resolve_model(capabilities(name), "seedance-2")
        assert model.name == "seedance-2.0"
        assert (model.max_images, model.max_videos, model.max_audios) == (9, 3, 3)


# Pixel sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "tier", "size"),
    [
        ("16:9", "720p", (1280, 720)),
        ("16:9", "480p", (854, 480)),
        ("9:16", "1080p", (1080, 1920)),
        ("21:9", "720p", (1680, 720)),
        ("4:3", "480p", (640, 480)),
        ("1:1", "1K", (1024, 1024)),
        ("16:9", "1K", (1366, 768)),
        ("9:16", "1K", (768, 1366)),
        ("16:9", "2K", (2730, 1536)),
        ("2.39:1", "1080p", (2582, 1080)),
    ],
)
def test_pixel_size_is_even(ratio: str, tier: str, size: tuple[int, int]) -> None:
    assert pixel_size(ratio, tier) == size
    assert (size[0] % 2, size[1] % 2) == (0, 0)


def test_parsers_explain_the_expected_form() -> None:
    assert parse_aspect_ratio("16:9") == pytest.approx(16 / 9)
    assert parse_size("1365x768") == (1365, 768)
    assert parse_resolution("1k") == ("K", 1)
    with pytest.raises(ValueError, match=r'is not of the form "16:9"'):
        parse_aspect_ratio("wide")
    with pytest.raises(ValueError, match=r'is not of the form "1280x720"'):
        parse_size("1280*720")
    with pytest.raises(ValueError, match=r'is not a tier like "720p" or "1K"'):
        parse_resolution("hd")


# Mapping ---------------------------------------------------------------------------------------


def test_offered_values_pass_unchanged() -> None:
    assert map_aspect_ratio(SEEDANCE, "9:16") == Mapped("9:16")
    assert map_resolution(SEEDANCE, "1080p", "9:16") == Mapped("1080p")


def test_nearest_aspect_ratio_by_log_ratio() -> None:
    assert map_aspect_ratio(SEEDANCE, "2:1") == Mapped(
        "16:9", "aspect ratio 2:1 is not offered by fal seedance-2.0; using the nearest, 16:9"
    )
    assert map_aspect_ratio(SEEDANCE, "2.39:1").value == "21:9"
    assert map_aspect_ratio(SEEDANCE, "1:2").value == "9:16"
    assert map_aspect_ratio(SEEDANCE, "5:4").value == "4:3"


def test_nearest_resolution_by_pixel_area() -> None:
    assert map_resolution(SEEDANCE, "1K", "16:9") == Mapped(
        "720p", "resolution 1K is not offered by fal seedance-2.0; using the nearest, 720p"
    )
    assert map_resolution(SEEDANCE, "2K", "16:9").value == "1080p"
    assert map_resolution(SEEDANCE, "360p", "16:9").value == "480p"


def test_size_beats_ratio_and_resolution() -> None:
    mapped = map_frame(SEEDANCE, size="1920x1080", aspect_ratio="9:16", resolution="480p")
    assert mapped == Mapped(Frame("16:9", "1080p", 1920, 1080))


def test_size_maps_to_nearest_ratio_and_tier() -> None:
    mapped = map_frame(SEEDANCE, size="1365x768")
    assert mapped.value == Frame("16:9", "720p", 1280, 720)
    assert mapped.warning == (
        "size 1365x768 is not offered by fal seedance-2.0; using the nearest, 1280x720 (16:9 at 720p)"
    )


def test_ratio_and_resolution_warnings_combine() -> None:
    mapped = map_frame(SEEDANCE, aspect_ratio="2:1", resolution="1K")
    assert mapped.value == Frame("16:9", "720p", 1280, 720)
    assert mapped.warning == (
        "aspect ratio 2:1 is not offered by fal seedance-2.0; using the nearest, 16:9; "
        "resolution 1K is not offered by fal seedance-2.0; using the nearest, 720p"
    )


def test_local_keeps_any_frame() -> None:
    assert map_frame(LOCAL, aspect_ratio="16:9", resolution="1K") == Mapped(Frame("16:9", "1K", 1366, 768))
    assert map_frame(LOCAL, size="1365x768") == Mapped(Frame("16:9", "1K", 1366, 768))
    assert map_frame(LOCAL, size="1000x500") == Mapped(Frame("2:1", "480p", 1000, 500))


def test_fast_tier_caps_resolution() -> None:
    fast = resolve_model(capabilities("fal"), "seedance-2.0-fast")
    assert map_frame(fast, aspect_ratio="16:9", resolution="1080p").value.resolution == "720p"


# Durations and limits -------------------------------------------------------------------------


def test_whole_duration_passes() -> None:
    assert map_duration(SEEDANCE, 5) == Mapped(5.0)


def test_fractional_duration_rounds_to_nearest_second_halves_up() -> None:
    assert map_duration(SEEDANCE, 4.5) == Mapped(
        5.0, "duration 4.5 s: fal seedance-2.0 takes whole seconds; using 5 s"
    )
    assert map_duration(SEEDANCE, 6.2).value == 6.0


def test_local_keeps_fractional_duration() -> None:
    assert map_duration(LOCAL, 4.5) == Mapped(4.5)


def test_shot_within_limits_has_no_problems() -> None:
    assert check_limits(SEEDANCE, duration=15, images=9, videos=2, audios=1) == []


def test_long_shot_is_an_error_not_a_mapping() -> None:
    assert check_limits(SEEDANCE, duration=20) == [
        LimitProblem(
            "duration",
            "duration 20 s is outside what fal seedance-2.0 can render (4 to 15 s)",
        )
    ]


def test_too_many_references_are_errors() -> None:
    problems = check_limits(SEEDANCE, duration=5, images=10, videos=3, audios=0)
    assert [(p.field, str(p)) for p in problems] == [
        ("images", "10 images, but fal seedance-2.0 takes at most 9"),
        ("references", "13 reference files, but fal seedance-2.0 takes at most 12"),
    ]
    assert str(check_limits(SEEDANCE, duration=5, images=1, audios=4)[0]) == (
        "4 audio clips, but fal seedance-2.0 takes at most 3"
    )


def test_audio_needs_a_visual_reference() -> None:
    assert check_limits(SEEDANCE, duration=5, audios=1) == [
        LimitProblem("audios", "fal seedance-2.0 needs an image or video reference alongside audio")
    ]
    assert check_limits(LOCAL, duration=5, audios=1) == []


def test_local_takes_any_number_of_references() -> None:
    assert check_limits(LOCAL, duration=60, images=50, videos=20, audios=20) == []
    assert [p.field for p in check_limits(LOCAL, duration=0.5)] == ["duration"]


def test_cost_scales_with_duration_and_pixel_area() -> None:
    fal = resolve_model(capabilities("fal"), None)
    assert estimate_cost_usd(fal, 5, 1280, 720) == pytest.approx(1.512)
    assert estimate_cost_usd(fal, 5, 1920, 1080) == pytest.approx(1.512 * 2.25)
    assert estimate_cost_usd(LOCAL, 60, 4096, 4096) == 0.0


def test_map_request_maps_and_checks_in_one_call() -> None:
    mapped = map_request(SEEDANCE, duration=4.5, size="1365x768", aspect_ratio="9:16", images=2, audios=1)
    assert mapped == MappedRequest(
        duration=5.0,
        aspect_ratio="16:9",
        resolution="720p",
        width=1280,
        height=720,
        generate_audio=True,
        from_size=True,
        notes=(
            "duration 4.5 s: fal seedance-2.0 takes whole seconds; using 5 s",
            "size 1365x768 is not offered by fal seedance-2.0; using the nearest, 1280x720 (16:9 at 720p)",
        ),
    )
    assert mapped.size == "1280x720"


def test_map_request_reports_problems_and_defaults_the_frame() -> None:
    mapped = map_request(SEEDANCE, duration=20, audios=1)
    assert (mapped.aspect_ratio, mapped.resolution, mapped.size) == ("16:9", "720p", "1280x720")
    assert [p.field for p in mapped.problems] == ["duration", "audios"]
    assert mapped.notes == ()

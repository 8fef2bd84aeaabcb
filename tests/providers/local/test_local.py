"""The local previz engine: real clips, probed and looked at, and its provider lifecycle."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from array import array
from dataclasses import replace
from pathlib import Path

import av
import pytest

from shotlist.errors import ProviderError
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import probe
from shotlist.providers.base import JobState, Provider
from shotlist.providers.local.caption import ass_text, caption_script
from shotlist.providers.local.engine import (
    LOCAL_ENGINE_VERSION,
    LocalProvider,
    build_local_render,
    frame_count,
    render_local,
)
from shotlist.providers.local.framing import (
    NEW_PER_CHUNK,
    TILT_STEP,
    Chunk,
    Picture,
    chunks,
    framing,
    pictures,
)
from shotlist.providers.local.motion import MOVES, SPEED_AMOUNT, expression
from shotlist.providers.local.scene import render_plate, scene_for
from shotlist.request import CameraDirection, MediaRef, ShotRequest

W, H, FPS = 320, 180, 12
PROMPT = 'The keeper says: "Not tonight, {friend}" \\N over the sea — café ☕, 100% sure'


def shot(**changes: object) -> ShotRequest:
    fields: dict[str, object] = {
        "id": "look-left",
        "provider": "local",
        "model": "previz",
        "prompt": PROMPT,
        "source_prompt": PROMPT,
        "duration": 1.5,
        "seed": 1234,
        "width": W,
        "height": H,
        "aspect_ratio": "16:9",
        "resolution": "180p",
        "fps": FPS,
        "generate_audio": False,
        "caption": False,
    }
    fields.update(changes)
    return ShotRequest(**fields)  # type: ignore[arg-type]


def ref(kind: str, path: Path) -> MediaRef:
    return MediaRef(name=path.stem, kind=kind, sha256="0" * 64, path=path)  # type: ignore[arg-type]


# --- tiny media, made once -------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("local-media")
    # A white square in the middle of a black picture: its centroid and area show motion.
    marker = root / "marker.ppm"
    size, side = (480, 270), 40
    rows = []
    for y in range(size[1]):
        inside_y = abs(y - size[1] // 2) < side // 2
        rows.append(
            bytes(
                255 if inside_y and abs(x - size[0] // 2) < side // 2 else 0
                for x in range(size[0])
                for _ in range(3)
            )
        )
    marker.write_bytes(f"P6 {size[0]} {size[1]} 255\n".encode() + b"".join(rows))
    video = root / "clip.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=0.8", "-c:v", "libx264", str(video)],
        step="making a test video",
    )
    tone = root / "tone.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=f=440:r=22050:d=0.4", str(tone)], step="making a tone")
    broken = root / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    return {"marker": marker, "video": video, "tone": tone, "broken": broken}


# --- reading frames without numpy ------------------------------------------------------


def gray_frames(path: Path) -> list[bytes]:
    """Every frame as W*H gray bytes (line padding removed)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            gray = frame.reformat(format="gray")
            plane = gray.planes[0]
            data = bytes(plane)
            frames.append(
                b"".join(
                    data[y * plane.line_size : y * plane.line_size + gray.width] for y in range(gray.height)
                )
            )
    return frames


def blob(frame: bytes, width: int = W) -> tuple[float, float, int]:
    """Centroid (x, y) and area of the bright pixels."""
    xs = ys = n = 0
    for i, value in enumerate(frame):
        if value > 128:
            xs += i % width
            ys += i // width
            n += 1
    assert n, "the marker left the picture"
    return xs / n, ys / n, n


def motion(path: Path) -> tuple[float, float, float]:
    """How the marker moved from the first to the last frame: dx, dy, area ratio."""
    frames = gray_frames(path)
    x0, y0, a0 = blob(frames[0])
    x1, y1, a1 = blob(frames[-1])
    return x1 - x0, y1 - y0, a1 / a0


def differing_pixels(a: bytes, b: bytes) -> int:
    return sum(1 for p, q in zip(a, b, strict=True) if abs(p - q) > 24)


# --- the clip a user gets --------------------------------------------------------------


def test_clip_has_the_requested_duration_size_fps_and_sound(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "shot.mp4"
    request = shot(duration=1.75, generate_audio=True, caption=True)
    render_local(request, dest)
    info = probe(dest)
    assert (info.width, info.height) == (W, H)
    assert info.fps == FPS
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.frames == frame_count(request) == 21
    assert abs(info.duration - 1.75) <= 1 / FPS
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)
    assert info.audio_duration is not None
    assert abs(info.audio_duration - 1.75) <= 1 / FPS
    assert sorted(p.name for p in dest.parent.iterdir()) == ["shot.mp4"]  # no leftovers


def audio_samples(path: Path) -> array[float]:
    """The first channel of the audio stream, as floats."""
    samples: array[float] = array("f")
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            plane = frame.planes[0]  # planar float: one plane per channel
            samples.frombytes(bytes(plane)[: frame.samples * 4])
    return samples


def test_ambience_is_audible_and_differs_per_shot(tmp_path: Path) -> None:
    render_local(shot(generate_audio=True, seed=1), tmp_path / "one.mp4")
    render_local(shot(generate_audio=True, seed=2), tmp_path / "two.mp4")
    one, two = audio_samples(tmp_path / "one.mp4"), audio_samples(tmp_path / "two.mp4")
    rms = (sum(x * x for x in one) / len(one)) ** 0.5
    assert 0.01 < rms < 0.5  # a quiet bed, neither silence nor clipping
    assert max(abs(x) for x in one) < 1.0
    assert one[: len(two)] != two[: len(one)]


def test_no_audio_stream_when_none_is_asked(tmp_path: Path) -> None:
    render_local(shot(generate_audio=False), tmp_path / "mute.mp4")
    assert not probe(tmp_path / "mute.mp4").has_audio


def test_audio_reference_is_looped_to_the_shot(tmp_path: Path, media: dict[str, Path]) -> None:
    request = shot(audios=(ref("audio", media["tone"]),), generate_audio=False)
    render_local(request, tmp_path / "tone.mp4")
    info = probe(tmp_path / "tone.mp4")
    assert (info.sample_rate, info.channels) == (48000, 2)
    assert info.audio_duration is not None
    assert abs(info.audio_duration - 1.5) <= 1 / FPS


def test_reference_video_is_looped_to_length(tmp_path: Path, media: dict[str, Path]) -> None:
    request = shot(videos=(ref("video", media["video"]),), duration=2.0)
    render_local(request, tmp_path / "v.mp4")
    info = probe(tmp_path / "v.mp4")
    assert (info.width, info.height, info.frames) == (W, H, 24)
    frames = gray_frames(tmp_path / "v.mp4")
    # testsrc2 animates: the clip moves rather than holding one picture.
    assert differing_pixels(frames[0], frames[5]) > 200


def test_pan_tilt_and_zoom_move_the_picture_differently(tmp_path: Path, media: dict[str, Path]) -> None:
    def moved(move: str, speed: str = "medium") -> tuple[float, float, float]:
        dest = tmp_path / f"{move}-{speed}.mp4"
        camera = CameraDirection(move=move, speed=speed)
        render_local(shot(images=(ref("image", media["marker"]),), camera=camera), dest)
        return motion(dest)

    pan_dx, pan_dy, pan_area = moved("pan_right")
    tilt_dx, tilt_dy, tilt_area = moved("tilt_up")
    zoom_dx, zoom_dy, zoom_area = moved("zoom_in")
    # Panning right sweeps the picture to the left.
    assert pan_dx < -20
    assert abs(pan_dy) < 2
    assert 0.9 < pan_area < 1.1
    # Tilting up sweeps it down.
    assert tilt_dy > 10
    assert abs(tilt_dx) < 2
    assert 0.9 < tilt_area < 1.1
    # Zooming in grows it in place.
    assert zoom_area > 1.5
    assert abs(zoom_dx) < 2
    assert abs(zoom_dy) < 2
    # Speeds differ visibly.
    slow_dx, _, _ = moved("pan_right", "slow")
    fast_dx, _, _ = moved("pan_right", "fast")
    assert abs(slow_dx) < 0.75 * abs(pan_dx)
    assert abs(fast_dx) > 1.4 * abs(pan_dx)


def edge_at(row: bytes, level: float) -> float:
    """Where ``row`` first crosses ``level`` going down, to a fraction of a sample."""
    for i in range(len(row) - 1):
        if row[i] >= level > row[i + 1]:
            return i + (row[i] - level) / (row[i] - row[i + 1])
    raise AssertionError("no edge in the row")


def test_colour_stays_in_register_with_brightness_as_the_camera_pans(tmp_path: Path) -> None:
    # Red on the left, blue on the right: brightness and colour (Cr) both drop at one edge.
    image = tmp_path / "edge.ppm"
    size = (480, 270)
    row = bytes((200, 40, 40)) * (size[0] // 2) + bytes((40, 40, 200)) * (size[0] // 2)
    image.write_bytes(f"P6 {size[0]} {size[1]} 255\n".encode() + row * size[1])
    dest = tmp_path / "pan.mp4"
    request = shot(images=(ref("image", image),), camera=CameraDirection(move="pan_right", speed="slow"))
    render_local(request, dest)
    edges, gaps = [], []
    with av.open(str(dest)) as container:
        for frame in container.decode(video=0):
            luma, red = frame.planes[0], frame.planes[2]
            y_row = bytes(luma)[(H // 2) * luma.line_size :][: frame.width]
            cr_row = bytes(red)[(H // 4) * red.line_size :][: frame.width // 2]
            edges.append(edge_at(y_row, 62))
            # A chroma sample sits between two luma columns: sample j at 2j + 0.5.
            gaps.append(2 * edge_at(cr_row, (max(cr_row) + min(cr_row)) / 2) + 0.5 - edges[-1])
    assert len(gaps) == frame_count(request)
    # The slow pan moves by single pixels too, not only by pairs...
    assert any(round(b - a) % 2 for a, b in itertools.pairwise(edges)), edges
    # ...and the colour follows the edge every time.
    assert max(gaps) - min(gaps) < 0.5, gaps


def test_static_image_holds_still(tmp_path: Path, media: dict[str, Path]) -> None:
    render_local(shot(images=(ref("image", media["marker"]),)), tmp_path / "s.mp4")
    dx, dy, area = motion(tmp_path / "s.mp4")
    assert (abs(dx), abs(dy)) < (0.5, 0.5)
    assert 0.95 < area < 1.05


def test_same_request_gives_the_same_bytes(tmp_path: Path) -> None:
    request = shot(
        generate_audio=True,
        caption=True,
        dialogue=("Not tonight.", "Not ever."),
        camera=CameraDirection(move="handheld", angle="dutch"),
    )
    first, second = tmp_path / "a" / "one.mp4", tmp_path / "b" / "two.mp4"
    render_local(request, first, work_dir=tmp_path / "work-a")
    render_local(request, second, work_dir=tmp_path / "work-b")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_different_seeds_give_different_scenes(tmp_path: Path) -> None:
    render_local(shot(seed=1), tmp_path / "one.mp4")
    render_local(shot(seed=2), tmp_path / "two.mp4")
    one, two = gray_frames(tmp_path / "one.mp4"), gray_frames(tmp_path / "two.mp4")
    assert differing_pixels(one[0], two[0]) > W * H // 10


def test_procedural_scene_moves(tmp_path: Path) -> None:
    render_local(shot(), tmp_path / "p.mp4")
    frames = gray_frames(tmp_path / "p.mp4")
    assert differing_pixels(frames[0], frames[-1]) > 100


def test_caption_changes_the_picture(tmp_path: Path) -> None:
    render_local(shot(caption=False), tmp_path / "plain.mp4")
    render_local(shot(caption=True), tmp_path / "captioned.mp4")
    plain, captioned = gray_frames(tmp_path / "plain.mp4"), gray_frames(tmp_path / "captioned.mp4")
    top = W * H // 5  # the caption sits at the top
    assert differing_pixels(plain[0][:top], captioned[0][:top]) > 300
    assert differing_pixels(plain[0][-top:], captioned[0][-top:]) < 50


def test_dialogue_shows_at_the_bottom(tmp_path: Path) -> None:
    render_local(shot(), tmp_path / "plain.mp4")
    render_local(shot(dialogue=("Not tonight.",)), tmp_path / "spoken.mp4")
    plain, spoken = gray_frames(tmp_path / "plain.mp4"), gray_frames(tmp_path / "spoken.mp4")
    bottom = W * H // 5
    assert differing_pixels(plain[0][-bottom:], spoken[0][-bottom:]) > 150


@pytest.mark.parametrize("move", ["static", "pan_left", "zoom_in", "orbit_right"])
def test_first_and_last_frame_images_hold_under_any_camera_move(
    tmp_path: Path, media: dict[str, Path], move: str
) -> None:
    marker = ref("image", media["marker"])  # black with a white square: dark on average
    request = shot(images=(marker,), camera=CameraDirection(move=move), first_frame=marker, last_frame=marker)
    render_local(request, tmp_path / "f.mp4")
    frames = gray_frames(tmp_path / "f.mp4")
    moved_past = differing_pixels(frames[0], frames[len(frames) // 2])
    # The clip starts and ends on the image itself, whatever the camera does in between.
    assert differing_pixels(frames[0], frames[-1]) < 20
    assert move == "static" or moved_past > 20


def test_awkward_paths_are_escaped_for_ffmpeg(tmp_path: Path, media: dict[str, Path]) -> None:
    odd = tmp_path / "it's [a], b; c: 100% d"
    odd.mkdir()
    image = odd / "still 100%.ppm"
    image.write_bytes(media["marker"].read_bytes())
    request = shot(caption=True, images=(ref("image", image),))
    render_local(request, odd / "out, 1.mp4", work_dir=odd / "work: 'x'")
    assert probe(odd / "out, 1.mp4").frames == frame_count(request)


# --- failures ---------------------------------------------------------------------------


def test_missing_reference_is_an_invalid_request(tmp_path: Path) -> None:
    request = shot(images=(ref("image", tmp_path / "gone.png"),))
    with pytest.raises(ProviderError) as caught:
        render_local(request, tmp_path / "x.mp4")
    assert (caught.value.kind, caught.value.shot_id, caught.value.provider) == (
        "invalid",
        "look-left",
        "local",
    )
    assert "gone.png" in str(caught.value)


@pytest.mark.e2e
def test_unreadable_reference_fails_cleanly(tmp_path: Path, media: dict[str, Path]) -> None:
    request = shot(images=(ref("image", media["broken"]),))
    with pytest.raises(ProviderError) as caught:
        render_local(request, tmp_path / "x.mp4")
    assert caught.value.kind == "invalid"
    assert not caught.value.retryable
    assert str(caught.value) == (
        f"shot 'look-left', provider local: reference 'broken' is not a readable image: {media['broken']}"
    )
    assert list(tmp_path.iterdir()) == []  # neither the clip nor a partial file


def test_odd_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="must be positive and even"):
        build_local_render(shot(width=321), tmp_path / "x.mp4", tmp_path)


# --- pure parts -------------------------------------------------------------------------


def test_build_decides_everything_without_touching_disk(tmp_path: Path) -> None:
    request = shot(caption=True, generate_audio=True)
    render = build_local_render(request, tmp_path / "x.mp4", tmp_path / "work")
    assert not (tmp_path / "work").exists()
    assert render.source == "procedural"
    assert render.frames == 18
    assert {name for name, _ in render.files} == {"caption.ass", "fonts.conf", "plate.rgb"}
    assert dict(render.env)["FONTCONFIG_FILE"] == str(tmp_path / "work" / "fonts.conf")
    args = list(render.args)
    assert args[args.index("-frames:v") + 1] == "18"
    assert args[-1] == f"file:{tmp_path / 'x.mp4'}"
    assert build_local_render(request, tmp_path / "x.mp4", tmp_path / "work") == render


def test_url_references_fall_back_to_the_procedural_scene(tmp_path: Path) -> None:
    online = MediaRef("web", "image", "0" * 64, url="https://example.com/a.png")
    render = build_local_render(shot(images=(online,)), tmp_path / "x.mp4", tmp_path)
    assert render.source == "procedural"


def test_engine_version_is_a_string() -> None:
    assert LOCAL_ENGINE_VERSION == "2"


def test_caption_text_cannot_inject_ass_overrides() -> None:
    assert ass_text("{\\b1}bold") == "\\{\\\u200bb1\\}bold"
    assert ass_text("line\\Nbreak\nnext\tline") == "line\\\u200bNbreak next line"
    script = caption_script(shot(caption=True, source_prompt="x " * 500))
    assert script is not None
    assert "…" in script
    assert caption_script(shot(caption=False)) is None


@pytest.mark.parametrize("speed", sorted(SPEED_AMOUNT))
@pytest.mark.parametrize("angle", [None, "low", "high", "overhead", "dutch"])
@pytest.mark.parametrize("moving", [False, True])
def test_every_move_keeps_the_window_inside_the_picture(speed: str, angle: str | None, moving: bool) -> None:
    frames = 30
    for move in MOVES:
        plan = framing(CameraDirection(move, speed, None, angle), W, H, frames, FPS, seed=7, moving=moving)
        if plan is None:
            continue
        tilt = plan.tilt
        if tilt is not None:
            tw, th = plan.size
            corners = [c for level in tilt.levels for c in level] + [
                (x.value(k), y.value(k)) for x, y in tilt.path for k in range(frames)
            ]
            # The tilted picture lies inside the source: no smeared edges.
            assert all(-1e-6 <= x <= tw + 1e-6 and -1e-6 <= y <= th + 1e-6 for x, y in corners), move
        for k in range(frames):
            sw, sh = (side.value(k) for side in plan.zoom) if plan.zoom else plan.size
            x, y = (side.value(k) for side in plan.offset) if plan.offset else (0, 0)
            assert (sw, sh) >= (W, H), (move, k)
            # The crop never has to clamp: the window is inside the (tilted) picture.
            assert 0 <= x <= sw - W, (move, k)
            assert 0 <= y <= sh - H, (move, k)
            if not plan.exact:
                assert (x % 2, y % 2) == (0, 0), (move, k)  # 4:2:0 crops by pairs of pixels


def test_moves_compile_to_ffmpeg_expressions() -> None:
    plan = framing(CameraDirection("dolly_in"), W, H, 18, FPS, 1)
    assert plan is not None
    assert plan.zoom is not None
    assert plan.offset is not None
    texts = [expression(side, 18, "n") for side in (*plan.zoom, *plan.offset)]
    assert all(":" not in text and "'" not in text for text in texts)
    assert texts[0].startswith("st(1,n);st(0,clip(ld(1)/17,0,1)")


def test_a_still_is_tilted_once_per_level_not_once_per_frame() -> None:
    frames = 120
    plan = framing(CameraDirection("orbit_left"), 1280, 720, frames, 24, seed=1)
    assert plan is not None
    assert plan.tilt is not None
    levels = plan.tilt.levels
    assert 4 < len(levels) < frames / 4
    # Next levels are at most TILT_STEP pixels apart at every corner.
    for a, b in itertools.pairwise(levels):
        moved = max(abs(p - q) for ca, cb in zip(a, b, strict=True) for p, q in zip(ca, cb, strict=True))
        assert moved <= TILT_STEP + 1e-6
    # The orbit swings: the left edge is the taller one at first, the right one at the end.
    first, last = levels[plan.tilt.shown[0]], levels[plan.tilt.shown[-1]]
    assert first[2][1] - first[0][1] > first[3][1] - first[1][1]
    assert last[2][1] - last[0][1] < last[3][1] - last[1][1]
    # A pan needs no tilt; a static angle is one warp for the whole shot.
    assert framing(CameraDirection("pan_left"), W, H, 30, FPS, 1).tilt is None  # type: ignore[union-attr]
    low = framing(CameraDirection("static", angle="low"), W, H, 30, FPS, 1)
    assert low is not None
    assert low.tilt is not None
    assert len(low.tilt.levels) == 1


def shows(part: Chunk) -> list[Picture | None]:
    """What a run's shuffleframes mapping shows, frame by frame (None: dropped)."""
    row = [Picture(parity, level) for parity, count in part.needs for level in range(count)]
    row += [row[-1]] * (part.end - part.start)  # tpad's copies of the last picture
    return [None if index == "-1" else row[int(index)] for index in part.mapping.split()]


def test_a_pan_scales_its_still_once_per_parity_of_the_crop() -> None:
    frames = 60
    plan = framing(CameraDirection("pan_right"), W, H, frames, FPS, 1)
    assert plan is not None
    assert plan.exact
    assert plan.zoom is None
    assert plan.offset is not None
    shown = pictures(plan, frames)
    assert len(shown) == frames
    for k, picture in enumerate(shown):
        x, y = (int(side.value(k)) for side in plan.offset)
        assert picture == Picture((x % 2, y % 2), 0)
    # The window slides sideways: odd and even x, one y; two pictures in all.
    assert len(set(shown)) == 2
    # Both are needed from the start, so they are shown in one run.
    (part,) = chunks(shown)
    assert shows(part) == [*shown, None, None]


def test_an_orbit_shows_its_first_frames_before_its_last_pictures_are_made() -> None:
    frames = 120
    plan = framing(CameraDirection("orbit_left"), 1280, 720, frames, 24, seed=1)
    shown = pictures(plan, frames)
    parts = chunks(shown)
    assert parts[0].start == 0
    assert [part.end for part in parts[:-1]] == [part.start for part in parts[1:]]
    assert parts[-1].end == frames
    # Each run waits for a few more pictures only.
    needed = [0] + [sum(count for _, count in part.needs) for part in parts]
    assert all(0 < now - before <= NEW_PER_CHUNK + 1 for before, now in itertools.pairwise(needed))
    assert len(parts) > 4
    for part in parts:
        assert [p for p in shows(part) if p is not None] == list(shown[part.start : part.end])


def test_scene_follows_the_prompt_and_the_seed() -> None:
    night = scene_for(1, "a neon city street at night")
    assert (night.time, night.terrain) == ("night", "city")
    assert scene_for(1, "a beach at dusk").terrain == "sea"
    assert render_plate(scene_for(5, "x"), 64, 36) == render_plate(scene_for(5, "x"), 64, 36)
    assert render_plate(scene_for(5, "x"), 64, 36) != render_plate(scene_for(6, "x"), 64, 36)
    assert len(render_plate(night, 64, 36)) == 64 * 36 * 3


# --- the provider -----------------------------------------------------------------------


async def wait_terminal(provider: LocalProvider, request: ShotRequest, job_id: str) -> JobState:
    for _ in range(600):
        status = await provider.poll(request, job_id)
        if status.state.terminal:
            return status.state
        await asyncio.sleep(0.02)
    raise AssertionError("the local render did not finish")


def ffmpeg_running_in(directory: Path) -> bool:
    """Whether any process has ``directory`` on its command line (Linux /proc)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(directory).encode() in cmdline:
            return True
    return False


async def test_provider_renders_through_submit_poll_fetch(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "work", max_parallel=2)
    assert isinstance(provider, Provider)
    request = replace(shot(generate_audio=True), hash="ab" * 32)
    job_id = await provider.submit(request, "key-1")
    assert job_id == "local-" + "ab" * 8
    assert await provider.submit(request, "key-1") == job_id  # same job while it lives
    assert await wait_terminal(provider, request, job_id) is JobState.SUCCEEDED
    status = await provider.poll(request, job_id)
    assert (status.progress, status.cost_usd) == (1.0, 0.0)
    dest = tmp_path / "cache" / "clip.mp4"
    await provider.fetch(request, job_id, status, dest)
    assert probe(dest).frames == frame_count(request)
    assert (await provider.poll(request, job_id)).state is JobState.EXPIRED
    await provider.aclose()
    assert list((tmp_path / "work").iterdir()) == []


async def test_a_poll_of_a_short_render_answers_when_it_ends(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "work")
    request = replace(shot(duration=0.5, width=160, height=90), hash="cd" * 32)
    job_id = await provider.submit(request, "key-1")
    # asked at once, the answer waits for the render (a short one ends well within the wait)
    status = await provider.poll(request, job_id)
    assert status.state is JobState.SUCCEEDED
    await provider.aclose()


@pytest.mark.e2e
async def test_provider_reports_a_failed_render(tmp_path: Path, media: dict[str, Path]) -> None:
    provider = LocalProvider(tmp_path / "work")
    request = shot(images=(ref("image", media["broken"]),))
    job_id = await provider.submit(request, "key")
    assert await wait_terminal(provider, request, job_id) is JobState.FAILED
    status = await provider.poll(request, job_id)
    assert status.error is not None
    assert status.error.job_id == job_id
    await provider.aclose()


async def test_unknown_job_is_expired_so_the_engine_resubmits(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "work")
    status = await provider.poll(shot(), "local-0123456789abcdef")
    assert status.state is JobState.EXPIRED
    assert status.error is not None
    assert status.error.retryable


@pytest.mark.e2e
async def test_cancel_kills_ffmpeg_and_queued_jobs_wait(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "work", max_parallel=1)
    # Ten minutes with sound keep ffmpeg busy for seconds (a still's picture alone would
    # be encoded in one or two).
    long_shot = shot(duration=600.0, id="long", generate_audio=True)
    first = await provider.submit(replace(long_shot, hash="1" * 64), "a")
    second = await provider.submit(replace(long_shot, hash="2" * 64, seed=9), "b")
    for _ in range(500):
        status = await provider.poll(long_shot, first)
        if status.progress:  # ffmpeg reports how far it got
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the render never reported progress")
    assert status.state is JobState.RUNNING
    assert status.progress is not None
    assert 0 < status.progress < 1
    assert ffmpeg_running_in(tmp_path / "work" / first)
    assert (await provider.poll(long_shot, second)).state is JobState.QUEUED
    await provider.cancel(long_shot, first)
    assert not ffmpeg_running_in(tmp_path / "work" / first)
    assert not (tmp_path / "work" / first).exists()
    assert (await provider.poll(long_shot, first)).state is JobState.EXPIRED
    await provider.aclose()  # stops the second, which had started in the freed slot
    assert not ffmpeg_running_in(tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []


async def test_cancel_while_preparing_leaves_no_files(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "work")
    request = shot(width=1280, height=720, caption=True)  # a plate worth painting
    job_id = await provider.submit(request, "key")
    await asyncio.sleep(0)  # the render has started preparing
    await provider.cancel(request, job_id)
    assert list((tmp_path / "work").iterdir()) == []
    await provider.aclose()

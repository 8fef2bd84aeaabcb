"""Takes, picks and continuity through the command line with the local previz: real
ffmpeg renders of tiny clips (320x180, 1.5 s), frames compared by decoded pixels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_helpers import shotlist, write

from shotlist.files import sha256_file

pytestmark = pytest.mark.e2e

TAKES = """\
# a storm, three ways
version: 1
defaults: {size: 320x180, duration: 1.5, generate_audio: false}   # tiny and quick
cut: {size: 320x180, loudness: null}
shots:
  - id: storm
    prompt: Waves break over the tower   # the only shot
    takes: 3
    pick: 2                              # chosen in review
"""


def rgb_frames(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as container:
        return [
            bytes(frame.reformat(format="rgb24").planes[0])
            for frame in container.decode(container.streams.video[0])
        ]


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference per colour value (0-255)."""
    assert len(a) == len(b)
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def closest(frame: bytes, candidates: dict[int, bytes]) -> int:
    return min(candidates, key=lambda k: difference(frame, candidates[k]))


def test_three_takes_the_cut_holds_the_pick_and_a_new_pick_submits_nothing(tmp_path: Path) -> None:
    film = write(tmp_path, TAKES)
    first = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    shot = first.json["shots"][0]
    assert first.json["submitted"] == 3
    assert (shot["take"], shot["hash"]) == (2, shot["takes"][1]["hash"])
    clips = {t["take"]: Path(t["file"]) for t in shot["takes"]}
    assert len({sha256_file(p) for p in clips.values()}) == 3  # three distinct clips
    middles = {k: rgb_frames(p)[18] for k, p in clips.items()}
    cut = Path(first.json["output"])
    assert closest(rgb_frames(cut)[18], middles) == 2
    first_cut = sha256_file(cut)

    picked = shotlist("pick", film.name, "storm", "3", cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    assert film.read_text() == TAKES.replace("    pick: 2  ", "    pick: 3  ")  # comments and layout kept

    again = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.json["submitted"] == 0
    assert [t["source"] for t in [again.json["shots"][0]]] == ["cache"]
    assert again.json["shots"][0]["take"] == 3
    assert sha256_file(cut) != first_cut
    assert closest(rgb_frames(cut)[18], middles) == 3
    lock = json.loads((tmp_path / "film.lock").read_text())["shots"][0]
    assert (lock["pick"], [t["take"] for t in lock["takes"]]) == (3, [1, 2, 3])
    assert lock["hash"] == lock["takes"][2]["hash"]

    sheet = shotlist("takes", film.name, "storm", "-o", "sheet.png", cwd=tmp_path)
    assert sheet.returncode == 0, sheet.stderr
    assert_contact_sheet(tmp_path / "sheet.png", rows=3, picked=3)


def assert_contact_sheet(path: Path, *, rows: int, picked: int) -> None:
    """A real PNG: one 180-pixel row per take beside a 220-pixel label column, the picked
    row's label on green, the others on grey, three frames per row."""
    import av

    with av.open(str(path)) as container:
        assert container.format.name in ("png_pipe", "image2")
        frame = next(container.decode(container.streams.video[0])).reformat(format="rgb24")
    assert (frame.width, frame.height) == (220 + 3 * 320, rows * 180)
    plane = frame.planes[0]
    data = bytes(plane)

    def pixel(x: int, y: int) -> tuple[int, ...]:
        at = y * plane.line_size + 3 * x
        return tuple(data[at : at + 3])

    for row in range(rows):
        corner = pixel(200, row * 180 + 170)  # below the label text
        assert corner == ((0x1F, 0x51, 0x30) if row + 1 == picked else (0x20, 0x20, 0x20))


def test_adding_takes_to_a_rendered_shot_renders_only_the_new_ones(tmp_path: Path) -> None:
    one = TAKES.replace("    takes: 3\n", "").replace(
        "    pick: 2                              # chosen in review\n", ""
    )
    film = write(tmp_path, one)
    first = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    locked = json.loads((tmp_path / "film.lock").read_text())["shots"][0]
    assert "takes" not in locked  # a one-take lock reads as it always did
    assert "pick" not in locked

    film.write_text(one.replace("    prompt: Waves", "    takes: 3\n    prompt: Waves"))
    plan = shotlist("plan", film.name, "--json", cwd=tmp_path)
    assert [t["status"] for t in plan.json["shots"][0]["takes"]] == ["cached", "new", "new"]
    again = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.json["submitted"] == 2
    takes = json.loads((tmp_path / "film.lock").read_text())["shots"][0]["takes"]
    assert takes[0]["hash"] == locked["hash"]
    assert takes[0]["seed"] == locked["seed"]


CHAIN = """\
version: 1
defaults: {size: 320x180, duration: 1.5, generate_audio: false}
cut: {size: 320x180, loudness: null}
shots:
  - id: a
    prompt: A boat leaves the harbour
    camera: {move: pan_left, speed: fast}
  - id: b
    prompt: The keeper turns from the window
    first_frame: {shot: a}
  - id: c
    prompt: The lamp is lit
    last_frame: {shot: a}
"""


def clip_of(run_json: dict[str, object], shot_id: str) -> Path:
    shots = run_json["shots"]
    assert isinstance(shots, list)
    return Path(next(s["file"] for s in shots if s["id"] == shot_id))


def test_a_chain_starts_on_its_parents_last_frame_and_rerenders_only_what_changed(tmp_path: Path) -> None:
    film = write(tmp_path, CHAIN)
    plan = shotlist("plan", film.name, cwd=tmp_path)
    assert "waits on a" in plan.stdout
    first = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.json["submitted"] == 3
    a, b, c = (rgb_frames(clip_of(first.json, s)) for s in "abc")
    assert difference(b[0], a[-1]) < 2.5  # b starts where a ends (H.264 at crf 20 both ways)
    assert difference(b[0], a[0]) > 3 * difference(b[0], a[-1])  # ... and not where a starts
    assert difference(b[0], b[-1]) > 10  # then dissolves into its own scene
    assert difference(c[-1], a[0]) < 2.5  # c ends where a starts
    assert difference(c[0], c[-1]) > 20

    film.write_text(CHAIN.replace("The keeper turns", "The keeper spins"))
    edited_b = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert edited_b.returncode == 0, edited_b.stderr
    assert edited_b.generated() == ["b"]

    film.write_text(CHAIN.replace("The keeper turns", "The keeper spins").replace("leaves", "enters"))
    edited_a = shotlist("render", film.name, "--json", cwd=tmp_path)
    assert edited_a.returncode == 0, edited_a.stderr
    assert edited_a.generated() == ["a", "b", "c"]
    b2 = rgb_frames(clip_of(edited_a.json, "b"))
    assert difference(b2[0], rgb_frames(clip_of(edited_a.json, "a"))[-1]) < 2.5


def test_a_cycle_is_refused_before_anything_runs(tmp_path: Path) -> None:
    film = write(
        tmp_path, CHAIN.replace("    prompt: A boat", "    first_frame: {shot: b}\n    prompt: A boat")
    )
    run = shotlist("render", film.name, cwd=tmp_path)
    assert run.returncode == 1
    assert run.errors == ["error: film.yaml:6:18: shots[0].first_frame: shots form a cycle: a -> b -> a"]
    assert not (tmp_path / ".shotlist" / "clips").exists()


def test_a_shot_ends_on_its_last_frame_image(tmp_path: Path) -> None:
    from render_helpers import make_image

    make_image(tmp_path / "end.png", "red", size="320x180")
    film = write(
        tmp_path,
        "version: 1\ndefaults: {size: 320x180, duration: 1.5, generate_audio: false}\n"
        "references: {end: end.png}\n"
        "shots:\n  - {id: a, prompt: Sunset, last_frame: '@end'}\n",
    )
    run = shotlist("render", film.name, "--json", "--no-stitch", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    frames = rgb_frames(clip_of(run.json, "a"))

    def means(frame: bytes) -> list[float]:
        return [sum(frame[i::3]) / (len(frame) / 3) for i in range(3)]

    red, green, blue = means(frames[-1])
    assert red > 200  # the whole last frame is the red image
    assert green < 20
    assert blue < 20
    assert means(frames[0])[0] < 200 or means(frames[0])[1] > 40  # the shot starts on its own scene

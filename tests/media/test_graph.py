"""Command lines and filter graphs built with ffmpeg-python, and the one escaping rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotlist.media import graph
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import probe


def test_filter_values_survive_both_levels_of_ffmpeg_escaping() -> None:
    assert graph.filter_value("/a/b.ass") == "/a/b.ass"
    assert graph.filter_value("it's:x") == "it\\\\\\'s\\\\:x"
    assert graph.filter_value("a,b[c];d") == "a\\,b\\[c\\]\\;d"
    assert graph.filter_value("k=v") == "k\\\\=v"


def test_every_option_value_is_escaped_by_the_one_rule() -> None:
    odd = "/films/100% film, o'clock: v2/[take];1.ass"
    picture = graph.Input(graph.url("in.mp4")).stream("v").filter("ass", filename=odd)

    args = graph.command(graph.output([picture], graph.url("out.mp4")))

    assert f"ass=filename={graph.filter_value(odd)}[" in args[args.index("-filter_complex") + 1]


def test_a_positional_argument_that_needs_escaping_is_refused() -> None:
    stream = graph.Input("in.wav").stream("a")

    with pytest.raises(ValueError, match="pass it by name"):
        stream.filter("pan", "stereo|c0=c0|c1=c0")


def test_identical_sources_stay_two_sources() -> None:
    silences = [graph.source("anullsrc", r=48000, cl="stereo") for _ in range(2)]
    mixed = graph.merge("amix", silences, inputs=2)

    spec = graph.command(graph.output([mixed], "-", {"f": "null"}))[1]

    assert spec.count("anullsrc=cl=stereo:r=48000") == 2


def test_one_file_read_twice_is_two_inputs() -> None:
    first, second = graph.Input(graph.url("a.mp4")), graph.Input(graph.url("a.mp4"))
    both = graph.merge("overlay", [first.stream("v"), second.stream("v")])

    args = graph.command(graph.output([both], graph.url("out.mp4")))

    assert args.count("-i") == 2


def test_a_filter_with_several_outputs_labels_them_in_order() -> None:
    y, u, v = graph.Input(graph.url("in.mp4")).stream("v").outputs("extractplanes", 3, "y+u+v")
    swapped = graph.merge("mergeplanes", [v, u, y], map1s=1, map2s=2, format="yuv420p")

    spec = graph.command(graph.output([swapped], graph.url("out.mp4")))[3]

    assert spec.startswith("[0:v]extractplanes=y+u+v[s0][s1][s2];[s2][s1][s0]mergeplanes=")


def test_inputs_and_outputs_keep_their_options_and_maps() -> None:
    clip = graph.Input(graph.url("/c/clip.mp4"), {"ss": "0.5", "f": "mp4"})
    sound = graph.Input(graph.url("/c/sound.m4a"))
    out = graph.output(
        [clip.stream("v:0"), sound.stream("a:0")], graph.url("/c/out.mp4"), {"c:v": "copy", "f": "mp4"}
    )

    assert graph.command(out) == [
        "-f", "mp4", "-ss", "0.5", "-i", "file:/c/clip.mp4", "-i", "file:/c/sound.m4a",
        "-map", "0:v:0", "-map", "1:a:0", "-f", "mp4", "-c:v", "copy", "file:/c/out.mp4",
    ]  # fmt: skip


def test_a_numbered_name_keeps_a_percent_in_its_folder_literal() -> None:
    assert graph.numbered(Path("/w/100% film"), "piece%d.mp4") == "file:/w/100%% film/piece%d.mp4"


def test_paths_ffmpeg_could_misread_are_taken_literally(tmp_path: Path) -> None:
    folder = tmp_path / "100% film, o'clock: v2"
    folder.mkdir()
    colour = graph.source("color", c="red", s="64x36", r=12, d=1)
    first = graph.output([colour], graph.url(folder / "a:b.mp4"), {"c:v": "libx264", "pix_fmt": "yuv420p"})
    run_ffmpeg(graph.command(first), step="writing")
    second = graph.Input(graph.url(folder / "a:b.mp4")).stream("v").filter("hflip")
    run_ffmpeg(
        graph.command(graph.output([second], graph.numbered(folder, "piece%d.mp4"), {"f": "segment"})),
        step="splitting",
    )

    assert probe(folder / "piece0.mp4").frames == 12

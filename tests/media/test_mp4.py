"""media.mp4: joining MP4 tracks by their tables, checked against ffmpeg and PyAV decoding."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import av
import pytest

from shotlist.media import mp4
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.mp4 import Mp4Unsupported, PacketSpan, read_track, write_movie


def clip(path: Path, colour: str, *, size: str = "320x180", extra: tuple[str, ...] = ()) -> Path:
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=12:d=1,drawbox=c={colour}:t=40",
         "-f", "lavfi", "-i", "sine=f=440:r=48000:d=1",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "12", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-ac", "2", *extra, str(path)],
        step="making a clip",
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("mp4")
    return [clip(folder / f"{c}.mp4", c) for c in ("red", "green", "blue")]


def frames(path: Path) -> list[tuple[float, str]]:
    """Every decoded picture: when it is shown (seconds) and a hash of its pixels."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (round(float(f.time), 4), hashlib.sha256(b"".join(bytes(p) for p in f.planes)).hexdigest())
            for f in container.decode(stream)
        ]


def sound(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return b"".join(bytes(f.planes[0]) for f in container.decode(container.streams.audio[0]))


def concat_copy(clips: list[Path], output: Path) -> Path:
    """ffmpeg's join of the clips' pictures (their sound left out first: the concat demuxer
    would otherwise start each picture after the AAC priming)."""
    pieces = []
    for clip in clips:
        pieces.append(output.with_name(f"{clip.stem}-picture.mp4"))
        run_ffmpeg(["-i", str(clip), "-map", "0:v", "-c", "copy", str(pieces[-1])], step="picture only")
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in pieces))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v", "-c", "copy", str(output)],
               step="reference join")  # fmt: skip
    return output


def top_boxes(path: Path) -> list[bytes]:
    data, at, kinds = path.read_bytes(), 0, []
    while at < len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        if size == 1:
            size = struct.unpack_from(">Q", data, at + 8)[0]
        kinds.append(kind)
        at += size
    return kinds


@pytest.mark.parametrize("kernel_copy_from", [1 << 20, 256], ids=["buffered", "kernel-copy"])
def test_joined_pictures_decode_exactly_as_ffmpegs_concat_of_the_same_clips(
    clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy_from: int
) -> None:
    monkeypatch.setattr(mp4, "_KERNEL_COPY_BYTES", kernel_copy_from)
    out = tmp_path / "joined.mp4"
    write_movie(out, [read_track(c, b"vide") for c in clips], [])

    reference = frames(concat_copy(clips, tmp_path / "reference.mp4"))
    assert len(reference) == 36
    assert frames(out) == reference
    assert [t for t, _ in reference] == [round(n / 12, 4) for n in range(36)]
    assert top_boxes(out)[:3] == [b"ftyp", b"moov", b"mdat"]  # plays while it downloads


def test_sound_spliced_from_spans_decodes_to_the_same_samples_as_the_whole(
    clips: list[Path], tmp_path: Path
) -> None:
    whole = read_track(clips[0], b"soun")
    assert whole.media_time == 1024  # the AAC priming the edit list skips
    cut_at = [10 * 1024, 30 * 1024]
    spans = [
        PacketSpan(clips[0], None, cut_at[0]),
        PacketSpan(clips[0], cut_at[0], cut_at[1]),
        PacketSpan(clips[0], cut_at[1], None),
    ]
    out = tmp_path / "sound.m4a"
    write_movie(out, [], spans)

    assert sound(out) == sound(clips[0])
    assert len(read_track(out, b"soun")) == len(whole)


def test_a_movie_of_both_tracks_keeps_pictures_and_sound(clips: list[Path], tmp_path: Path) -> None:
    spans = [PacketSpan(clips[0], None, 46 * 1024)]
    spans += [PacketSpan(c, 0, 46 * 1024, shift=i * 46 * 1024) for i, c in enumerate(clips[1:], 1)]
    out = tmp_path / "movie.mp4"
    write_movie(out, [read_track(c, b"vide") for c in clips], spans)

    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.frames == 36
        assert float(video.duration * video.time_base) == pytest.approx(3.0)
        assert float(audio.duration * audio.time_base) == pytest.approx(3 * 46 * 1024 / 48_000, abs=1e-3)
    again = tmp_path / "again.mp4"
    write_movie(again, [read_track(c, b"vide") for c in clips], spans)
    assert again.read_bytes() == out.read_bytes()


def test_packets_that_do_not_follow_on_are_refused_before_anything_is_written(
    clips: list[Path], tmp_path: Path
) -> None:
    gap = [PacketSpan(clips[0], None, 10 * 1024), PacketSpan(clips[1], 11 * 1024, None)]
    out = tmp_path / "gap.m4a"
    with pytest.raises(Mp4Unsupported, match=r"green\.mp4: its packets start at 11264, not at 10240"):
        write_movie(out, [], gap)
    assert not out.exists()


def test_pictures_encoded_differently_are_refused(clips: list[Path], tmp_path: Path) -> None:
    square = clip(tmp_path / "square.mp4", "white", size="180x180")
    with pytest.raises(Mp4Unsupported, match="encoded unlike"):
        write_movie(tmp_path / "mixed.mp4", [read_track(clips[0], b"vide"), read_track(square, b"vide")], [])


def test_a_file_changed_in_place_is_read_again_not_taken_from_memory(
    clips: list[Path], tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clips[0].read_bytes())
    assert read_track(path, b"vide") is read_track(path, b"vide")  # kept while unchanged
    path.write_bytes(clip(tmp_path / "other.mp4", "white", size="180x180").read_bytes())
    assert read_track(path, b"vide").config != read_track(clips[0], b"vide").config


@pytest.mark.parametrize(
    ("name", "extra", "why"),
    [
        ("fragmented.mp4", ("-movflags", "frag_keyframe+empty_moov"), "fragmented"),
        ("matroska.mkv", (), "no moov"),
    ],
)
def test_files_it_cannot_copy_from_are_refused_by_name(
    tmp_path: Path, name: str, extra: tuple[str, ...], why: str
) -> None:
    path = clip(tmp_path / name, "red", extra=extra)
    with pytest.raises(Mp4Unsupported, match=why):
        read_track(path, b"vide")


def test_offsets_past_four_gigabytes_are_written_in_64_bits(
    clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mp4, "_LIMIT_32", 1000)  # as if the film were larger than 4 GiB
    out = tmp_path / "wide.mp4"
    write_movie(out, [read_track(c, b"vide") for c in clips], [PacketSpan(clips[0])])

    data = out.read_bytes()
    assert b"co64" in data
    assert b"stco" not in data
    assert struct.unpack_from(">I4s", data, data.index(b"mdat") - 4) == (1, b"mdat")  # 64-bit size
    assert frames(out) == frames(concat_copy(clips, tmp_path / "reference.mp4"))


def test_a_piece_that_starts_late_is_joined_from_its_first_frame(clips: list[Path], tmp_path: Path) -> None:
    """ffmpeg writes a leading empty edit for a segment starting after zero; the piece is
    still shown from its first frame, as the concat demuxer shows it."""
    late = tmp_path / "late.mp4"
    run_ffmpeg(["-i", str(clips[1]), "-map", "0:v", "-c", "copy", "-output_ts_offset", "0.25", str(late)],
               step="a late piece")  # fmt: skip
    assert read_track(late, b"vide").media_time == read_track(clips[1], b"vide").media_time
    out = tmp_path / "joined.mp4"
    write_movie(out, [read_track(c, b"vide") for c in (clips[0], late, clips[2])], [])

    assert frames(out) == frames(concat_copy(clips, tmp_path / "reference.mp4"))


# How other muxers and settings write the same pictures: an edit list for the B-frame delay
# (moov first or last, MP4 or QuickTime), negative composition offsets, or no edit list at all.
VARIANTS = {
    "faststart": ("-movflags", "+faststart"),
    "negative-cts": ("-movflags", "+negative_cts_offsets"),
    "no-edit-list": ("-use_editlist", "0"),
    "quicktime": ("-f", "mov"),
}


@pytest.mark.parametrize(
    "variants", [*([v] * 3 for v in VARIANTS), ["faststart", "negative-cts", "no-edit-list"]]
)
def test_pieces_written_every_way_are_joined_as_ffmpeg_joins_them(
    clips: list[Path], tmp_path: Path, variants: list[str]
) -> None:
    pieces = []
    for source, variant in zip(clips, variants, strict=True):
        pieces.append(tmp_path / f"{source.stem}-{variant}.mp4")
        run_ffmpeg(["-i", str(source), "-c", "copy", *VARIANTS[variant], str(pieces[-1])], step=variant)
    out = tmp_path / "joined.mp4"
    write_movie(out, [read_track(p, b"vide") for p in pieces], [])

    assert frames(out) == frames(concat_copy(clips, tmp_path / "reference.mp4"))

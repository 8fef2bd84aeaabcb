"""MP4 at the level of boxes: a track's sample tables, and a movie written from other files'
samples by arithmetic on those tables and a byte copy.

Why not ffmpeg's concat demuxer or PyAV's remuxing: both open and probe every file and
move every packet through a muxer one at a time. For a film of 200 one-second shots that
costs more than a whole restitch may (issue 17), and it grows with every shot. The pieces
of a cut are MP4 files shotlist wrote (or clips already in the cut's format), so joining
them needs no decoder: their samples are copied as they are, in the kernel where it can
(``os.copy_file_range``), and only the tables are computed.

What is supported is what a cut needs, and anything else raises :class:`Mp4Unsupported`
so the caller can fall back to ffmpeg: one sample description per track, an edit list
of at most one edit that only skips the start (B-frame delay, AAC priming), and pieces of
one track that share their timescale and codec configuration. The output has ``moov``
before ``mdat`` (it plays while it downloads) and its tracks interleaved about every
second; it is the same bytes every time for the same pieces.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

from shotlist.errors import MediaError

_MOVIE_TIMESCALE = 1000
_LIMIT_32 = 0xFFFFFFFF  # beyond this, offsets and sizes take 64 bits
_INTERLEAVE_SECONDS = 1.0
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


class Mp4Unsupported(MediaError):
    """The file, or the join asked for, is outside what this module handles: use ffmpeg."""


@dataclass(frozen=True)
class PacketSpan:
    """Audio packets of one file to splice: ``start <= pts < end`` (the file's own time base,
    ``None`` for open ends), moved by ``shift`` on the way out."""

    path: Path
    start: int | None = None
    end: int | None = None
    shift: int = 0


@dataclass(frozen=True)
class Track:
    """The samples of one track of an MP4 file, and what a copy of them needs."""

    path: Path
    handler: bytes  # b"vide" or b"soun"
    timescale: int
    sizes: array[int]
    offsets: list[int]  # where each sample starts in the file
    durations: array[int]
    composition: array[int] | None  # each sample's composition offset; None: all 0
    sync: array[int] | None  # the 0-based indices of sync samples; None: every sample is one
    media_time: int  # the first presented time (the edit list's skip)
    config: bytes  # what two tracks must share to be joined (codec parameters, picture size)
    stsd: bytes
    hdlr: bytes
    media_header: bytes  # vmhd or smhd
    language: int
    tkhd_size: tuple[int, int]  # width and height as tkhd has them (16.16)
    roll: bool  # AAC's "roll" sample group (each packet needs the one before it)
    starts: list[int] = field(default_factory=list)  # each sample's decode time

    def __post_init__(self) -> None:
        self.starts.extend(accumulate(self.durations, initial=0))

    def __len__(self) -> int:
        return len(self.sizes)

    def packets(self, start: int | None, end: int | None) -> range:
        """The samples whose presentation time ``pts`` is in ``start <= pts < end``."""
        first, stop = 0, len(self)
        if start is not None:
            first = _bisect(self.starts, start + self.media_time, stop)
        if end is not None:
            stop = _bisect(self.starts, end + self.media_time, stop)
        return range(first, max(first, stop))


def _bisect(starts: list[int], value: int, limit: int) -> int:
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


# -- reading -------------------------------------------------------------------------


# Tracks read lately, by file identity: a restitch (or watch mode's next cut) reads the same
# hundreds of pieces again; their tables are kept instead of parsed again.
_KNOWN: OrderedDict[tuple[object, ...], Track] = OrderedDict()
_KNOWN_MOST = 4096
_KNOWN_LOCK = threading.Lock()


def read_track(path: Path, handler: bytes) -> Track:
    """The first track of ``path`` with ``handler`` (b"vide" or b"soun").

    Raises ``Mp4Unsupported`` when the file is not an MP4 this module can copy from.
    """
    try:
        with path.open("rb") as source:
            status = os.fstat(source.fileno())
            key = (str(path), handler, status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
            with _KNOWN_LOCK:
                if key in _KNOWN:
                    _KNOWN.move_to_end(key)
                    return _KNOWN[key]
            moov = _read_moov(source, path)
    except OSError as exc:
        raise MediaError(f"{path}: {exc.strerror or exc}") from exc
    track = _parse(moov, path, handler)
    with _KNOWN_LOCK:
        _KNOWN[key] = track
        while len(_KNOWN) > _KNOWN_MOST:
            _KNOWN.popitem(last=False)
    return track


def _parse(moov: bytes, path: Path, handler: bytes) -> Track:
    movie_timescale = _movie_timescale(moov, path)
    if any(kind == b"mvex" for kind, _, _ in _children(moov, 0, len(moov))):
        raise Mp4Unsupported(f"{path}: a fragmented MP4")
    for kind, start, end in _children(moov, 0, len(moov)):
        if kind == b"trak":
            track = _track(moov, start, end, path, movie_timescale)
            if track is not None and track.handler == handler:
                return track
    raise Mp4Unsupported(f"{path}: no {handler.decode()} track")


def _read_moov(source: BinaryIO, path: Path) -> bytes:
    offset = 0
    while True:
        source.seek(offset)
        header = source.read(16)
        if len(header) < 8:
            raise Mp4Unsupported(f"{path}: no moov box")
        size, kind = struct.unpack(">I4s", header[:8])
        head = 8
        if size == 1 and len(header) == 16:
            size, head = struct.unpack(">Q", header[8:16])[0], 16
        elif size == 0:
            size = os.fstat(source.fileno()).st_size - offset
        if size < head:
            raise Mp4Unsupported(f"{path}: damaged box at byte {offset}")
        if kind == b"moof":
            raise Mp4Unsupported(f"{path}: a fragmented MP4")
        if kind == b"moov":
            source.seek(offset + head)
            moov = source.read(size - head)
            if len(moov) != size - head:
                raise Mp4Unsupported(f"{path}: moov cut short")
            return moov
        offset += size


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """The boxes between ``start`` and ``end``: (type, body start, box end)."""
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < head or start + size > end:
            raise Mp4Unsupported(f"damaged {kind!r} box")
        yield kind, start + head, start + size
        start += size


def _find(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    return {kind: (body, stop) for kind, body, stop in _children(data, start, end)}


def _movie_timescale(moov: bytes, path: Path) -> int:
    boxes = _find(moov, 0, len(moov))
    if b"mvhd" not in boxes:
        raise Mp4Unsupported(f"{path}: no mvhd")
    body, _ = boxes[b"mvhd"]
    version = moov[body]
    return int(struct.unpack_from(">I", moov, body + (20 if version == 1 else 12))[0])


def _track(moov: bytes, start: int, end: int, path: Path, movie_timescale: int) -> Track | None:
    trak = _find(moov, start, end)
    if b"mdia" not in trak or b"tkhd" not in trak:
        return None
    mdia = _find(moov, *trak[b"mdia"])
    minf = _find(moov, *mdia[b"minf"])
    stbl = _find(moov, *minf[b"stbl"])
    hdlr_body = mdia[b"hdlr"][0]
    handler = moov[hdlr_body + 8 : hdlr_body + 12]
    if handler not in (b"vide", b"soun"):
        return None
    timescale, language = _mdhd(moov, mdia[b"mdhd"][0])
    sizes = _stsz(moov, stbl[b"stsz"][0])
    durations = _expand_pairs(moov, stbl[b"stts"][0], "I")
    composition = _expand_pairs(moov, stbl[b"ctts"][0], "i") if b"ctts" in stbl else None
    if len(durations) != len(sizes) or (composition is not None and len(composition) != len(sizes)):
        raise Mp4Unsupported(f"{path}: sample tables of different lengths")
    chunks = _chunk_offsets(moov, stbl)
    tkhd_size = struct.unpack_from(">II", moov, trak[b"tkhd"][1] - 8)
    return Track(
        path=path,
        handler=handler,
        timescale=timescale,
        sizes=sizes,
        offsets=_sample_offsets(moov, stbl[b"stsc"][0], chunks, sizes, path),
        durations=durations,
        composition=composition,
        sync=_stss(moov, stbl[b"stss"][0]) if b"stss" in stbl else None,
        media_time=_media_time(moov, trak, timescale, movie_timescale, durations, composition, path),
        config=_config(moov, stbl[b"stsd"], path),
        stsd=_rebox(b"stsd", moov, stbl[b"stsd"]),
        hdlr=_rebox(b"hdlr", moov, mdia[b"hdlr"]),
        media_header=_media_header(moov, minf, path),
        language=language,
        tkhd_size=(int(tkhd_size[0]), int(tkhd_size[1])),
        roll=b"sgpd" in stbl,
    )


def _rebox(kind: bytes, data: bytes, body_end: tuple[int, int]) -> bytes:
    """A box read from ``data`` (its body's start and end), written again whole."""
    body, end = body_end
    return _box(kind, data[body:end])


def _media_header(data: bytes, minf: dict[bytes, tuple[int, int]], path: Path) -> bytes:
    for kind in (b"vmhd", b"smhd"):
        if kind in minf:
            return _rebox(kind, data, minf[kind])
    raise Mp4Unsupported(f"{path}: no vmhd or smhd")


def _mdhd(data: bytes, body: int) -> tuple[int, int]:
    if data[body] == 1:
        timescale = struct.unpack_from(">I", data, body + 20)[0]
        language = struct.unpack_from(">H", data, body + 32)[0]
    else:
        timescale = struct.unpack_from(">I", data, body + 12)[0]
        language = struct.unpack_from(">H", data, body + 20)[0]
    return int(timescale), int(language)


def _numbers(data: bytes, start: int, count: int, code: str) -> array[int]:
    values = array(code)
    values.frombytes(data[start : start + 4 * count])
    if sys.byteorder == "little":
        values.byteswap()
    return values


def _stsz(data: bytes, body: int) -> array[int]:
    size, count = (int(n) for n in struct.unpack_from(">II", data, body + 4))
    if size:
        return array("I", [size]) * count
    return _numbers(data, body + 12, count, "I")


def _expand_pairs(data: bytes, body: int, code: str) -> array[int]:
    """stts or ctts: (count, value) pairs, one value per sample."""
    count = struct.unpack_from(">I", data, body + 4)[0]
    pairs = _numbers(data, body + 8, 2 * count, code)
    values = array(code)
    for index in range(0, len(pairs), 2):
        values.extend(array(code, [pairs[index + 1]]) * pairs[index])
    return values


def _stss(data: bytes, body: int) -> array[int]:
    count = struct.unpack_from(">I", data, body + 4)[0]
    return array("I", (n - 1 for n in _numbers(data, body + 8, count, "I")))


def _chunk_offsets(data: bytes, stbl: dict[bytes, tuple[int, int]]) -> list[int]:
    if b"co64" in stbl:
        body = stbl[b"co64"][0]
        count = struct.unpack_from(">I", data, body + 4)[0]
        return list(struct.unpack_from(f">{count}Q", data, body + 8))
    body = stbl[b"stco"][0]
    count = struct.unpack_from(">I", data, body + 4)[0]
    return list(_numbers(data, body + 8, count, "I"))


def _sample_offsets(data: bytes, body: int, chunks: list[int], sizes: array[int], path: Path) -> list[int]:
    count = struct.unpack_from(">I", data, body + 4)[0]
    entries = [struct.unpack_from(">III", data, body + 8 + 12 * i) for i in range(count)]
    if any(description != 1 for _, _, description in entries):
        raise Mp4Unsupported(f"{path}: more than one sample description")
    offsets: list[int] = []
    sample = 0
    for index, (first, per_chunk, _) in enumerate(entries):
        last = entries[index + 1][0] - 1 if index + 1 < count else len(chunks)
        for chunk in range(first - 1, last):
            position = chunks[chunk]
            for size in sizes[sample : sample + per_chunk]:
                offsets.append(position)
                position += size
            sample += per_chunk
    if len(offsets) != len(sizes):
        raise Mp4Unsupported(f"{path}: the chunk table does not cover every sample")
    return offsets


def _media_time(
    data: bytes,
    trak: dict[bytes, tuple[int, int]],
    timescale: int,
    movie_timescale: int,
    durations: array[int],
    composition: array[int] | None,
    path: Path,
) -> int:
    """Where the track's one edit starts presenting the media (0 without an edit list).

    Empty edits before it (a delay, as ffmpeg's segment muxer writes for a first segment
    starting after zero) are let go: a piece of a cut is shown from its first frame, as
    the concat demuxer, which subtracts each file's start, showed it too.
    """
    if b"edts" not in trak:
        return 0
    edts = _find(data, *trak[b"edts"])
    if b"elst" not in edts:
        return 0
    edits = [edit for edit in _edits(data, edts[b"elst"][0]) if edit[1] != -1]
    if not edits:
        return 0
    if len(edits) != 1:
        raise Mp4Unsupported(f"{path}: an edit list of {len(edits)} edits")
    segment, media_time, rate = edits[0]
    if media_time < 0 or rate != 0x10000:
        raise Mp4Unsupported(f"{path}: an edit that retimes the track")
    presented = _end(durations, composition) - media_time
    if segment and segment * timescale < (presented * movie_timescale) - timescale * 2:
        raise Mp4Unsupported(f"{path}: an edit that cuts the track's end")
    return int(media_time)


def _edits(data: bytes, body: int) -> list[tuple[int, int, int]]:
    """An elst's edits: (segment duration, media time, rate)."""
    version, count = data[body], struct.unpack_from(">I", data, body + 4)[0]
    layout, size = (">Qqi", 20) if version == 1 else (">Iii", 12)
    edits = []
    for index in range(count):
        segment, media_time, rate = struct.unpack_from(layout, data, body + 8 + size * index)
        edits.append((int(segment), int(media_time), int(rate)))
    return edits


def _end(durations: array[int], composition: array[int] | None) -> int:
    """The end of the last presented sample, in the track's timescale."""
    if composition is None:
        return sum(durations)
    end, start = 0, 0
    for duration, offset in zip(durations, composition, strict=True):
        end = max(end, start + offset + duration)
        start += duration
    return end


def _config(data: bytes, stsd: tuple[int, int], path: Path) -> bytes:
    """What two tracks must share to be joined: the sample entry's codec configuration and
    format fields, not the bitrate boxes that differ from piece to piece."""
    body, end = stsd
    entries = list(_children(data, body + 8, end))
    if len(entries) != 1:
        raise Mp4Unsupported(f"{path}: {len(entries)} sample descriptions")
    kind, start, stop = entries[0]
    if kind == b"avc1":
        boxes = _find(data, start + 78, stop)
        if b"avcC" not in boxes:
            raise Mp4Unsupported(f"{path}: avc1 without avcC")
        return kind + data[start + 24 : start + 28] + _rebox(b"avcC", data, boxes[b"avcC"])
    if kind == b"mp4a" and data[start + 8 : start + 10] == b"\0\0":
        boxes = _find(data, start + 28, stop)
        if b"esds" not in boxes:
            raise Mp4Unsupported(f"{path}: mp4a without esds")
        return kind + data[start + 16 : start + 28] + _decoder_specific(data, *boxes[b"esds"])
    raise Mp4Unsupported(f"{path}: {kind.decode('latin-1')} samples")


def _decoder_specific(data: bytes, body: int, end: int) -> bytes:
    """The DecoderSpecificInfo of an esds (the AudioSpecificConfig), skipping the bitrates."""
    at = body + 4
    while at < end:
        tag = data[at]
        at += 1
        length = 0
        for _ in range(4):
            byte = data[at]
            at += 1
            length = length << 7 | byte & 0x7F
            if not byte & 0x80:
                break
        if tag == 0x03:
            flags = data[at + 2]
            at += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                at += 1 + data[at]
        elif tag == 0x04:
            at += 13
        elif tag == 0x05:
            return data[at : at + length]
        else:
            at += length
    return b""


# -- writing -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    source: int  # index into the output's list of source files
    offset: int
    size: int


@dataclass
class _OutTrack:
    """A track of the movie being written: its samples in order, and its tables."""

    template: Track
    samples: list[_Sample] = field(default_factory=list)
    durations: array[int] = field(default_factory=lambda: array("I"))
    composition: array[int] = field(default_factory=lambda: array("i"))
    sync: list[int] | None = field(default_factory=list)
    media_time: int = 0
    presented: int = 0  # the end of the last presented sample, in the track's timescale
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (first sample, count)


class _Sources:
    """The files samples are copied from, opened once each."""

    def __init__(self) -> None:
        self.paths: list[Path] = []
        self.index: dict[Path, int] = {}

    def add(self, path: Path) -> int:
        if path not in self.index:
            self.index[path] = len(self.paths)
            self.paths.append(path)
        return self.index[path]


def write_movie(output: Path, video: Sequence[Track], audio: Sequence[PacketSpan]) -> None:
    """Write ``output``: the whole of each ``video`` track one after another, and the audio
    packets of ``audio`` (each span's first audio track) spliced end to end.

    The video tracks must share timescale and codec configuration and each start with a
    sync sample; the spans must follow one another exactly (each one's first packet,
    shifted, where the one before ended) and share their configuration. Raises
    ``Mp4Unsupported`` otherwise, before writing anything.
    """
    sources = _Sources()
    tracks = []
    if video:
        tracks.append(_video_track(video, sources))
    if audio:
        tracks.append(_audio_track(audio, sources))
    if not tracks:
        raise Mp4Unsupported("nothing to write")
    for track in tracks:
        _split_chunks(track)
    order = _interleave(tracks)
    _write(output, tracks, order, sources)


def _video_track(pieces: Sequence[Track], sources: _Sources) -> _OutTrack:
    first = pieces[0]
    out = _OutTrack(template=first)
    shown = [_first_shown(piece) for piece in pieces]
    out.media_time = max(shown)
    start = 0  # where the piece's first sample is decoded
    for piece, piece_shown in zip(pieces, shown, strict=True):
        if piece.timescale != first.timescale or piece.config != first.config:
            raise Mp4Unsupported(f"{piece.path}: a picture encoded unlike {first.path}")
        if piece.sync is not None and (not piece.sync or piece.sync[0] != 0):
            raise Mp4Unsupported(f"{piece.path}: does not start with a sync sample")
        source = sources.add(piece.path)
        shift = out.media_time - piece_shown  # every piece presented from its first frame
        composition = piece.composition or array("i", bytes(4 * len(piece)))
        base = len(out.samples)
        out.presented = max(out.presented, start + _end(piece.durations, piece.composition) + shift)
        for offset, size in zip(piece.offsets, piece.sizes, strict=True):
            out.samples.append(_Sample(source, offset, size))
        out.durations.extend(piece.durations)
        out.composition.extend(value + shift for value in composition)
        if out.sync is not None:
            out.sync.extend(base + i for i in (piece.sync if piece.sync is not None else range(len(piece))))
        start += sum(piece.durations)
    if all(piece.sync is None for piece in pieces):
        out.sync = None
    return out


def _first_shown(piece: Track) -> int:
    """When the piece's first frame is shown, in its media's time: where its edit starts, or
    later when its first frame comes later (a file without an edit list for its B-frame
    delay), as the concat demuxer, which subtracts each file's first time, showed it."""
    first = 0
    if piece.composition is not None:
        first = min(start + offset for start, offset in zip(piece.starts, piece.composition, strict=False))
    if first < piece.media_time:
        raise Mp4Unsupported(f"{piece.path}: an edit that hides frames at its start")
    return first


def _audio_track(spans: Sequence[PacketSpan], sources: _Sources) -> _OutTrack:
    tracks: dict[Path, Track] = {}
    out: _OutTrack | None = None
    at = 0  # the presentation time the next packet must have
    for span in spans:
        track = tracks.get(span.path) or tracks.setdefault(span.path, read_track(span.path, b"soun"))
        chosen = track.packets(span.start, span.end)
        if not chosen:
            continue
        pts = track.starts[chosen[0]] - track.media_time + span.shift
        if out is None:
            out = _OutTrack(template=track, sync=None)
            if pts > 0:
                raise Mp4Unsupported(f"{span.path}: the sound starts after the movie")
            out.media_time, at = -pts, pts
        elif track.config != out.template.config or track.timescale != out.template.timescale:
            raise Mp4Unsupported(f"{span.path}: a sound encoded unlike {out.template.path}")
        if pts != at:
            raise Mp4Unsupported(f"{span.path}: its packets start at {pts}, not at {at}")
        source = sources.add(span.path)
        for index in chosen:
            out.samples.append(_Sample(source, track.offsets[index], track.sizes[index]))
            out.durations.append(track.durations[index])
            at += track.durations[index]
    if out is None:
        raise Mp4Unsupported("no audio packets in the spans")
    out.composition = array("i")
    out.presented = at + out.media_time
    return out


def _split_chunks(track: _OutTrack) -> None:
    """Chunks of about a second, never across two source files (a chunk is one copy run)."""
    step = _INTERLEAVE_SECONDS * track.template.timescale
    start, time, boundary = 0, 0, step
    for index, (sample, duration) in enumerate(zip(track.samples, track.durations, strict=True)):
        if index > start and (time >= boundary or sample.source != track.samples[index - 1].source):
            track.chunks.append((start, index - start))
            start = index
            while boundary <= time:
                boundary += step
        time += duration
    if start < len(track.samples):
        track.chunks.append((start, len(track.samples) - start))


def _interleave(tracks: Sequence[_OutTrack]) -> list[tuple[int, int]]:
    """(track, chunk) in the order they are written: by the time each chunk starts."""
    keyed = []
    for number, track in enumerate(tracks):
        starts = list(accumulate(track.durations, initial=0))
        for chunk, (first, _count) in enumerate(track.chunks):
            keyed.append((starts[first] / track.template.timescale, number, chunk))
    return [(number, chunk) for _, number, chunk in sorted(keyed)]


def _write(
    output: Path, tracks: Sequence[_OutTrack], order: Sequence[tuple[int, int]], sources: _Sources
) -> None:
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
    data_size = sum(s.size for track in tracks for s in track.samples)
    # Chunk offsets depend on moov's size, which depends on whether offsets need 64 bits.
    wide = len(ftyp) + 16 + data_size + 64 * sum(len(t.chunks) + len(t.samples) for t in tracks) > _LIMIT_32
    head = 16 if data_size + 8 > _LIMIT_32 else 8
    placeholder = [[0] * len(track.chunks) for track in tracks]
    moov_size = len(_moov(tracks, placeholder, wide))
    offsets = [[0] * len(track.chunks) for track in tracks]
    position = len(ftyp) + moov_size + head
    for number, chunk in order:
        offsets[number][chunk] = position
        first, count = tracks[number].chunks[chunk]
        position += sum(s.size for s in tracks[number].samples[first : first + count])
    moov = _moov(tracks, offsets, wide)
    if len(moov) != moov_size:
        raise AssertionError("moov changed size between layout and writing")
    mdat = (
        struct.pack(">I4sQ", 1, b"mdat", data_size + 16)
        if head == 16
        else struct.pack(">I4s", data_size + 8, b"mdat")
    )
    with output.open("wb") as out:
        out.write(ftyp + moov + mdat)
        handles = [path.open("rb") for path in sources.paths]
        try:
            for number, chunk in order:
                first, count = tracks[number].chunks[chunk]
                for source, offset, size in _runs(tracks[number].samples[first : first + count]):
                    _copy(handles[source], out, offset, size)
        finally:
            for handle in handles:
                handle.close()


def _runs(samples: Sequence[_Sample]) -> Iterator[tuple[int, int, int]]:
    """Samples lying back to back in one source, as one (source, offset, size) run each."""
    run: list[int] | None = None
    for sample in samples:
        if run is not None and run[0] == sample.source and run[1] + run[2] == sample.offset:
            run[2] += sample.size
            continue
        if run is not None:
            yield run[0], run[1], run[2]
        run = [sample.source, sample.offset, sample.size]
    if run is not None:
        yield run[0], run[1], run[2]


# Runs smaller than this are read and written through the file's buffer: for a few kilobytes
# a kernel copy costs more in system calls than it saves.
_KERNEL_COPY_BYTES = 1 << 20


def _copy(source: BinaryIO, out: BinaryIO, offset: int, size: int) -> None:
    """Copy ``size`` bytes at ``offset`` of ``source`` to the end of ``out``."""
    if size >= _KERNEL_COPY_BYTES:
        out.flush()
        with contextlib.suppress(OSError):  # not on this file system: copied below instead
            while size > 0:
                done = os.copy_file_range(source.fileno(), out.fileno(), size, offset)
                if done <= 0:
                    break
                offset += done
                size -= done
    while size > 0:
        data = os.pread(source.fileno(), min(size, _KERNEL_COPY_BYTES), offset)
        if not data:
            raise Mp4Unsupported(f"{source.name}: shorter than its sample table")
        out.write(data)
        offset += len(data)
        size -= len(data)


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


def _movie_units(value: int, timescale: int) -> int:
    return (value * _MOVIE_TIMESCALE + timescale // 2) // timescale


def _moov(tracks: Sequence[_OutTrack], offsets: Sequence[Sequence[int]], wide: bool) -> bytes:
    lengths = [_movie_units(t.presented - t.media_time, t.template.timescale) for t in tracks]
    mvhd = _full(
        b"mvhd", 0, 0,
        struct.pack(">IIII", 0, 0, _MOVIE_TIMESCALE, max(lengths)),
        struct.pack(">IH10x", 0x10000, 0x100), _MATRIX, bytes(24),
        struct.pack(">I", len(tracks) + 1),
    )  # fmt: skip
    traks = [
        _trak(number + 1, track, length, chunk_offsets, wide)
        for number, (track, length, chunk_offsets) in enumerate(zip(tracks, lengths, offsets, strict=True))
    ]
    return _box(b"moov", mvhd, *traks)


def _trak(number: int, track: _OutTrack, length: int, offsets: Sequence[int], wide: bool) -> bytes:
    template = track.template
    sound = template.handler == b"soun"
    tkhd = _full(
        b"tkhd", 0, 3,
        struct.pack(">IIII", 0, 0, number, 0), struct.pack(">I8x", length),
        struct.pack(">HHH2x", 0, 1 if sound else 0, 0x100 if sound else 0), _MATRIX,
        struct.pack(">II", *template.tkhd_size),
    )  # fmt: skip
    elst = _full(b"elst", 0, 0, struct.pack(">IIiI", 1, length, track.media_time, 0x10000))
    mdhd = _full(
        b"mdhd", 0, 0,
        struct.pack(">IIII", 0, 0, template.timescale, sum(track.durations)),
        struct.pack(">HH", template.language, 0),
    )  # fmt: skip
    dinf = _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1), _full(b"url ", 0, 1)))
    minf = _box(b"minf", template.media_header, dinf, _stbl(track, offsets, wide))
    mdia = _box(b"mdia", mdhd, template.hdlr, minf)
    return _box(b"trak", tkhd, _box(b"edts", elst), mdia)


def _stbl(track: _OutTrack, offsets: Sequence[int], wide: bool) -> bytes:
    count = len(track.samples)
    boxes = [track.template.stsd, _pairs(b"stts", 0, track.durations)]
    if track.sync is not None:
        boxes.append(_full(b"stss", 0, 0, _be("I", [len(track.sync), *(i + 1 for i in track.sync)])))
    if track.composition and any(track.composition):
        version = 1 if min(track.composition) < 0 else 0
        boxes.append(_pairs(b"ctts", version, track.composition))
    boxes.append(_stsc(track.chunks))
    sizes = [s.size for s in track.samples]
    if sizes and all(size == sizes[0] for size in sizes):
        boxes.append(_full(b"stsz", 0, 0, struct.pack(">II", sizes[0], count)))
    else:
        boxes.append(_full(b"stsz", 0, 0, struct.pack(">II", 0, count), _be("I", sizes)))
    if wide:
        boxes.append(_full(b"co64", 0, 0, struct.pack(">I", len(offsets)), _be("Q", offsets)))
    else:
        boxes.append(_full(b"stco", 0, 0, struct.pack(">I", len(offsets)), _be("I", offsets)))
    if track.template.roll:
        # Every AAC packet needs the one before it to decode (what ffmpeg's muxer declares).
        boxes.append(_full(b"sgpd", 1, 0, b"roll", struct.pack(">IIh", 2, 1, -1)))
        boxes.append(_full(b"sbgp", 0, 0, b"roll", struct.pack(">III", 1, count, 1)))
    return _box(b"stbl", *boxes)


def _be(code: str, values: Sequence[int]) -> bytes:
    packed = array(code, values)
    if sys.byteorder == "little":
        packed.byteswap()
    return packed.tobytes()


def _pairs(kind: bytes, version: int, values: Sequence[int]) -> bytes:
    """stts or ctts: runs of equal values as (count, value)."""
    runs: list[int] = []
    for value in values:
        if runs and runs[-1] == value:
            runs[-2] += 1
        else:
            runs += [1, value]
    return _full(kind, version, 0, struct.pack(">I", len(runs) // 2), _be("i" if version else "I", runs))


def _stsc(chunks: Sequence[tuple[int, int]]) -> bytes:
    entries: list[int] = []
    for number, (_first, count) in enumerate(chunks, start=1):
        if not entries or entries[-2] != count:
            entries += [number, count, 1]
    return _full(b"stsc", 0, 0, struct.pack(">I", len(entries) // 3), _be("I", entries))

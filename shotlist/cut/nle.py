"""The cut's timeline in the formats editors open: the one home of OpenTimelineIO's adapters.

``otio`` and ``otioz`` come with OpenTimelineIO; EDL (CMX 3600), FCP 7 XML and
FCP X XML come from its maintained adapter packages, the ``nle`` extra
(``pip install 'shotlist[nle]'``). Each format is written by its adapter from
the ``.otio`` beside the cut, then given what the adapter does not write from
the timeline alone:

* EDL: the adapter writes every transition as a dissolve; wipes get their SMPTE
  wipe code (``W001`` horizontal, ``W002`` vertical) back from the transition's
  ``cmx_3600`` metadata, and events whose shot has sound become ``B`` (picture
  and the first audio channel), so the sound is in the EDL too.
* FCP X XML: the adapter names a format only from ffprobe's idea of a clip; the
  cut's frame size goes on every ``<format>`` as ``width``/``height``.

The ``.otio`` refers to the media folder relatively (it travels with ``out/``);
an ``.otio`` written elsewhere is re-pointed relative to its own folder. EDL and
XML formats get absolute file URLs (what editors resolve), and ``otioz`` packs
the media into the bundle.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import opentimelineio as otio

from shotlist import files
from shotlist.errors import ConfigError, CutError

# Format name -> (file suffix, OTIO adapter).
FORMATS: Mapping[str, tuple[str, str]] = {
    "otio": (".otio", "otio_json"),
    "otioz": (".otioz", "otioz"),
    "edl": (".edl", "cmx_3600"),
    "fcp7xml": (".xml", "fcp_xml"),
    "fcpxml": (".fcpxml", "fcpx_xml"),
}
NLE_EXTRA = "pip install 'shotlist[nle]'"
_EVENT = re.compile(r"^(?P<edit>\d{3})  (?P<reel>.{8}) (?P<kind>V    ) (?P<type>C   |D \d{3})")


def export_timeline(timeline_file: Path, fmt: str, dest: Path | None = None) -> Path:
    """Write the timeline at ``timeline_file`` as ``fmt`` to ``dest`` (default: beside it,
    with the format's suffix); returns the file written."""
    if fmt not in FORMATS:
        raise CutError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    suffix, adapter = FORMATS[fmt]
    if not timeline_file.is_file():
        raise CutError(f"no timeline at {timeline_file}; render or stitch the cut first")
    _require_adapter(adapter, fmt)
    timeline = otio.adapters.read_from_file(str(timeline_file))
    dest = dest or timeline_file.with_suffix(suffix)
    base = timeline_file.resolve().parent
    if fmt == "otio":
        _repoint(timeline, lambda path: _relative_url(path, dest.resolve().parent), base)
        files.write_text(dest, otio.adapters.write_to_string(timeline, adapter), durable=False)
    elif fmt == "otioz":
        _repoint(timeline, lambda path: path.as_uri(), base)
        _write_bundle(timeline, dest)
    else:
        _repoint(timeline, lambda path: path.as_uri(), base)
        files.write_text(dest, _converted(timeline, fmt), durable=False)
    return dest


def _converted(timeline: otio.schema.Timeline, fmt: str) -> str:
    """The adapter's text; what it refuses becomes one line (the adapters raise a mix of
    OTIO's own errors and plain ValueErrors)."""
    rate = timeline.duration().rate
    if fmt == "edl" and not otio.opentime.RationalTime.is_valid_timecode_rate(rate):
        raise CutError(
            f"an EDL counts in SMPTE timecode, which has no {rate:g} fps;"
            " use a standard cut.fps (24, 25, 30, 50, 60) or export fcp7xml"
        )
    try:
        return _WRITERS[fmt](timeline)
    except (otio.exceptions.OTIOError, ValueError) as exc:
        raise CutError(f"cannot write the timeline as {fmt}: {exc}") from exc


def _require_adapter(adapter: str, fmt: str) -> None:
    if adapter not in otio.adapters.available_adapter_names():
        raise ConfigError(f"exporting {fmt} needs OpenTimelineIO's editor adapters: {NLE_EXTRA}")


# -- media references ------------------------------------------------------------------


def _repoint(timeline: otio.schema.Timeline, url: Callable[[Path], str], base: Path) -> None:
    """Rewrite every media reference's URL: ``url`` of the file it names (relative ones are
    relative to ``base``, the timeline's folder)."""
    for clip in timeline.find_clips():
        reference = clip.media_reference
        if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
            reference.target_url = url(_file_of(reference.target_url, base))


def _file_of(target_url: str, base: Path) -> Path:
    parsed = urlparse(target_url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return (base / unquote(target_url)).resolve()


def _relative_url(path: Path, base: Path) -> str:
    import os

    return quote(Path(os.path.relpath(path, base)).as_posix())


def _write_bundle(timeline: otio.schema.Timeline, dest: Path) -> None:
    """The otioz adapter packs every referenced file; it writes in place, so build beside."""
    building = files.staged(dest)
    try:
        otio.adapters.write_to_file(timeline, str(building), adapter_name="otioz")
        files.publish(building, dest)
    finally:
        building.unlink(missing_ok=True)


# -- EDL -----------------------------------------------------------------------------------


def _edl(timeline: otio.schema.Timeline) -> str:
    # The adapter edits the track it writes (it trims clips under transitions): give it a copy.
    timeline = copy.deepcopy(timeline)
    picture = timeline.video_tracks()[0]
    if picture and isinstance(picture[0], otio.schema.Transition):
        # A fade in is an event from black (BL) the EDL readers of OTIO cannot read back:
        # EDLs start on the first shot (the fade is in the .otio and the XML formats).
        del picture[0]
    text = str(otio.adapters.write_to_string(timeline, "cmx_3600"))
    codes, sounding = _edl_facts(picture, timeline)
    return "\n".join(_edl_line(line, codes, sounding) for line in _events(text))


def _edl_facts(picture: otio.schema.Track, timeline: otio.schema.Timeline) -> tuple[dict[str, str], set[str]]:
    """The EDL code of the transition into each clip, and the clips whose sound is in the cut."""
    codes: dict[str, str] = {}
    items = list(picture)
    for index, item in enumerate(items[:-1]):
        following = items[index + 1]
        if isinstance(item, otio.schema.Transition) and isinstance(following, otio.schema.Clip):
            codes[following.name] = str(item.metadata.get("cmx_3600", {}).get("transition", "D"))
    sound = [t for t in timeline.audio_tracks() if t.name == "Sound"]
    sounding = {clip.name for clip in sound[0].find_clips()} if sound else set()
    return codes, sounding


def _events(text: str) -> list[tuple[str, str | None]]:
    """Each line of the EDL with the name of the shot its event brings in (or ends)."""
    lines = text.splitlines()
    names: dict[str, str] = {}
    edit = None
    for line in lines:
        match = _EVENT.match(line)
        if match:
            edit = match.group("edit")
        elif edit and (name := _comment_name(line)) and (line.startswith("* TO") or edit not in names):
            # The clip an event brings in (TO), else the one it ends on (a fade out).
            names[edit] = name
    return [(line, names.get(m.group("edit")) if (m := _EVENT.match(line)) else None) for line in lines]


def _comment_name(line: str) -> str | None:
    for prefix in ("* TO CLIP NAME:", "* FROM CLIP NAME:"):
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _edl_line(event: tuple[str, str | None], codes: Mapping[str, str], sounding: set[str]) -> str:
    line, shot = event
    match = _EVENT.match(line)
    if match is None or shot is None:
        return line
    kind = "B    " if shot in sounding else match.group("kind")
    kind_at = match.start("kind")
    line = line[:kind_at] + kind + line[kind_at + len(kind) :]
    code = codes.get(shot, "D")
    if match.group("type").startswith("D") and code != "D" and match.group("reel").strip() != "BL":
        frames = match.group("type")[2:]
        # Same width as "D nnn   ": the columns after it stay where they were.
        line = line[: match.start("type")] + f"{code} {frames}" + line[match.end("type") + 3 :]
    return line


# -- XML -----------------------------------------------------------------------------------


def _fcp7(timeline: otio.schema.Timeline) -> str:
    return str(otio.adapters.write_to_string(timeline, "fcp_xml"))


def _fcpx(timeline: otio.schema.Timeline) -> str:
    text = str(otio.adapters.write_to_string(timeline, "fcpx_xml"))
    size = timeline.metadata.get("shotlist", {}).get("size")
    if not size:
        return text
    root = ElementTree.fromstring(text)
    for element in root.iter("format"):
        element.set("width", str(size[0]))
        element.set("height", str(size[1]))
        if not element.get("name"):
            del element.attrib["name"]  # an empty name is no format; width and height say it
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + body + "\n"


_WRITERS: Mapping[str, Callable[[otio.schema.Timeline], str]] = {
    "edl": _edl,
    "fcp7xml": _fcp7,
    "fcpxml": _fcpx,
}

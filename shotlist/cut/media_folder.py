"""The media folder beside the cut: the clips its timeline plays, named for people.

``out/<name>.media/`` holds one file per clip the cut uses (``03-climb.mp4``:
the shot's place in the cut and its id, and ``-take2`` once a shot records a
take) and the music bed. The timeline refers to them relative to itself, so
``out/`` can be moved, zipped or handed over and still open in an editor.

Files are hard links to the cache's clips where the file system allows (no
space used, nothing copied), copies otherwise (another device, or a file
system without links); either way each lands atomically. Files left from an
earlier cut that this one no longer uses are removed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from shotlist import files
from shotlist.cut.export import TimelineMedia
from shotlist.cut.timeline import CutPlan
from shotlist.errors import CutError
from shotlist.media.probe import probe

MEDIA_SUFFIX = ".media"


@dataclass(frozen=True)
class MediaFolder:
    """The published folder: a file per shot id, and the music bed's file."""

    folder: Path
    clips: Mapping[str, Path]
    music: Path | None = None
    music_seconds: float | None = None

    def timeline_media(self, timeline: Path) -> TimelineMedia:
        """URLs of the files relative to the folder of ``timeline``."""
        base = timeline.parent
        return TimelineMedia(
            clips={shot_id: relative_url(path, base) for shot_id, path in self.clips.items()},
            music=relative_url(self.music, base) if self.music else None,
            music_seconds=self.music_seconds,
        )


def media_folder_for(output: Path) -> Path:
    """``out/film.mp4`` -> ``out/film.media``."""
    return output.with_name(output.stem + MEDIA_SUFFIX)


def clip_file_name(position: int, shot_id: str, take: object = None) -> str:
    """``03-climb.mp4``; ``03-storm-take2.mp4`` for a shot that records its take."""
    stem = f"{position:02d}-{shot_id}" + (f"-take{take}" if take is not None else "")
    return stem + ".mp4"


def relative_url(path: Path, base: Path) -> str:
    """``path`` as a URL relative to the folder ``base`` (forward slashes, escaped)."""
    return quote(Path(os.path.relpath(path, base)).as_posix())


def publish_media(plan: CutPlan, music: Path | None, output: Path) -> MediaFolder:
    """Fill the media folder of the cut at ``output`` with the clips of ``plan`` and ``music``."""
    folder = media_folder_for(output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clips = {}
        for position, timing in enumerate(plan.shots, start=1):
            shot = timing.shot
            target = folder / clip_file_name(position, shot.id, shot.metadata.get("take"))
            _place(Path(shot.clip), target, shot.clip_sha256)
            clips[shot.id] = target
        music_file, seconds = _publish_music(music, folder) if music is not None else (None, None)
        _remove_others(folder, [*clips.values(), *([music_file] if music_file else [])])
    except OSError as exc:
        raise CutError(f"cannot write the media folder {folder}: {exc.strerror or exc}") from exc
    return MediaFolder(folder, clips, music_file, seconds)


def _publish_music(music: Path, folder: Path) -> tuple[Path, float | None]:
    target = folder / f"music-{music.name}"
    _place(music, target, None)
    return target, probe(music).duration


def _place(source: Path, target: Path, sha256: str | None) -> None:
    """Put ``source``'s bytes at ``target``: kept when already there, else linked or copied."""
    if _already_there(source, target, sha256):
        return
    files.link_or_copy(source, target)


def _already_there(source: Path, target: Path, sha256: str | None) -> bool:
    if not target.exists():
        return False
    with suppress(OSError):
        if os.path.samefile(source, target):
            return True
    if target.stat().st_size != source.stat().st_size:
        return False
    return files.sha256_file(target) == (sha256 or files.sha256_file(source))


def _remove_others(folder: Path, keep: Sequence[Path]) -> None:
    """Files of an earlier cut that this one does not use would mislead whoever opens the folder."""
    kept = {path.name for path in keep}
    for path in folder.iterdir():
        # Dot files are other stitches' files on their way in.
        if path.name not in kept and not path.name.startswith(".") and path.is_file():
            path.unlink()

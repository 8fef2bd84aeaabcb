"""media.ffmpeg: running the bundled ffmpeg, here with arguments longer than Linux allows one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from shotlist.media.ffmpeg import run_ffmpeg, run_ffmpeg_async, run_ffmpeg_capture
from shotlist.media.probe import probe

# Two filters joined by a 70 KB label: 140 KB, past Linux's 128 KiB limit on a single argument
LABEL = "x" * 70_000
LONG_GRAPH = f"[0:v]null[{LABEL}];[{LABEL}]null[v]"


def spill_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("shotlist-ffmpeg-*"))


def args(output: Path) -> list[str]:
    return ["-f", "lavfi", "-i", "color=c=red:s=64x64:r=12:d=0.5", "-filter_complex", LONG_GRAPH,
            "-map", "[v]", "-c:v", "libx264", str(output)]  # fmt: skip


def test_a_filter_graph_longer_than_linux_allows_one_argument_runs(tmp_path: Path) -> None:
    assert len(LONG_GRAPH) > 128 * 1024
    before = spill_files()
    run_ffmpeg(args(tmp_path / "a.mp4"), step="a long graph")
    assert probe(tmp_path / "a.mp4").frames == 6
    run_ffmpeg_capture(args(tmp_path / "b.mp4"), step="a long graph")
    assert probe(tmp_path / "b.mp4").frames == 6
    assert spill_files() == before  # the graph's file is gone again


async def test_a_long_filter_graph_runs_awaited_too(tmp_path: Path) -> None:
    before = spill_files()
    await run_ffmpeg_async(args(tmp_path / "c.mp4"), step="a long graph")
    assert probe(tmp_path / "c.mp4").frames == 6
    assert spill_files() == before


def test_a_short_graph_is_passed_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shotlist.media.ffmpeg as ffmpeg_module

    seen: list[list[str]] = []
    real = ffmpeg_module.subprocess.run
    monkeypatch.setattr(
        ffmpeg_module.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or real(cmd, **kw)
    )
    run_ffmpeg(["-f", "lavfi", "-i", "color=d=0.1", "-vf", "null", "-f", "null", "-"], step="short")
    assert seen[-1][-4:] == ["-vf", "null", "-f", "null", "-"][-4:]
    assert "-vf" in seen[-1]

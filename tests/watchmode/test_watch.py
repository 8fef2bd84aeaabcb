"""Watch mode: real watch sessions on tiny storyboards, edited by another process.

Every session here runs ``shotlist.watchmode.session.watch`` for real: watchfiles on a temporary
folder, the local engine (or a real Lumenfall test server) and ffmpeg. Storyboards are
320x180 at 12 fps with 1 s shots, so a cycle takes about half a second. Edits are made
by a separate Python process in each of the three ways editors save.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
from lumenfall_server import LumenfallServer

from shotlist import pipeline
from shotlist.cli.app import serve_value_apart
from shotlist.engine import Timing
from shotlist.errors import ConfigError
from shotlist.events import Event, ShotDownloaded, ShotSubmitted, StitchStarted
from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import probe
from shotlist.watchmode.server import PreviewServer, PreviewState, byte_range, webvtt
from shotlist.watchmode.session import (
    BudgetRefused,
    CutReady,
    Cycle,
    CycleFinished,
    CycleStarted,
    ThumbnailReady,
    WatchOptions,
    preview_port,
    written_paths,
)

# Whole renders, stitches, servers or subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

TINY = """\
    version: 1
    title: Tiny
    defaults: {duration: 1, size: 320x180, seed: SEED}
    shots:
      - id: a
        prompt: A red kite over the dunes
      - id: b
        prompt: A blue boat in the harbour
      - id: c
        prompt: A green lamp on a desk
    cut: {size: 320x180, fps: 12, loudness: null}
    """

EDITOR = r"""
import os, sys
style, path = sys.argv[1], sys.argv[2]
text = sys.stdin.buffer.read()
if style == "in_place":          # overwrite the bytes, then cut the file to length
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, text)
    os.ftruncate(fd, len(text))
    os.close(fd)
elif style == "truncate":        # open for writing (truncates), then write
    with open(path, "wb") as handle:
        handle.write(text)
elif style == "rename":          # write a temporary file beside it, rename it over
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp~")
    with open(tmp, "wb") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
else:
    raise SystemExit("unknown style " + style)
"""
SAVE_STYLES = ("in_place", "truncate", "rename")
CYCLE_TIMEOUT = 30.0


def save(path: Path, text: str, style: str = "rename") -> None:
    """Save ``text`` to ``path`` from another process, the way an editor would. The
    tests that are not about save styles use the atomic one, so no cycle can catch a
    file half-written (a real editor's truncate-then-write can be caught so: the cycle
    reports it invalid, and the next one, a moment later, builds)."""
    subprocess.run(
        [sys.executable, "-c", EDITOR, style, str(path)], input=text.encode(), check=True, timeout=30
    )


def storyboard(folder: Path, seed: int, text: str = TINY, name: str = "film.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).replace("SEED", str(seed)), encoding="utf-8")
    return path


class Session:
    """A watch session running in the background; cycles arrive on a queue."""

    def __init__(self, file: Path, options: WatchOptions, also: Any = None, **kwargs: Any) -> None:
        from shotlist.watchmode.session import watch

        self.stop = asyncio.Event()
        self.cycles: asyncio.Queue[Cycle] = asyncio.Queue()
        self.events: list[tuple[int, Event]] = []
        self._current = 0
        self._also = also
        self._iterator = watch(file, options, hook=self._hook, stop_event=self.stop, **kwargs)
        self.task: asyncio.Task[None] | None = None

    def _hook(self, event: Event) -> None:
        if isinstance(event, CycleStarted):
            self._current = event.number
        self.events.append((self._current, event))
        if self._also is not None:
            self._also(event)

    async def _run(self) -> None:
        async for cycle in self._iterator:
            await self.cycles.put(cycle)

    async def next_cycle(self, within: float = CYCLE_TIMEOUT) -> Cycle:
        assert self.task is not None
        getter = asyncio.ensure_future(self.cycles.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            if self.task in done:
                self.task.result()
            raise AssertionError(f"no cycle within {within} s")
        return getter.result()

    def of(self, number: int, kind: type[Event]) -> list[Any]:
        return [e for n, e in self.events if n == number and isinstance(e, kind)]

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


@asynccontextmanager
async def watching(file: Path, options: WatchOptions | None = None, **kwargs: Any) -> AsyncIterator[Session]:
    session = Session(file, options or WatchOptions(), **kwargs)
    session.task = asyncio.create_task(session._run())
    try:
        yield session
    finally:
        await session.close()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the module: sessions on the same storyboard start from it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def env(shared_cache: Path) -> dict[str, str]:
    return {**os.environ, "SHOTLIST_CACHE_DIR": str(shared_cache)}


def read(path: str | Path | None) -> bytes:
    assert path is not None
    return Path(path).read_bytes()


def mtime(path: Path | None) -> int:
    assert path is not None
    return path.stat().st_mtime_ns


# -- the watch loop ------------------------------------------------------------------------


async def test_the_first_cycle_renders_every_shot_and_builds_the_cut(tmp_path: Path) -> None:
    film = storyboard(tmp_path, seed=1)
    async with watching(film) as session:
        cycle = await session.next_cycle()
    assert cycle.outcome == "built"
    assert cycle.rendered == ("a", "b", "c")
    assert [s.id for s in cycle.shots] == ["a", "b", "c"]
    assert cycle.cut == tmp_path / "out" / "film.mp4"
    assert cycle.cut.stat().st_size > 0
    assert (tmp_path / "film.lock").exists()


@pytest.mark.parametrize("style", SAVE_STYLES)
async def test_a_save_rerenders_exactly_the_edited_shot(
    tmp_path: Path, env: dict[str, str], style: str
) -> None:
    film = storyboard(tmp_path, seed=2)
    async with watching(film, env=env) as session:
        first = await session.next_cycle()
        assert first.ok
        before = mtime(first.cut)
        edited = film.read_text().replace("A blue boat", f"A blue boat ({style})")
        save(film, edited, style)
        cycle = await session.next_cycle()

    assert cycle.outcome == "built"
    assert cycle.changes == (film.resolve(),)
    assert cycle.rendered == ("b",)
    assert [e.shot_id for e in session.of(cycle.number, ShotSubmitted)] == ["b"]
    assert [e.shot_id for e in session.of(cycle.number, ShotDownloaded)] == ["b"]
    assert [(s.id, s.status) for s in cycle.shots] == [("a", "cached"), ("b", "changed"), ("c", "cached")]
    assert cycle.shots[1].prompt == f"A blue boat ({style}) in the harbour"
    assert mtime(cycle.cut) != before


async def test_a_save_made_during_a_cycle_starts_the_next_one(tmp_path: Path, env: dict[str, str]) -> None:
    film = storyboard(tmp_path, seed=2)
    text = film.read_text()
    async with watching(film, env=env) as session:
        await session.next_cycle()
        save(film, text.replace("A red kite", "A red kite, first"))
        await wait_until(lambda: session.of(2, ShotSubmitted), 20, "the render of the first save")
        save(film, text.replace("A red kite", "A red kite, second"))
        during = await session.next_cycle()
        after = await session.next_cycle()
    assert (during.number, during.rendered, during.shots[0].prompt) == (
        2,
        ("a",),
        "A red kite, first over the dunes",
    )
    assert (after.number, after.rendered, after.shots[0].prompt) == (
        3,
        ("a",),
        "A red kite, second over the dunes",
    )
    assert after.changes == (film.resolve(),)


async def test_a_save_that_changes_nothing_renders_and_stitches_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    film = storyboard(tmp_path, seed=2)
    async with watching(film, env=env) as session:
        first = await session.next_cycle()
        save(film, film.read_text() + "# a comment\n", "rename")
        cycle = await session.next_cycle()
    assert cycle.outcome == "unchanged"
    assert cycle.rendered == ()
    assert session.of(cycle.number, StitchStarted) == []
    assert cycle.cut == first.cut


async def test_an_invalid_edit_keeps_the_last_good_cut_until_a_fix(
    tmp_path: Path, env: dict[str, str]
) -> None:
    film = storyboard(tmp_path, seed=2)
    good = film.read_text()
    async with watching(film, env=env) as session:
        first = await session.next_cycle()
        cut_bytes, cut_time = first.cut.read_bytes(), mtime(first.cut)  # type: ignore[union-attr]

        save(film, good.replace("    prompt: A blue boat", "    promt: A blue boat"))
        broken = await session.next_cycle()
        assert broken.outcome == "invalid"
        assert broken.errors == (
            f'{film}:7:5: shots[1]: required field "prompt" is missing',
            f'{film}:8:5: shots[1].promt: unknown field; did you mean "prompt"?',
        )
        assert broken.cut == first.cut
        assert broken.cut.read_bytes() == cut_bytes  # type: ignore[union-attr]
        assert mtime(broken.cut) == cut_time
        assert session.of(broken.number, ShotSubmitted) == []

        save(film, good.replace("A blue boat", "A blue boat, fixed"), "rename")
        fixed = await session.next_cycle()
    assert fixed.outcome == "built"
    assert fixed.rendered == ("b",)
    assert mtime(fixed.cut) != cut_time


async def test_includes_and_referenced_media_are_watched(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "refs").mkdir()
    still = tmp_path / "refs" / "still.png"
    make_image(still, "red")
    (tmp_path / "parts").mkdir()
    part = tmp_path / "parts" / "more.yaml"
    part.write_text("shots:\n  - id: inc\n    prompt: An included shot\n")
    film = storyboard(
        tmp_path,
        seed=3,
        text="""\
        version: 1
        defaults: {duration: 1, size: 320x180, seed: SEED}
        include: [parts/more.yaml]
        references:
          still: refs/still.png
        shots:
          - id: pic
            prompt: A picture of @still
          - id: plain
            prompt: Nothing referenced
        cut: {size: 320x180, fps: 12, loudness: null}
        """,
    )
    async with watching(film, env=env) as session:
        first = await session.next_cycle()
        assert [s.id for s in first.shots] == ["inc", "pic", "plain"]

        save(part, "shots:\n  - id: inc\n    prompt: An included shot, edited\n", "in_place")
        included = await session.next_cycle()
        assert included.rendered == ("inc",)

        make_image(still.with_name("next.png"), "blue")
        os.replace(still.with_name("next.png"), still)
        referenced = await session.next_cycle()
        assert referenced.rendered == ("pic",)

        # An include added before its file exists is invalid, and watched: creating it is seen.
        save(film, film.read_text().replace("[parts/more.yaml]", "[parts/more.yaml, parts/new.yaml]"))
        missing = await session.next_cycle()
        assert missing.outcome == "invalid"
        assert missing.errors == (f'{film}:3:28: include[1]: "parts/new.yaml" not found',)
        save(tmp_path / "parts" / "new.yaml", "shots:\n  - id: late\n    prompt: A late arrival\n")
        created = await session.next_cycle()
    assert created.outcome == "built"
    assert created.rendered == ("late",)


def make_image(path: Path, colour: str) -> None:
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"color=c={colour}:s=64x36:d=1", "-frames:v", "1", str(path)],
        step="making a test image",
    )


async def test_written_paths_come_from_the_raw_files_even_when_invalid(tmp_path: Path) -> None:
    film = tmp_path / "film.yaml"
    film.write_text(
        "version: 1\ninclude: [parts/a.yaml]\nreferences: {x: refs/x.png, y: {video: refs/y.mp4}}\n"
        "shots:\n  - {id: s, prompt: p, images: [refs/z.png, '@x', 'https://e.x/u.png']}\n"
        "soundtrack: {music: music/theme.mp3}\nbogus: [\n"
    )
    assert written_paths(film) == {film}  # not YAML at all: the file itself
    film.write_text(film.read_text().replace("bogus: [\n", "bogus: 1\n"))
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.yaml").write_text("include: [b.yaml]\n")
    assert written_paths(film) == {
        film,
        tmp_path / "parts" / "a.yaml",
        tmp_path / "parts" / "b.yaml",
        tmp_path / "refs" / "x.png",
        tmp_path / "refs" / "y.mp4",
        tmp_path / "refs" / "z.png",
        tmp_path / "music" / "theme.mp3",
    }


# -- stopping --------------------------------------------------------------------------------


LONG = """\
    version: 1
    defaults: {duration: 30, size: 640x360, seed: SEED}
    shots:
      - id: long
        prompt: A very long take of the sea
    cut: {size: 640x360, fps: 24, loudness: null}
    """


def ffmpeg_children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` and whose program is ffmpeg (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"ffmpeg" in Path(cmdline.decode(errors="replace")).name.encode():
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def wait_until(condition: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_stopping_mid_render_leaves_no_ffmpeg_running(tmp_path: Path) -> None:
    film = storyboard(tmp_path, seed=4, text=LONG)
    session = Session(film, WatchOptions())
    session.task = asyncio.create_task(session._run())
    children = await wait_until(lambda: ffmpeg_children(os.getpid()), 20, "ffmpeg to start")
    started = time.monotonic()
    await session.close()
    assert time.monotonic() - started < 5
    assert session.cycles.empty()  # the cycle was cancelled, not finished
    assert ffmpeg_children(os.getpid()) == []
    assert not any(alive(pid) for pid in children)


async def test_stopping_mid_stitch_waits_for_the_stitch(tmp_path: Path, env: dict[str, str]) -> None:
    film = storyboard(tmp_path, seed=2)
    session = Session(film, WatchOptions(), env=env)
    session._also = lambda event: isinstance(event, StitchStarted) and session.stop.set()
    session.task = asyncio.create_task(session._run())
    await asyncio.wait_for(session.task, 30)
    assert session.of(1, StitchStarted)
    assert session.cycles.empty()  # cancelled: no cycle reported
    assert ffmpeg_children(os.getpid()) == []
    # The stitch ran to its end in its thread, so the cut is whole, never half-written.
    assert probe(tmp_path / "out" / "film.mp4").duration == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_the_command_cleanly(tmp_path: Path, signum: int) -> None:
    film = storyboard(tmp_path, seed=5, text=LONG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotlist", "watch", film.name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 30
        children: list[int] = []
        while not children and time.monotonic() < deadline and proc.poll() is None:
            children = ffmpeg_children(proc.pid)
            time.sleep(0.02)
        assert children, "the render never started"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert stderr.decode().splitlines()[0] == "watching film.yaml; Ctrl-C stops"
    assert stderr.decode().splitlines()[-1] == "stopped"
    assert not any(alive(pid) for pid in children)


# -- money ----------------------------------------------------------------------------------

PAID = """\
    version: 1
    defaults: {provider: lumenfall, duration: 4, resolution: 480p, seed: SEED}
    shots:
      - id: a
        prompt: A red kite over the dunes
      - id: b
        prompt: A blue boat in the harbour
    cut: {size: 320x180, fps: 12, loudness: null}
    """
KEY = "sk-lf-watch-test-5b1d"


@pytest.fixture
def lumenfall() -> Iterator[LumenfallServer]:
    with LumenfallServer(api_key=KEY, polls_to_complete=1, clip_seconds_cap=1.0) as server:
        yield server


def paid_env(server: LumenfallServer) -> dict[str, str]:
    return {**os.environ, "LUMENFALL_API_KEY": KEY, "LUMENFALL_BASE_URL": server.base_url}


def shot_cost(film: Path, env: dict[str, str]) -> float:
    return pipeline.plan(film, env=env).shots[0].estimated_cost_usd


async def test_the_budget_refuses_a_render_that_would_exceed_it(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = storyboard(tmp_path, seed=6, text=PAID)
    env = paid_env(lumenfall)
    cost = shot_cost(film, env)
    budget = round(2.5 * cost, 2)  # the first two shots, not a third
    options = WatchOptions(budget=budget)
    async with watching(film, options, env=env, timing=Timing.instant()) as session:
        first = await session.next_cycle()
        assert first.rendered == ("a", "b")
        assert first.spent_usd == pytest.approx(2 * cost)
        assert lumenfall.jobs_created == 2

        original = film.read_text()
        save(film, original.replace("A blue boat", "A red boat"))
        refused = await session.next_cycle()
        assert refused.outcome == "refused"
        remaining = budget - 2 * cost
        assert refused.errors == (
            f"rendering the changed shots would cost an estimated ${cost:.2f}, but only "
            f"${remaining:.2f} of the session's ${budget:.2f} budget is left; nothing was submitted "
            "(the last good cut stays; edit the storyboard or restart with a higher --budget)",
        )
        [event] = session.of(refused.number, BudgetRefused)
        assert event.needed_usd == pytest.approx(cost)
        assert lumenfall.jobs_created == 2
        assert refused.cut == first.cut
        assert session.of(refused.number, ShotSubmitted) == []

        # Going back to what is rendered costs nothing, so it is allowed.
        save(film, original, "rename")
        back = await session.next_cycle()
    assert back.ok
    assert back.rendered == ()
    assert lumenfall.jobs_created == 2
    assert back.spent_usd == pytest.approx(2 * cost)


async def test_a_budget_below_the_first_render_submits_nothing(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = storyboard(tmp_path, seed=7, text=PAID)
    async with watching(film, WatchOptions(budget=0.1), env=paid_env(lumenfall)) as session:
        cycle = await session.next_cycle()
    assert cycle.outcome == "refused"
    assert cycle.cut is None
    assert lumenfall.jobs_created == 0
    assert lumenfall.requests == []


async def test_preview_renders_changed_shots_locally_for_free(
    tmp_path: Path, lumenfall: LumenfallServer
) -> None:
    film = storyboard(tmp_path, seed=8, text=PAID)
    env = paid_env(lumenfall)
    async with watching(film, WatchOptions(), env=env, timing=Timing.instant()) as session:
        paid = await session.next_cycle()
    assert paid.rendered == ("a", "b")
    assert lumenfall.jobs_created == 2
    lock = (tmp_path / "film.lock").read_bytes()

    options = WatchOptions(preview=True, budget=0.0)
    async with watching(film, options, env=env) as session:
        first = await session.next_cycle()
        assert first.outcome == "built"
        assert first.rendered == ()
        save(film, film.read_text().replace("A blue boat", "A green boat"), "in_place")
        cycle = await session.next_cycle()
    assert cycle.outcome == "built"
    assert cycle.rendered == ("b",)
    assert [(s.id, s.provider, s.previewed) for s in cycle.shots] == [
        ("a", "lumenfall", False),
        ("b", "local", True),
    ]
    assert cycle.spent_usd == 0.0
    assert lumenfall.jobs_created == 2
    assert (tmp_path / "film.lock").read_bytes() == lock  # drafts never enter the lock


# -- settings -------------------------------------------------------------------------------


def test_an_argument_beats_the_environment_which_beats_the_default() -> None:
    assert WatchOptions.resolve(env={}).debounce_ms == 50
    assert WatchOptions.resolve(env={"SHOTLIST_WATCH_DEBOUNCE_MS": "200"}).debounce_ms == 200
    assert WatchOptions.resolve(env={"SHOTLIST_WATCH_DEBOUNCE_MS": "200"}, debounce_ms=10).debounce_ms == 10
    assert WatchOptions.resolve(env={}).budget is None
    assert WatchOptions.resolve(env={"SHOTLIST_BUDGET": "2.5"}).budget == 2.5
    assert WatchOptions.resolve(env={"SHOTLIST_BUDGET": "2.5"}, budget=1.0).budget == 1.0
    assert WatchOptions.resolve(env={"WATCHFILES_FORCE_POLLING": "1"}).force_polling is True
    assert WatchOptions.resolve(env={"WATCHFILES_FORCE_POLLING": "false"}).force_polling is False
    assert preview_port(None, {}) == 8765
    assert preview_port(None, {"SHOTLIST_PREVIEW_PORT": "9000"}) == 9000
    assert preview_port(0, {"SHOTLIST_PREVIEW_PORT": "9000"}) == 0


def test_a_bad_setting_in_the_environment_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        WatchOptions.resolve(env={"SHOTLIST_BUDGET": "lots"})
    assert str(caught.value) == "SHOTLIST_BUDGET='lots': expected an amount in USD"
    with pytest.raises(ConfigError) as caught:
        preview_port(None, {"SHOTLIST_PREVIEW_PORT": "-1"})
    assert str(caught.value) == "SHOTLIST_PREVIEW_PORT='-1': expected a port number"


def test_watch_refuses_a_port_without_serve(run_cli: Any) -> None:
    result = run_cli("watch", "film.yaml", "8000")
    assert result.exit_code == 2
    assert "a port is for the preview page: add --serve" in result.stderr


def test_settings_no_edit_could_fix_fail_at_once(run_cli: Any, tmp_path: Path) -> None:
    film = storyboard(tmp_path, seed=9)
    result = run_cli("watch", str(film), "--provider", "nope")
    assert result.exit_code == 1
    assert result.stderr == (
        # One message wherever --provider is given (render says the same).
        'error: --provider: unknown provider "nope"; providers: local, lumenfall, fal, ark, replicate\n'
    )
    result = run_cli("watch", str(film), "--var", "x")
    assert result.exit_code == 1
    assert result.stderr == "error: --var: expected KEY=VALUE with KEY a variable name, got 'x'\n"


def test_watch_of_a_missing_storyboard_fails_at_once(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("watch", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'nope.yaml'}: file not found\n"


# -- the preview server -------------------------------------------------------------------------


def test_byte_ranges() -> None:
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=90-500", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=-500", 100) == (0, 99)
    assert byte_range("bytes=100-", 100) == "unsatisfiable"
    assert byte_range("bytes=5-2", 100) == "unsatisfiable"
    assert byte_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole file
    assert byte_range("items=0-1", 100) is None


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as connection:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()


def test_the_cut_is_served_with_byte_ranges(tmp_path: Path) -> None:
    snapshot = tmp_path / "cut-abc.mp4"
    snapshot.write_bytes(bytes(range(256)) * 4)
    with PreviewServer(0) as server:
        server.hook(CutReady("", "abc", str(tmp_path / "film.mp4"), str(snapshot)))
        status, headers, body = get(server.port, "/cut/abc.mp4", {"Range": "bytes=10-19"})
        assert (status, headers["Content-Range"], body) == (206, "bytes 10-19/1024", bytes(range(10, 20)))
        assert headers["Accept-Ranges"] == "bytes"
        status, headers, body = get(server.port, "/cut/abc.mp4")
        assert (status, len(body), headers["Content-Type"]) == (200, 1024, "video/mp4")
        status, headers, _ = get(server.port, "/cut/abc.mp4", {"Range": "bytes=2000-"})
        assert (status, headers["Content-Range"]) == (416, "bytes */1024")
        assert get(server.port, "/cut/def.mp4")[0] == 404
        assert get(server.port, "/cut/../../etc/passwd")[0] == 404
        state = json.loads(get(server.port, "/state")[2])
        assert state["cut"]["url"] == "/cut/abc.mp4"


def test_the_cuts_subtitles_are_served_as_webvtt(tmp_path: Path) -> None:
    snapshot = tmp_path / "cut-abc.mp4"
    snapshot.write_bytes(b"mp4")
    (tmp_path / "film.srt").write_text("1\n00:00:00,000 --> 00:00:01,500\nHold on!\n", encoding="utf-8")
    with PreviewServer(0) as server:
        server.hook(CutReady("", "abc", str(tmp_path / "film.mp4"), str(snapshot)))
        # the next cut rewrites the SRT: the page keeps the subtitles of the cut it plays
        (tmp_path / "film.srt").unlink()
        status, headers, body = get(server.port, "/cut/abc.vtt")
        state = json.loads(get(server.port, "/state")[2])

    assert (status, headers["Content-Type"]) == (200, "text/vtt; charset=utf-8")
    assert body.decode() == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\nHold on!\n\n"
    assert state["cut"]["subtitles"] == "/cut/abc.vtt"


def test_subtitle_text_is_escaped_for_webvtt() -> None:
    srt = "1\n00:00:01,000 --> 00:00:02,000\n<b>Fish</b> & chips\n\n2\n00:01:00,000 --> 00:01:01,250\nBye.\n"

    assert webvtt(srt) == (
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\n&lt;b&gt;Fish&lt;/b&gt; &amp; chips\n\n"
        "2\n00:01:00.000 --> 00:01:01.250\nBye.\n\n"
    )


def test_a_cut_without_dialogue_has_no_subtitle_track(tmp_path: Path) -> None:
    with PreviewServer(0) as server:
        server.hook(CutReady("", "abc", str(tmp_path / "film.mp4"), str(tmp_path / "cut.mp4")))
        assert get(server.port, "/cut/abc.vtt")[0] == 404
        assert json.loads(get(server.port, "/state")[2])["cut"]["subtitles"] is None


def test_a_new_cycle_clears_the_last_ones_errors() -> None:
    state = PreviewState()
    state.apply(CycleFinished("", Cycle(1, (), "invalid", errors=("film.yaml:3:1: bad",))))
    assert state.errors == ["film.yaml:3:1: bad"]

    state.apply(CycleStarted("", 2, ()))

    assert (state.errors, state.error_kind, state.phase) == ([], "", "planning")


def test_the_page_has_an_icon() -> None:
    with PreviewServer(0) as server:
        for path in ("/favicon.svg", "/favicon.ico"):
            status, headers, body = get(server.port, path)
            assert (status, headers["Content-Type"]) == (200, "image/svg+xml")
            assert body.startswith(b"<svg ")


def test_serve_takes_its_port_with_an_equals_sign_too(tmp_path: Path) -> None:
    assert serve_value_apart(["watch", "film.yaml", "--serve=8080"]) == [
        "watch",
        "film.yaml",
        "--serve",
        "8080",
    ]
    assert serve_value_apart(["watch", "--serve=0", "film.yaml"]) == ["watch", "--serve", "film.yaml", "0"]
    assert serve_value_apart(["render", "--serve=1"]) == ["render", "--serve=1"]
    # the console script: parsed, then the missing file is the one error (not a usage error)
    done = subprocess.run(
        [sys.executable, "-m", "shotlist", "watch", "nope.yaml", "--serve=0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (1, "error: nope.yaml: file not found\n")


def test_the_server_answers_only_to_its_own_host_names() -> None:
    with PreviewServer(0) as server:
        assert get(server.port, "/", {"Host": f"localhost:{server.port}"})[0] == 200
        status, _, body = get(server.port, "/state", {"Host": "attacker.example:80"})
        assert (status, body) == (421, b"this server answers to 127.0.0.1 and localhost only\n")


def test_the_page_is_self_contained_and_locked_down() -> None:
    with PreviewServer(0) as server:
        status, headers, body = get(server.port, "/")
    page = body.decode()
    policy = headers["Content-Security-Policy"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert status == 200
    assert f'<script nonce="{nonce}">' in page
    assert f'<style nonce="{nonce}">' in page
    assert "default-src 'none'" in policy
    for external in ("http://", "https://", "//cdn", 'src="/', "@import"):
        assert external not in page
    for markup_from_text in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
        assert markup_from_text not in page


def test_events_stream_each_new_state_and_close_promptly(tmp_path: Path) -> None:
    thumb = tmp_path / "t.jpg"
    thumb.write_bytes(b"\xff\xd8jpeg")
    server = PreviewServer(0).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stream:
            stream.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
            reader = stream.makefile("rb")
            assert reader.readline().startswith(b"HTTP/1.1 200")
            first = read_event(reader)
            server.hook(ThumbnailReady("a", "f" * 64, str(thumb)))
            server.hook(CycleStarted("", 1, ()))
            second = read_event(reader)
            assert second["version"] > first["version"]
            assert second["cycle"] == 1
            # An idle connection too: closing must not wait for either.
            with socket.create_connection(("127.0.0.1", server.port), timeout=10):
                started = time.monotonic()
                server.close()
                assert time.monotonic() - started < 2
            reader.close()
    finally:
        server.close()


def read_event(reader: Any) -> dict[str, Any]:
    while True:
        line = reader.readline()
        assert line, "the stream ended"
        if line.startswith(b"data: "):
            return dict(json.loads(line[6:]))


async def test_a_served_session_publishes_thumbnails_and_each_cut(
    tmp_path: Path, env: dict[str, str]
) -> None:
    film = storyboard(tmp_path, seed=2)
    with PreviewServer(0) as server:
        async with watching(film, WatchOptions(page_assets=True), also=server.hook, env=env) as session:
            first = await session.next_cycle()
        assert first.ok
        state = json.loads(get(server.port, "/state")[2])
    thumbs = session.of(first.number, ThumbnailReady)
    assert sorted(e.shot_id for e in thumbs) == ["a", "b", "c"]
    assert all(read(e.file)[:2] == b"\xff\xd8" for e in thumbs)  # JPEG
    [cut] = session.of(first.number, CutReady)
    assert read(cut.snapshot) == read(first.cut)
    assert state["cut"]["url"] == f"/cut/{cut.version}.mp4"
    assert [(s["id"], s["thumb"]) for s in state["shots"]] == [
        (e.shot_id, f"/thumb/{e.hash}.jpg") for e in thumbs
    ]


def test_the_page_state_follows_a_cycle() -> None:
    from shotlist.events import ShotFailed, ShotProgress
    from shotlist.watchmode.server import PreviewState
    from shotlist.watchmode.session import CycleFinished, CyclePlanned, ShotView

    def view(shot_id: str, status: str) -> ShotView:
        to_pay = 0.0 if status == "cached" else 0.5
        return ShotView(
            shot_id, shot_id * 64, status, "lumenfall", "seedance-2.0", f"<{shot_id}>", 7, 4.0, 0.5, to_pay
        )

    state = PreviewState()
    state.apply(CycleStarted("", 2, ("film.yaml",)))
    state.apply(CyclePlanned("", 2, "Film", (view("a", "cached"), view("b", "changed")), False, 1.0, 3.0))
    state.apply(ShotSubmitted("b", "lumenfall", "job-1"))
    state.apply(ShotProgress("b", "running", 0.25))
    shown = json.loads(state.snapshot()[1])
    assert shown["phase"] == "rendering"
    assert [(s["id"], s["status"], s["state"], s["progress"]) for s in shown["shots"]] == [
        ("a", "cached", "cached", None),
        ("b", "changed", "rendering", 0.25),
    ]
    assert shown["shots"][1] | {"hash": ""} == {
        "id": "b", "hash": "", "status": "changed", "state": "rendering", "progress": 0.25,
        "prompt": "<b>", "seed": 7, "provider": "lumenfall", "model": "seedance-2.0", "duration": 4.0,
        "price_usd": 0.5, "to_pay_usd": 0.5, "previewed": False, "thumb": None, "error": None,
        "pick": 1, "takes": [],
    }  # fmt: skip

    state.apply(ShotFailed("b", "provider lumenfall: content policy"))
    failed = Cycle(2, (), "failed", errors=("shot 'b': content policy",), spent_usd=1.5, budget_usd=3.0)
    state.apply(CycleFinished("", failed))
    shown = json.loads(state.snapshot()[1])
    assert (shown["phase"], shown["errors"], shown["error_kind"]) == (
        "failed",
        ["shot 'b': content policy"],
        "failed",
    )
    assert shown["shots"][1]["error"] == "provider lumenfall: content policy"
    assert shown["spent_usd"] == 1.5

    state.apply(CycleFinished("", Cycle(3, (), "unchanged")))
    shown = json.loads(state.snapshot()[1])
    assert (shown["phase"], shown["errors"]) == ("idle", [])

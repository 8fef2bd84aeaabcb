"""The preview page in a real browser: headless Chromium loads it, the storyboard is
edited, and the page shows the new thumbnail, prompt and cut by itself, without a reload.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe``
(file descriptors 3 and 4, NUL-terminated JSON): a small client below, with no
websocket, driver binary or package to go wrong. Skipped only when Chromium is not
installed; CI installs Debian's chromium in .ci/run.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        chromium_path() is None, reason="chromium is not installed (CI installs Debian's chromium in .ci/run)"
    ),
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-pipe",
    "--window-size=1280,900",
)


TRAMPOLINE = """
import os, sys
reader, writer = int(sys.argv[1]), int(sys.argv[2])
os.dup2(reader, 3, inheritable=True)
os.dup2(writer, 4, inheritable=True)
os.close(reader)
os.close(writer)
os.execv(sys.argv[3], sys.argv[3:])
"""
"""Puts the pipe ends on descriptors 3 and 4, then becomes Chromium."""


class CDPError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium and its protocol pipe; a context manager that always reaps it."""

    def __init__(self, proc: subprocess.Popen[bytes], send_fd: int, recv_fd: int, profile: str) -> None:
        self.proc = proc
        self._send_fd = send_fd
        self._recv = os.fdopen(recv_fd, "rb", buffering=0)
        self._profile = profile
        self._next_id = 0
        self._lock = threading.Lock()
        self._answers: dict[int, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls) -> Chromium:
        executable = chromium_path()
        if executable is None:
            raise CDPError("chromium is not installed")
        profile = tempfile.mkdtemp(prefix="shotlist-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # The child's ends go above 9 first, so that moving them to 3 and 4 (where Chromium
        # expects them) cannot overwrite one with the other.
        child_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        try:
            command = [sys.executable, "-c", TRAMPOLINE, str(child_r), str(child_w), executable, *FLAGS]
            proc = subprocess.Popen(
                [*command, f"--user-data-dir={profile}", "about:blank"],
                pass_fds=(child_r, child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(child_r)
            os.close(child_w)
        return cls(proc, to_chrome_w, from_chrome_r, profile)

    # -- protocol

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._recv.read(65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                with self._arrived:
                    self._answers[-1] = {"closed": True}
                    self._arrived.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._arrived:
                        self._answers[message["id"]] = message
                        self._arrived.notify_all()

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._arrived:
            while ident not in self._answers:
                if -1 in self._answers:
                    raise CDPError(f"chromium closed the pipe during {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"no answer to {method} within {timeout} s")
                self._arrived.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    def open(self, url: str) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("Page.navigate", {"url": url})
        return page

    # -- lifecycle

    def close(self) -> None:
        with contextlib.suppress(OSError, CDPError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError, CDPError):
            os.close(self._send_fd)
        self._recv.close()
        self._reader.join(timeout=5)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, what: str = "") -> Any:
        """Poll until ``expression`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = self.evaluate(expression)
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or expression}; last value {last!r}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))


# -- the test ---------------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="window.pwned=1"> & </script><b>bold</b>'
FILM = f"""\
    version: 1
    title: Browser test
    defaults: {{duration: 1, size: 320x180, seed: 11}}
    shots:
      - id: a
        prompt: '{HOSTILE}'
      - id: b
        prompt: A blue boat in the harbour
        dialogue: Hold on!
    cut: {{size: 320x180, fps: 12, loudness: null, fade_in: 0.5}}
    """


def rename_over(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """``shotlist watch film.yaml --serve=0`` running; yields the storyboard and the page's URL.
    A test may name another storyboard text with ``@pytest.mark.film(TEXT)``."""
    marker = request.node.get_closest_marker("film")
    film = tmp_path / "film.yaml"
    film.write_text(textwrap.dedent(marker.args[0] if marker else FILM), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotlist", "watch", film.name, "--serve=0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.fullmatch(r"preview: (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, (
            f"unexpected first line {line!r}; stderr: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
        yield film, match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


CARD = """(() => {{
  const card = document.querySelector('.shot[data-id="{id}"]');
  if (!card) return null;
  const img = card.querySelector("img.thumb");
  return {{state: card.dataset.state, status: card.dataset.status,
          prompt: card.querySelector(".prompt").textContent,
          markup: card.querySelectorAll(".prompt *").length,
          thumb: img.getAttribute("src"), thumbLoaded: img.complete && img.naturalWidth > 0}};
}})()"""
VIDEO = """(() => {
  const v = document.getElementById("cut");
  return {src: v.getAttribute("src"), ready: v.readyState, duration: v.duration};
})()"""
EXTRAS = """(async () => {
  const v = document.getElementById("cut");
  const poster = v.getAttribute("poster");
  const image = new Image();
  image.src = poster;
  await image.decode();
  const track = v.querySelector("track");
  const cues = v.textTracks[0] && v.textTracks[0].cues;
  const icon = document.querySelector('link[rel="icon"]').getAttribute("href");
  return {poster, posterWidth: image.naturalWidth, track: track && track.getAttribute("src"),
          cues: cues ? [...cues].map((c) => c.getCueAsHTML().textContent) : null,
          icon: (await fetch(icon)).status, favicon: (await fetch("/favicon.ico")).status};
})()"""


def test_the_page_follows_edits_without_a_reload(served: tuple[Path, str]) -> None:
    film, url = served
    with Chromium.launch() as browser:
        page = browser.open(url)
        page.wait_for(
            f"(() => {{ const c = {CARD.format(id='b')};"
            " return c && c.state === 'rendered' && c.thumbLoaded; })()",
            what="the first build on the page",
        )
        page.wait_for(VIDEO + ".ready >= 1", what="the first cut to load")
        first_video = page.evaluate(VIDEO)
        first_b = page.evaluate(CARD.format(id="b"))
        a = page.evaluate(CARD.format(id="a"))
        assert a["prompt"] == HOSTILE  # shown as text: no element made from it, no script run
        assert a["markup"] == 0
        assert page.evaluate("window.pwned") is None
        assert first_video["duration"] == pytest.approx(2.0, abs=0.2)
        # the cut plays through in the browser: pictures and sound decoded, no media error
        page.evaluate("(() => { const v = document.getElementById('cut'); v.muted = true; v.play(); })()")
        played = page.wait_for(
            "(() => { const v = document.getElementById('cut');"
            " return (v.ended || v.currentTime > 1.5) && {error: v.error,"
            " frames: v.getVideoPlaybackQuality().totalVideoFrames,"
            " sound: v.webkitAudioDecodedByteCount}; })()",
            what="the cut to play",
        )
        assert played["error"] is None
        assert played["frames"] > 15
        assert played["sound"] > 0
        # the cut fades in from black: the player shows a shot's frame until it plays
        page.wait_for(
            "(() => { const v = document.getElementById('cut'); const t = v.textTracks[0];"
            " return t && t.cues && t.cues.length > 0; })()",
            what="the subtitles",
        )
        extras = page.evaluate(EXTRAS)
        assert extras["poster"].startswith("/thumb/")
        assert extras["posterWidth"] > 0
        assert extras["track"] == first_video["src"].replace(".mp4", ".vtt")
        # the hostile prompt's quoted line is dialogue too: shown as its own text
        assert extras["cues"] == ["window.pwned=1", "Hold on!"]
        assert (extras["icon"], extras["favicon"]) == (200, 200)
        page.evaluate("window.sameDocument = true")

        rename_over(film, film.read_text().replace("A blue boat", "A red boat"))
        b = page.wait_for(
            f"(() => {{ const c = {CARD.format(id='b')};"
            " return c.prompt === 'A red boat in the harbour' && c.state === 'rendered'"
            " && c.thumbLoaded && c; })()",
            what="the edited shot's new card",
        )
        video = page.wait_for(
            f"(() => {{ const v = {VIDEO};"
            f" return v.src !== {json.dumps(first_video['src'])} && v.ready >= 1 && v; }})()",
            what="the new cut in the player",
        )
        assert b["status"] == "changed"
        assert b["thumb"] != first_b["thumb"]
        assert page.evaluate(CARD.format(id="a"))["state"] == "cached"
        assert video["duration"] == pytest.approx(2.0, abs=0.2)
        assert page.evaluate("window.sameDocument") is True  # updated in place, never reloaded

        good = film.read_text()
        rename_over(film, good.replace("  - id: b\n", "  - id: b\n    camera: {move: sideways}\n"))
        errors = page.wait_for(
            "document.getElementById('errors').classList.contains('shown')"
            " && [...document.querySelectorAll('#error-lines li')].map(li => li.textContent)",
            what="the error on the page",
        )
        assert len(errors) == 1
        assert errors[0].startswith("film.yaml:8:20: shots[1].camera.move: expected one of static, ")
        assert errors[0].endswith('got "sideways"')
        assert page.evaluate(VIDEO)["src"] == video["src"]  # the last good cut stays

        rename_over(film, good.replace("A red boat", "A grey boat"))
        page.wait_for(
            "!document.getElementById('errors').classList.contains('shown')"
            f" && {CARD.format(id='b')}.prompt === 'A grey boat in the harbour'",
            what="the fix to clear the error",
        )


TAKES_FILM = """\
    version: 1
    title: Takes in the browser
    defaults: {duration: 1, size: 320x180, seed: 12}
    shots:
      - id: storm   # three candidates
        prompt: Waves break
        takes: 3
    cut: {size: 320x180, fps: 12, loudness: null}
    """
TAKES = """(() => {
  const items = [...document.querySelectorAll('.shot[data-id="storm"] .take')];
  return items.map((t) => ({take: Number(t.dataset.take), picked: t.dataset.picked === "true",
    button: t.querySelector("button").textContent, disabled: t.querySelector("button").disabled,
    loaded: t.querySelector("img").complete && t.querySelector("img").naturalWidth > 0}));
})()"""


@pytest.mark.e2e
@pytest.mark.film(TAKES_FILM)
def test_the_pick_button_picks_a_take_and_the_page_shows_the_new_cut(served: tuple[Path, str]) -> None:
    film, url = served
    before = film.read_text()
    with Chromium.launch() as browser:
        page = browser.open(url)
        takes = page.wait_for(
            f"(() => {{ const t = {TAKES}; return t.length === 3 && t.every((x) => x.loaded) && t; }})()",
            what="three takes with their thumbnails",
        )
        assert [(t["take"], t["picked"], t["button"], t["disabled"]) for t in takes] == [
            (1, True, "picked", True),
            (2, False, "pick", False),
            (3, False, "pick", False),
        ]
        page.wait_for(VIDEO + ".ready >= 1", what="the first cut to load")
        first_video = page.evaluate(VIDEO)
        page.evaluate(
            'document.querySelector(\'.shot[data-id="storm"] .take[data-take="2"] button\').click()'
        )
        page.wait_for(
            f"(() => {{ const t = {TAKES}; return t.length === 3 && t[1].picked && !t[0].picked; }})()",
            what="take 2 shown as picked",
        )
        page.wait_for(
            f"(() => {{ const v = {VIDEO};"
            f" return v.src !== {json.dumps(first_video['src'])} && v.ready >= 1; }})()",
            what="the cut with take 2 in the player",
        )
    assert film.read_text() == before.replace("    takes: 3\n", "    takes: 3\n    pick: 2\n")

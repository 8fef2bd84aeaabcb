"""Running ``shotlist`` the way a user does: a real process, its own environment, real files.

Shared by the command-line render tests (local previz and Lumenfall). Every run
is checked for a Python traceback: whatever goes wrong, a user sees one clear
line, never a stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shotlist.media.ffmpeg import run_ffmpeg
from shotlist.media.probe import MediaInfo, probe

_SCRIPT = Path(sys.executable).with_name("shotlist")
# The installed console script is what a user runs; ``-m`` only if it is missing.
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "shotlist"]

# Settings a developer's shell may carry that would change what a test sees.
_SCRUBBED_PREFIXES = ("LUMENFALL_", "SHOTLIST_", "FAL_", "ARK_", "REPLICATE_")


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    return {**env, **(extra or {})}


@dataclass(frozen=True)
class Run:
    """One finished ``shotlist`` process."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def errors(self) -> list[str]:
        """The red lines: what the user is told went wrong."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def sources(self) -> dict[str, str]:
        """``render --json``: shot id -> "generated" | "cache"."""
        return {shot["id"]: shot["source"] for shot in self.json["shots"]}

    def generated(self) -> list[str]:
        return [sid for sid, source in self.sources().items() if source == "generated"]


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text


def shotlist(*args: str | Path, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120) -> Run:
    """Run ``shotlist ARGS`` in ``cwd`` and wait for it."""
    argv = tuple(str(a) for a in args)
    done = subprocess.run(
        [*COMMAND, *argv],
        cwd=cwd,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert_no_traceback(done.stdout, done.stderr)
    return Run(argv, done.returncode, done.stdout, done.stderr)


def shotlist_on_terminal(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Run:
    """Run ``shotlist ARGS`` in a pseudo-terminal 120 columns wide, as typed at a shell.
    Everything it writes (stdout and stderr share the terminal) is in ``stdout``."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    argv = tuple(str(a) for a in args)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [*COMMAND, *argv],
        cwd=cwd,
        env=environment({"TERM": "xterm-256color", **(env or {})}),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([primary], [], [], 0.1)[0]:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: the last writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"shotlist {' '.join(argv)} did not finish within {timeout} s")
    finally:
        os.close(primary)
        process.wait(timeout=10)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    assert_no_traceback(text)
    return Run(argv, process.returncode, text, "")


def start(
    *args: str | Path, cwd: Path, output: IO[bytes], env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``shotlist ARGS`` in its own process group (so a test can clean up what it
    leaves behind), stdout and stderr both into ``output``."""
    return subprocess.Popen(
        [*COMMAND, *(str(a) for a in args)],
        cwd=cwd,
        env=environment(env),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes], within: float = 60) -> None:
    """Poll ``condition`` while ``process`` runs; fail if it ends first or time runs out."""
    deadline = time.monotonic() + within
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the render ended (exit {process.returncode}) before the condition held")
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.005)


def signal_when(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], sig: int, within: float = 60
) -> None:
    """Send ``sig`` to ``process`` once ``condition`` holds, on the very state it saw.

    Seeing the condition and sending the signal are two steps, and a busy machine can let
    the process finish what the condition saw in flight between them. So the process is
    stopped (SIGSTOP), the condition checked again while nothing in it can move, the
    signal sent while it is stopped, and only then is it continued. If the second check
    fails, waiting goes on: for progress, never for a fixed time.
    """
    deadline = time.monotonic() + within
    while True:
        wait_until(condition, process, within=max(0.0, deadline - time.monotonic()))
        process.send_signal(signal.SIGSTOP)
        _wait_stopped(process)
        try:
            holds = condition()
            if holds:
                process.send_signal(sig)
        finally:
            process.send_signal(signal.SIGCONT)
        if holds:
            return


def _wait_stopped(process: subprocess.Popen[bytes]) -> None:
    # A stop is asynchronous: without this wait, the check could still race the process.
    try:
        _, status = os.waitpid(process.pid, os.WUNTRACED)
    except ChildProcessError:  # already reaped: it had ended
        status = None
    if status is None or not os.WIFSTOPPED(status):
        if status is not None:
            process.returncode = os.waitstatus_to_exitcode(status)
        raise AssertionError(f"the process ended (exit {process.poll()}) before the condition held")


def write(folder: Path, text: str, name: str = "film.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def make_image(path: Path, colour: str, size: str = "64x36") -> Path:
    """A real PNG, made with the same ffmpeg shotlist uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"color=c={colour}:s={size}", "-frames:v", "1", str(path)],
        step="making a test image",
    )
    return path


def copy_example(name: str, dest: Path) -> Path:
    """The example as a fresh clone has it: no lock, no cut, no cache."""
    source = Path(__file__).resolve().parent.parent / "examples" / name
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("out", "*.lock", ".shotlist"))
    return dest


# -- what a render left on disk ---------------------------------------------------------


def finished_clips(store: Path) -> dict[str, tuple[int, int, int]]:
    """Request hash -> (inode, mtime_ns, size) of every clip the store holds with its
    record (a clip counts as stored once its sidecar is written)."""
    found = {}
    for sidecar in sorted((store / "clips").glob("*/*.json")):
        clip = sidecar.with_suffix(".mp4")
        if clip.exists():
            stat = clip.stat()
            found[sidecar.stem] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


def journal(store: Path) -> list[Path]:
    return sorted((store / "journal").glob("*.json"))


def in_flight(store: Path) -> set[str]:
    """Request hashes journalled without a stored clip: jobs a kill now leaves in flight
    (a record whose clip is already stored is only waiting to be closed)."""
    return {record.stem for record in journal(store)} - set(finished_clips(store))


def part_way(store: Path) -> bool:
    """Some shots stored while others are journalled in flight: where a kill test must land
    (after the first clip alone, every job may be done, or none journalled yet)."""
    return bool(finished_clips(store)) and bool(in_flight(store))


def lock_entries(lock: Path) -> dict[str, dict[str, Any]]:
    """Shot id -> lock entry, after checking the file parses as shotlist reads it."""
    from shotlist.store.lock import read_lock

    read_lock(lock)
    return {entry["id"]: entry for entry in json.loads(lock.read_bytes())["shots"]}


def assert_lock_matches_cache(lock: Path, store: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The lock names every shot, in order, and each entry's sha256 is its cached clip's."""
    from shotlist.files import sha256_file as file_sha256

    entries = lock_entries(lock)
    assert list(entries) == ids
    for entry in entries.values():
        clip = store / "clips" / entry["hash"][:2] / f"{entry['hash']}.mp4"
        assert file_sha256(clip) == entry["sha256"], entry["id"]
    return entries


def assert_cut(path: Path, *, seconds: float, fps: int, size: str) -> MediaInfo:
    """The cut plays: picture and sound, the cut's size, and ``seconds`` long to a frame."""
    info = probe(path)
    assert info.video_codec is not None, "no video stream"
    assert info.audio_codec is not None, "no audio stream"
    assert f"{info.width}x{info.height}" == size
    assert abs(info.duration - seconds) <= 1 / fps + 1e-6, (info.duration, seconds)
    return info

"""Finding ffmpeg and running it: blocking, awaitable, or capturing its stderr.

The one home of ``subprocess`` (for ffmpeg) and ``imageio_ffmpeg``. ffmpeg
comes from the pinned ``imageio-ffmpeg`` wheel so renders reproduce across
machines; ``SHOTLIST_FFMPEG`` points to another build. Argument lists are
built elsewhere (``media.graph`` and the pure builders that use it); failures
become :class:`~shotlist.errors.FFmpegError` here, with the cause kept.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from shotlist.errors import ConfigError, FFmpegError

STDERR_TAIL_LINES = 12
# How every run starts. Written here rather than with ffmpeg-python: these are the
# runner's own choices, and ffmpeg-python places global options after the outputs.
_QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error", "-y")


@functools.cache
def ffmpeg_path() -> str:
    """The ffmpeg executable: ``SHOTLIST_FFMPEG`` if set, else the bundled build."""
    override = os.environ.get("SHOTLIST_FFMPEG")
    if override:
        if not Path(override).is_file():
            raise ConfigError(f"SHOTLIST_FFMPEG points to {override!r}, which is not a file")
        return override
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version``; part of the hash of locally rendered shots."""
    out = subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-version"], capture_output=True, text=True, check=False
    )
    return out.stdout.splitlines()[0].strip() if out.stdout else "unknown"


# Linux refuses a single argument longer than 128 KiB (MAX_ARG_STRLEN); a filter graph can grow
# past it (the local engine lists a picture per frame). Option values longer than this go to
# a file ffmpeg reads with ``-/option file`` (ffmpeg 7.0 and later).
_LONGEST_ARGUMENT = 64 * 1024


@contextlib.contextmanager
def _spilled(args: Sequence[str]) -> Iterator[list[str]]:
    """``args`` with option values too long for one argument read from temporary files."""
    spilled = list(args)
    written: list[str] = []
    try:
        for index in range(1, len(spilled)):
            option, value = spilled[index - 1], spilled[index]
            if len(value) > _LONGEST_ARGUMENT and option.startswith("-") and not option.startswith("-/"):
                fd, name = tempfile.mkstemp(prefix="shotlist-ffmpeg-", suffix=".txt")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(value)
                written.append(name)
                spilled[index - 1], spilled[index] = "-/" + option[1:], name
        yield spilled
    finally:
        for name in written:
            with contextlib.suppress(OSError):
                os.unlink(name)


def _child_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """The environment for ffmpeg: ours plus ``env`` (None inherits ours unchanged)."""
    return None if env is None else {**os.environ, **env}


def run_ffmpeg(
    args: Sequence[str],
    *,
    step: str,
    error: type[FFmpegError] = FFmpegError,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ffmpeg with ``args`` (without the executable), quietly; raise ``error`` on failure.

    ``step`` names what the command was doing, for the error message; ``env``
    adds variables to ffmpeg's environment (e.g. ``FONTCONFIG_FILE``).
    """
    command = [ffmpeg_path(), *_QUIET, *args]
    try:
        with _spilled(command) as runnable:
            done = subprocess.run(runnable, capture_output=True, text=True, check=False, env=_child_env(env))
    except OSError as exc:
        raise error(step, command, str(exc)) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        raise error(step, command, tail)


async def run_ffmpeg_async(
    args: Sequence[str],
    *,
    step: str,
    error: type[FFmpegError] = FFmpegError,
    env: Mapping[str, str] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """Like ``run_ffmpeg``, but awaitable and cancellable.

    Cancelling the awaiting task kills ffmpeg and reaps it before the
    cancellation propagates, so no process outlives its task.
    ``on_progress`` receives the output time written so far, in seconds.
    """
    import asyncio  # here, not above: planning runs ``ffmpeg -version`` and needs no event loop

    command = [ffmpeg_path(), *_QUIET]
    if on_progress is not None:
        command += ["-nostats", "-progress", "pipe:1"]
    command += list(args)
    # The files of spilled arguments live as long as the process.
    with _spilled(command) as runnable:
        try:
            proc = await asyncio.create_subprocess_exec(
                *runnable,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if on_progress is not None else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_child_env(env),
            )
        except OSError as exc:
            raise error(step, command, str(exc)) from exc
        assert proc.stderr is not None
        stderr_read = asyncio.ensure_future(proc.stderr.read())
        try:
            if on_progress is not None and proc.stdout is not None:
                async for line in proc.stdout:
                    key, _, value = line.decode("ascii", "replace").strip().partition("=")
                    if key == "out_time_us" and value.isdigit():
                        on_progress(int(value) / 1_000_000)
            stderr = (await stderr_read).decode("utf-8", "replace")
            returncode = await proc.wait()
        except BaseException:
            stderr_read.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.shield(proc.wait())
            raise
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        raise error(step, command, tail)


def run_ffmpeg_capture(args: Sequence[str], *, step: str) -> str:
    """Run ffmpeg and return its stderr (for analysis filters such as ebur128 and loudnorm)."""
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-y", *args]
    try:
        with _spilled(command) as runnable:
            done = subprocess.run(runnable, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise FFmpegError(step, command, str(exc)) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
        raise FFmpegError(step, command, tail)
    return done.stderr

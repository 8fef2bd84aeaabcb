"""The exception tree of shotlist.

Every error a user can cause or meet derives from one root, branched by how a
caller recovers::

    ShotlistError
    ├── StoryboardError      the storyboard is wrong: fix the file (file, line, field)
    ├── ConfigError          the environment is wrong: a missing key, a bad setting
    ├── BudgetError          the plan costs more than --budget allows
    ├── ProviderError        a provider said no (shot id, job id, retryable or not)
    ├── RenderError          some shots failed; carries one ProviderError per shot
    ├── FrozenError          --frozen and some shots are not rendered yet
    └── FFmpegError          ffmpeg failed (the command and its last stderr lines)
        └── StitchError      ... while building the cut (names the step)

Programming mistakes stay ordinary exceptions. Third-party exceptions are
translated at one boundary per library and chained with ``raise ... from``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ShotlistError(Exception):
    """Root of every error shotlist raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a storyboard, located in its source file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class StoryboardError(ShotlistError):
    """The storyboard cannot be used as written. Holds every problem found, in line order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, file: str, line: int, column: int, field: str, message: str) -> StoryboardError:
        return cls([Problem(file, line, column, field, message)])


class ConfigError(ShotlistError):
    """The environment does not allow the work: a missing API key, a bad setting."""


class BudgetError(ShotlistError):
    """The estimated cost exceeds the budget the user set."""


class ProviderError(ShotlistError):
    """A provider refused or failed a shot.

    ``retryable`` says whether trying the same request again may succeed
    (rate limits, 5xx, dropped connections); ``kind`` is a short machine
    word such as ``auth``, ``balance``, ``invalid``, ``rate_limited``,
    ``upstream``, ``failed``, ``expired``, ``timeout``, ``download``.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        shot_id: str = "",
        job_id: str = "",
        kind: str = "failed",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.shot_id = shot_id
        self.job_id = job_id
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)

    def __str__(self) -> str:
        parts = []
        if self.shot_id:
            parts.append(f"shot {self.shot_id!r}")
        if self.provider:
            parts.append(f"provider {self.provider}")
        if self.job_id:
            parts.append(f"job {self.job_id}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class RenderError(ShotlistError):
    """Some shots failed; the others finished and were kept (``partial`` says which)."""

    def __init__(self, failures: Sequence[ProviderError], partial: object = None) -> None:
        self.failures = tuple(failures)
        self.partial = partial
        lines = [str(f) for f in self.failures]
        head = f"{len(lines)} shot{'s' if len(lines) != 1 else ''} failed"
        super().__init__(head + ": " + "; ".join(lines))


class FrozenError(ShotlistError):
    """``--frozen`` was given and some shots are not rendered yet."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            "--frozen: these shots are not rendered yet and nothing may be submitted: "
            + ", ".join(self.missing)
        )


class FFmpegError(ShotlistError):
    """ffmpeg exited with an error. Carries the command and the tail of its stderr."""

    def __init__(self, step: str, command: Sequence[str], stderr_tail: str) -> None:
        self.step = step
        self.command = tuple(command)
        self.stderr_tail = stderr_tail
        last = " | ".join(line for line in stderr_tail.strip().splitlines()[-3:] if line.strip())
        super().__init__(f"ffmpeg failed while {step}: {last or 'no output'}")


class StitchError(FFmpegError):
    """Building the cut failed; the previous cut, if any, is left intact."""

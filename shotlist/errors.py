"""The exception tree of shotlist.

Every error a user can cause or meet derives from one root, branched by how a
caller recovers::

    ShotlistError
    ├── StoryboardError      the storyboard is wrong: fix the file (file, line, field)
    ├── ConfigError          the environment is wrong: a missing key, a bad setting
    ├── ProjectError         the project folder cannot be set up as asked (init)
    ├── RevisionError        git cannot show the project at the revision asked for (plan --against)
    ├── BudgetError          the plan costs more than --budget allows
    ├── ProviderError        a provider said no (shot id, job id, retryable or not)
    ├── RenderError          some shots failed; carries one ProviderError per shot
    ├── FrozenError          --frozen and some shots are not rendered yet
    │   └── NotRenderedError ... for ``stitch``, which never submits
    ├── StoreError           the cache, journal or lock cannot be used (busy, corrupt)
    │   └── SharedCacheError ... the team cache (S3) cannot be reached or refuses
    ├── MediaError           a media file cannot be read as media
    ├── CutError             the rendered shots cannot make the cut asked for
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
    """The estimated cost exceeds the budget the user set; nothing was submitted.

    ``needed_usd`` is what the work would cost, ``remaining_usd`` what the budget leaves."""

    def __init__(self, message: str, *, needed_usd: float = 0.0, remaining_usd: float = 0.0) -> None:
        self.needed_usd = needed_usd
        self.remaining_usd = remaining_usd
        super().__init__(message)


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


class NotRenderedError(FrozenError):
    """The cut needs shots that are not rendered yet (``shotlist stitch`` submits nothing)."""

    def __init__(self, missing: Sequence[str], storyboard: str) -> None:
        super().__init__(missing)
        # FrozenError's own message speaks of --frozen, which the user of stitch did not give.
        self.args = (
            f"these shots are not rendered yet: {', '.join(self.missing)}; "
            f"render them with: shotlist render {storyboard}",
        )


class ProjectError(ShotlistError):
    """``init`` cannot create the project: the storyboard exists, or the folder is not writable."""


class RevisionError(ShotlistError):
    """``plan --against REF``: the storyboard is not in a git repository, git is missing, or
    REF names no commit."""


class StoreError(ShotlistError):
    """The cache, the journal or the lock file cannot be used: another render holds the
    cache, or a record is unreadable (the message says what to delete to start afresh)."""


class SharedCacheError(StoreError):
    """The team cache cannot be used: unreachable, access denied, a bucket that does not
    exist. Names the cache's location and what it said, never a credential."""


class MediaError(ShotlistError):
    """A file is not readable media (probing failed)."""


class CutError(ShotlistError):
    """The rendered shots cannot make the cut asked for: no shots, a transition longer
    than its shots, a clip without a picture, an unreadable music bed."""


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

"""The project as it was at a git revision, read without checking anything out.

The one home of ``git`` (run as a subprocess). ``GitRevision.open(folder, "HEAD")``
lists the commit's tree once (``git ls-tree``); files are then read by their
object id (``git cat-file``), so the working tree, the index and the checked-out
branch are never touched. A ``GitRevision`` is a ``files.ProjectView``: inside
``files.reading_from(revision)`` the loader, the references and the lock read the
storyboard as it was at that commit.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from shotlist.errors import RevisionError
from shotlist.files import FileKind

GIT = "git"
_SYMLINK_MODE = "120000"
_MAX_LINKS = 8  # symlinks followed in a row before a path counts as absent (a loop)


@dataclass(frozen=True)
class _Entry:
    mode: str
    type: str  # "blob", "tree" or "commit" (a submodule)
    oid: str


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``folder``; RevisionError when git itself is missing."""
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run([GIT, "-C", str(folder), *args], capture_output=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise RevisionError(
            "git is not installed (or not on PATH): plan --against reads the storyboard from git"
        ) from exc


@dataclass
class GitRevision:
    """The files of one commit, as a read-only ``ProjectView`` of absolute paths."""

    root: Path  # the repository's top folder, resolved
    ref: str  # the revision as the user wrote it
    commit: str  # the commit it names
    entries: dict[str, _Entry]  # repository-relative posix path -> tree entry
    _hashes: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, folder: Path, ref: str) -> GitRevision:
        """The revision ``ref`` of the repository holding ``folder``.

        RevisionError (one line) outside a repository, without git, or for a
        revision that names no commit.
        """
        folder = folder.resolve()
        if ref.startswith("-") or not ref.strip():
            raise RevisionError(f'"{ref}" is not a git revision')
        top = _git(folder, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            raise RevisionError(f"{folder} is not in a git repository; plan --against compares with git")
        root = Path(top.stdout.decode().strip()).resolve()
        found = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if found.returncode != 0:
            raise RevisionError(f'unknown git revision "{ref}" in {root}')
        commit = found.stdout.decode().strip()
        listing = _git(root, "ls-tree", "-r", "-t", "-z", "--full-tree", commit)
        if listing.returncode != 0:
            raise RevisionError(f'cannot list the files of "{ref}" ({_last_line(listing.stderr)})')
        return cls(root, ref, commit, _parse_tree(listing.stdout))

    # -- ProjectView ----------------------------------------------------------------------------

    def kind(self, path: Path) -> FileKind | None:
        entry = self._entry(path)
        if entry is None:
            return None
        return "file" if entry.type == "blob" else "dir" if entry.type == "tree" else None

    def read_bytes(self, path: Path) -> bytes:
        entry = self._entry(path)
        if entry is None or entry.type == "commit":
            raise FileNotFoundError(2, f"not in {self.ref}", str(path))
        if entry.type == "tree":
            raise IsADirectoryError(21, f"a folder in {self.ref}", str(path))
        shown = _git(self.root, "cat-file", "blob", entry.oid)
        if shown.returncode != 0:
            raise OSError(5, f"git cat-file failed: {_last_line(shown.stderr)}", str(path))
        return shown.stdout

    def sha256(self, path: Path) -> str:
        entry = self._entry(path)
        if entry is None:
            raise FileNotFoundError(2, f"not in {self.ref}", str(path))
        known = self._hashes.get(entry.oid)
        if known is None:
            known = self._hashes[entry.oid] = hashlib.sha256(self.read_bytes(path)).hexdigest()
        return known

    # -- paths ----------------------------------------------------------------------------------

    def relative(self, path: Path) -> str | None:
        """``path`` as a repository-relative posix path; None outside the repository."""
        absolute = Path(os.path.abspath(path))
        for candidate in (absolute, absolute.resolve()):
            try:
                return PurePosixPath(*candidate.relative_to(self.root).parts).as_posix()
            except ValueError:
                continue
        return None

    def _entry(self, path: Path) -> _Entry | None:
        name = self.relative(path)
        if name is None:
            return None
        if name == ".":
            return _Entry("040000", "tree", "")
        for _ in range(_MAX_LINKS):
            entry = self.entries.get(name)
            if entry is None or entry.mode != _SYMLINK_MODE:
                return entry
            # A symlink committed in the tree: follow it inside the same commit.
            target = self.read_link(entry)
            name = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if name.startswith("../") or posixpath.isabs(name):
                return None
        return None

    def read_link(self, entry: _Entry) -> str:
        shown = _git(self.root, "cat-file", "blob", entry.oid)
        return shown.stdout.decode("utf-8", "replace") if shown.returncode == 0 else ""


def _parse_tree(output: bytes) -> dict[str, _Entry]:
    """``git ls-tree -z`` output: ``<mode> <type> <oid>\\t<path>\\0`` per entry."""
    entries: dict[str, _Entry] = {}
    for record in output.split(b"\0"):
        if not record:
            continue
        info, _, name = record.partition(b"\t")
        mode, kind, oid = info.decode().split(" ")
        entries[name.decode("utf-8", "surrogateescape")] = _Entry(mode, kind, oid)
    return entries


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"

"""Start-up: each command imports only what it needs, so ``--help``, ``validate`` and ``plan``
answer at once (issue 17). Wall time is measured in benchmarks/bench_startup.py; these tests pin
the imports, which is what the time depends on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Runs a command in a fresh interpreter and prints the modules it imported.
PROBE = """
import json, sys
from shotlist.cli.app import main
sys.argv = ["shotlist", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""

# Heavy for start-up: an event loop, media, HTTP, the NLE timeline, templates, the schema.
HEAVY_FOR_HELP = {
    "asyncio",
    "av",
    "ffmpeg",
    "httpx",
    "imageio_ffmpeg",
    "jinja2",
    "opentimelineio",
    "pydantic",
    "watchfiles",
    "yaml",
    "shotlist.pipeline",
}
# Planning reads YAML and the schema, but renders and cuts nothing.
HEAVY_FOR_PLAN = {
    "asyncio",
    "av",
    "ffmpeg",
    "httpx",
    "opentimelineio",
    "watchfiles",
    "shotlist.engine",
    "shotlist.cut.stitch",
    "shotlist.media.graph",
    "shotlist.providers.local.engine",
    "shotlist.review",
}


def imported_by(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_help_imports_no_heavy_module() -> None:
    assert HEAVY_FOR_HELP & imported_by("--help") == set()


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_import_no_render_or_media_module(command: str) -> None:
    modules = imported_by(command, str(EXAMPLES / "minimal.yaml"))
    assert "shotlist.planner" in modules  # it did plan
    assert HEAVY_FOR_PLAN & modules == set()

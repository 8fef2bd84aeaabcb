"""Providers are found through the ``shotlist.providers`` entry points: the built-in ones, and
one that a package adds (examples/provider-plugin, installed here the way a user would)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from render_helpers import shotlist, write

from shotlist.providers import registry

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "provider-plugin"


def test_the_built_in_providers_register_through_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    declared = {point.name: point.value for point in entry_points(group=registry.GROUP)}
    assert {name: declared.get(name) for name in registry.BUILTIN} == dict(registry.BUILTIN)
    assert registry.names()[:5] == ("local", "lumenfall", "fal", "ark", "replicate")
    assert set(registry.renderable()) >= {"local", "lumenfall", "fal", "ark", "replicate"}


def test_an_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(LookupError, match='did you mean "replicate"'):
        registry.entry("replicat")


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        str(target),
        str(PLUGIN),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 and "setuptools" in done.stderr and "No matching distribution" in done.stderr:
        pytest.skip("pip cannot fetch setuptools to build the example package (offline)")
    assert done.returncode == 0, done.stderr
    return target


@pytest.mark.e2e
def test_a_package_adds_a_provider_that_plans_and_renders(tmp_path: Path, installed_plugin: Path) -> None:
    env = {"PYTHONPATH": str(installed_plugin)}
    write(
        tmp_path,
        """\
        version: 1
        defaults: {provider: solid, duration: 1.5, size: 320x180}
        shots:
          - {id: one, prompt: A blue field}
          - {id: two, prompt: A red field, seed: 1}
        cut: {size: 320x180, fps: 12}
        """,
    )
    listed = shotlist("providers", "--json", cwd=tmp_path, env=env)
    rendered = shotlist("render", "film.yaml", "--json", cwd=tmp_path, env=env)
    without = shotlist("validate", "film.yaml", cwd=tmp_path)

    assert [row["provider"] for row in listed.json][-1] == "solid"
    assert rendered.returncode == 0, rendered.stderr
    assert [shot["source"] for shot in rendered.json["shots"]] == ["generated", "generated"]
    assert (tmp_path / "out" / "film.mp4").exists()
    assert without.returncode == 1
    assert "defaults.provider: expected one of local, lumenfall, fal, ark, replicate, got" in without.stderr

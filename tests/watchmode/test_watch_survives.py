"""Watch mode survives every kind of bad input a hostile pass found: each shows as a cycle's
error, and the last good cut stays as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_watch import env, mtime, save, shared_cache, storyboard, watching  # noqa: F401

pytestmark = pytest.mark.e2e


def variants(folder: Path, good: str) -> dict[str, str]:
    fifo = folder / "part.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "out" / "taken.mp4").mkdir(parents=True, exist_ok=True)
    loop = "{% for _ in 'x' * 300 %}"
    loops = loop * 3 + "z" + "{% endfor %}" * 3
    return {
        "alias containing itself": "a: &a [*a]\n" + good,
        "deep nesting": "x: " + "[" * 5000 + "]" * 5000 + "\n",
        "cut.output is a folder": good.replace("cut: {", "cut: {output: out/taken.mp4, "),
        "template bomb": good.replace("A red kite over the dunes", loops),
        "include of a FIFO": "include: [part.yaml]\n" + good,
        "each: bomb": good.replace(
            "  - id: a\n",
            "  - id: 'a{{ i }}{{ j }}{{ k }}'\n    each: {i: [" + ",".join(map(str, range(1000))) + "], "
            "j: [" + ",".join(map(str, range(1000))) + "], k: [" + ",".join(map(str, range(1000))) + "]}\n",
        ),
        "an image that is a folder": good.replace(
            "prompt: A red kite over the dunes", "prompt: A red kite over the dunes\n    images: [refs]"
        ),
        "binary garbage": "\x00\x01\x02 not yaml",
    }


async def test_watch_keeps_the_last_good_cut_through_every_crash(tmp_path: Path, env: dict[str, str]) -> None:  # noqa: F811
    film = storyboard(tmp_path, seed=31)
    good = film.read_text()
    async with watching(film, env=env) as session:
        first = await session.next_cycle()
        assert first.outcome == "built"
        assert first.cut is not None
        cut_bytes, cut_time = first.cut.read_bytes(), mtime(first.cut)
        for name, text in variants(tmp_path, good).items():
            save(film, text)
            cycle = await session.next_cycle(within=60)
            assert cycle.outcome in ("invalid", "failed"), name
            assert cycle.errors, name
            assert all("\n" not in e and "Traceback" not in e for e in cycle.errors), (name, cycle.errors)
            assert cycle.cut == first.cut, name
            assert first.cut.read_bytes() == cut_bytes, name
            assert mtime(first.cut) == cut_time, name
        save(film, good)
        back = await session.next_cycle()
    assert back.ok
    assert back.rendered == ()

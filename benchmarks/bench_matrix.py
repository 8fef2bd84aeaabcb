"""Benchmark of batch renders (issue 16, quoted in the README).

    .venv/bin/python benchmarks/bench_matrix.py [--rows 50] [--skip-ray]

A storyboard of 6 local previz shots (2 s, 320x180), 4 the same in every row and 2 naming
the row's person and product, times a table of ROWS rows: ROWS cuts, 6 x ROWS shots, of
which 4 + ROWS + min(ROWS, 5) are distinct requests. Three ways, each in a fresh folder (empty cache):

1. rows one by one: ``shotlist.render(film, overrides=row)`` per row, sharing one cache (so
   the shared shots come from the cache after the first row), one row at a time;
2. ``render_matrix`` here: the distinct requests at once, then the cuts, one per core;
3. ``render_matrix(cluster="local")``: the same on a local Ray instance (2 CPUs).

Prints the jobs submitted (the deduplication) and the wall time of each, and the ratios
against (1); exits 1 if a batch submits more jobs than there are distinct requests. It also
says whether the cuts are byte-identical to those of (1): the clips always are; a cut's
re-encoded join windows have been seen to differ in a few frames' bytes between runs on a
loaded machine (a stitch matter, reported, not counted as a failure here).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import shotlist
from shotlist.batch.run import render_matrix

FILM = """\
version: 1
title: Variants
vars: {name: Ana, product: tea}
defaults: {provider: local, duration: 2, resolution: 480p, seed: 3}
shots:
  - {id: open, prompt: The sea at dawn, camera: {move: dolly_in}}
  - {id: hello, prompt: "{{ name }} waves from the pier"}
  - {id: shop, prompt: A shop window in the rain, camera: {move: pan_left}}
  - {id: item, prompt: "A cup of {{ product }} on the counter", camera: {move: push_in}}
  - {id: walk, prompt: A walk along the harbour, camera: {move: tracking}}
  - {id: end, prompt: The logo on black}
cut: {size: 320x180, fps: 12, output: "out/{{ name }}.mp4"}
"""
PRODUCTS = ("tea", "coffee", "juice", "cocoa", "water")


def project(folder: Path, rows: int) -> tuple[Path, Path, list[dict[str, object]]]:
    folder.mkdir(parents=True)
    film = folder / "film.yaml"
    film.write_text(textwrap.dedent(FILM), encoding="utf-8")
    values: list[dict[str, object]] = [
        {"name": f"Person{n:02d}", "product": PRODUCTS[n % len(PRODUCTS)]} for n in range(rows)
    ]
    table = folder / "rows.csv"
    table.write_text("name,product\n" + "".join(f"{v['name']},{v['product']}\n" for v in values))
    return film, table, values


def cuts(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "out").glob("*.mp4"))}


def one_by_one(folder: Path, rows: int) -> tuple[int, float, dict[str, bytes]]:
    film, _, values = project(folder, rows)
    env = {**os.environ, "SHOTLIST_CACHE_DIR": str(folder / "cache")}
    started = time.perf_counter()
    submitted = sum(shotlist.render(film, overrides=v, env=env).submitted for v in values)
    return submitted, time.perf_counter() - started, cuts(folder)


def batch(folder: Path, rows: int, cluster: str | None) -> tuple[int, float, dict[str, bytes]]:
    film, table, _ = project(folder, rows)
    env = {**os.environ, "SHOTLIST_CACHE_DIR": str(folder / "cache")}
    started = time.perf_counter()
    result = render_matrix(film, table, env=env, cluster=cluster)
    return result.submitted, time.perf_counter() - started, cuts(folder)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (to compare the cuts)")
    args = parser.parse_args()
    rows = args.rows
    # "hello" names the row's person (one per row), "item" its product (five of them).
    distinct = 4 + rows + min(rows, len(PRODUCTS))
    print(f"{rows} rows x 6 shots = {6 * rows} shots, {distinct} distinct requests; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        work = args.keep or Path(tmp)
        jobs, base, reference = one_by_one(work / "one-by-one", rows)
        print(f"rows one by one:     {jobs:4d} jobs  {base:7.1f} s")
        cases = [("batch, local", None)]
        if not args.skip_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            cases.append(("batch, local Ray", "local"))
        ok = True
        for label, cluster in cases:
            jobs, took, made = batch(work / label.replace(" ", "-").replace(",", ""), rows, cluster)
            same = made == reference
            ok = ok and jobs == distinct
            if not same:
                differ = sorted(k for k in reference if made.get(k) != reference[k])
                shown = ", ".join(differ[:5])
                print(f"  {len(differ)} of {len(reference)} cuts differ in bytes: {shown} ...")
            print(
                f"{label + ':':20s} {jobs:4d} jobs  {took:7.1f} s  {took / base:5.2f}x of one by one"
                f"  cuts {'byte-identical' if same else 'not all byte-identical'}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``shotlist render`` and ``shotlist stitch`` as a user meets them: real processes, real
ffmpeg, the free local previz engine, tiny media (320x180, 12 fps, shots of 1-2 s).

What is pinned is what a user notices: the exit code, the one red line, the
``--json`` summary, the clips in ``.shotlist/``, the lock beside the storyboard
and the cut that plays. (The engine's and the providers' own tests cover the
machinery underneath; see tests/test_engine.py and tests/test_lumenfall.py.)
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import suppress
from pathlib import Path

import pytest
from lumenfall_server import LumenfallServer
from render_helpers import (
    assert_cut,
    assert_lock_matches_cache,
    copy_example,
    finished_clips,
    journal,
    lock_entries,
    make_image,
    part_way,
    shotlist,
    shotlist_on_terminal,
    signal_when,
    start,
    write,
)

from shotlist.media.ffmpeg import run_ffmpeg

# Whole renders, stitches, servers or subprocesses: outside the fast core (pytest -m "not e2e").
pytestmark = pytest.mark.e2e

HARBOUR = """\
    version: 1
    title: Harbour
    defaults: {size: 320x180, duration: 1, seed: 3}
    shots:
      - id: harbour
        prompt: Fishing boats rock in the harbour at dawn
        camera: {move: pan_right}
      - id: gull
        prompt: A gull glides over the quay
        duration: 2
      - id: quay
        prompt: Rain falls on the empty quay
    cut: {size: 320x180, fps: 12}
    """
IDS = ["harbour", "gull", "quay"]
HARBOUR_SECONDS = 4.0  # 1 + 2 + 1, joined with plain cuts


def clip_of(folder: Path, shot_id: str) -> Path:
    entry = lock_entries(folder / "film.lock")[shot_id]
    return folder / ".shotlist" / "clips" / entry["hash"][:2] / f"{entry['hash']}.mp4"


def test_the_readme_first_command_renders_the_lighthouse_cut(tmp_path: Path) -> None:
    from shotlist import pipeline

    folder = copy_example("lighthouse", tmp_path / "examples" / "lighthouse")
    storyboard = folder / "lighthouse.yaml"

    first = shotlist("render", "examples/lighthouse/lighthouse.yaml", cwd=tmp_path)

    plan = pipeline.plan(storyboard)
    board = plan.loaded.storyboard
    shown = [
        (s.shot.trim.end or s.request.duration) - s.shot.trim.start if s.shot.trim else s.request.duration
        for s in plan.shots
    ]
    transitions = [s.shot.transition or board.cut.transition for s in plan.shots[1:]]
    overlaps = [t.duration for t in transitions if t.type != "cut"]
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"{len(plan.shots)} shots: {len(plan.shots)} rendered")
    assert_cut(folder / "out" / "lighthouse.mp4", seconds=sum(shown) - sum(overlaps), fps=24, size="1280x720")
    assert (folder / "out" / "lighthouse.otio").stat().st_size > 0
    assert "Not tonight." in (folder / "out" / "lighthouse.srt").read_text(encoding="utf-8")
    assert_lock_matches_cache(
        folder / "lighthouse.lock", folder / ".shotlist", [s.request.id for s in plan.shots]
    )

    # "Run it again: nothing is rendered twice."
    again = shotlist("render", "examples/lighthouse/lighthouse.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.json["submitted"] == 0
    assert set(again.sources().values()) == {"cache"}


def test_an_unchanged_render_submits_nothing_and_one_edited_prompt_renders_one_shot(
    tmp_path: Path,
) -> None:
    storyboard = write(tmp_path, HARBOUR)
    lock = tmp_path / "film.lock"

    first = shotlist("render", "film.yaml", "--json", cwd=tmp_path)
    locked = lock.read_bytes()
    unchanged = shotlist("render", "film.yaml", "--json", cwd=tmp_path)
    relocked = lock.read_bytes()
    before = lock_entries(lock)
    storyboard.write_text(
        storyboard.read_text().replace("A gull glides over", "Two gulls fight over"), encoding="utf-8"
    )
    edited = shotlist("render", "film.yaml", "--json", cwd=tmp_path)
    after = lock_entries(lock)

    assert first.returncode == 0, first.stderr
    assert first.json["submitted"] == 3
    assert first.generated() == IDS
    assert unchanged.json["submitted"] == 0
    assert unchanged.sources() == dict.fromkeys(IDS, "cache")
    assert relocked == locked
    assert edited.json["submitted"] == 1
    assert edited.generated() == ["gull"]
    assert {k: after[k] for k in ("harbour", "quay")} == {k: before[k] for k in ("harbour", "quay")}
    assert after["gull"]["hash"] != before["gull"]["hash"]
    assert after["gull"]["sha256"] != before["gull"]["sha256"]
    assert_cut(tmp_path / "out" / "film.mp4", seconds=HARBOUR_SECONDS, fps=12, size="320x180")
    # Not a terminal: plain progress lines, no escape codes.
    assert "gull: submitted to local" in edited.stderr
    assert "gull: done" in edited.stderr
    assert "harbour: from the cache" in edited.stderr
    assert "\x1b[" not in edited.stderr + edited.stdout


def test_on_a_terminal_each_shot_has_a_live_row(tmp_path: Path) -> None:
    write(tmp_path, HARBOUR)

    run = shotlist_on_terminal("render", "film.yaml", cwd=tmp_path)

    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.stdout)
    assert run.returncode == 0, plain
    assert "\x1b[" in run.stdout  # drawn live, in colour
    assert re.search(r"shot\s+provider\s+state\s+progress\s+time\s+job", plain)
    for shot_id in IDS:
        assert re.search(rf"{shot_id}\s+local\s+done\s+█+ 100%", plain), shot_id
    assert "cut written" in plain
    assert "submitted to local" not in plain  # the log lines are for logs, not terminals
    assert plain.rstrip().endswith(
        f"3 shots: 3 rendered, 0 from the cache; cut: {tmp_path / 'out' / 'film.mp4'}"
    )


def test_a_render_killed_part_way_resumes_without_redoing_finished_shots(tmp_path: Path) -> None:
    shots = "".join(
        f"  - id: s{n}\n    prompt: Wave {n} breaks on the rocks\n    seed: {n}\n" for n in range(8)
    )
    write(
        tmp_path,
        "version: 1\ndefaults: {size: 320x180, duration: 2}\nshots:\n"
        + shots
        + "cut: {size: 320x180, fps: 12}\n",
    )
    store = tmp_path / ".shotlist"
    ids = [f"s{n}" for n in range(8)]

    with (tmp_path / "killed.log").open("wb") as log:
        child = start("render", "film.yaml", "--concurrency", "2", cwd=tmp_path, output=log)
        try:
            # Some shots stored while others are journalled in flight: after the first clip
            # alone, a loaded machine can see every job done before the kill lands.
            signal_when(lambda: part_way(store), child, signal.SIGKILL)
            child.wait(timeout=10)
            finished = finished_clips(store)
            journalled = journal(store)
            lock_after_kill = (tmp_path / "film.lock").exists()
            second = shotlist("render", "film.yaml", "--json", cwd=tmp_path)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # ffmpeg children the kill orphaned
            child.wait(timeout=10)

    assert child.returncode == -signal.SIGKILL
    assert 1 <= len(finished) < 8
    assert journalled, "the jobs in flight were journalled"
    assert not lock_after_kill
    assert second.returncode == 0, second.stderr
    hashes = {shot["id"]: shot["hash"] for shot in second.json["shots"]}
    done_before = sorted(sid for sid, h in hashes.items() if h in finished)
    assert len(done_before) == len(finished)
    # Every shot finished before the kill comes from the cache, untouched; the rest are rendered once.
    assert sorted(second.generated()) == sorted(set(ids) - set(done_before))
    assert second.json["submitted"] == 8 - len(finished)
    now = finished_clips(store)
    assert {h: now[h] for h in finished} == finished
    assert journal(store) == []
    assert_lock_matches_cache(tmp_path / "film.lock", store, ids)
    assert_cut(tmp_path / "out" / "film.mp4", seconds=16.0, fps=12, size="320x180")


def test_a_truncated_or_corrupted_cache_clip_is_rendered_again(tmp_path: Path) -> None:
    write(tmp_path, HARBOUR)
    assert shotlist("render", "film.yaml", cwd=tmp_path).returncode == 0
    locked = (tmp_path / "film.lock").read_bytes()
    truncated, corrupted = clip_of(tmp_path, "gull"), clip_of(tmp_path, "quay")
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    damaged = bytearray(corrupted.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size, different bytes
    corrupted.write_bytes(bytes(damaged))

    again = shotlist("render", "film.yaml", "--json", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert again.sources() == {"harbour": "cache", "gull": "generated", "quay": "generated"}
    assert again.json["submitted"] == 2
    assert "note: gull: cached clip is truncated" in again.stderr
    assert "note: quay: cached clip is corrupted (sha256 mismatch); rendering it again" in again.stderr
    # The previz is deterministic: the same requests give the same bytes, and the same lock.
    assert (tmp_path / "film.lock").read_bytes() == locked
    assert_lock_matches_cache(tmp_path / "film.lock", tmp_path / ".shotlist", IDS)
    assert_cut(tmp_path / "out" / "film.mp4", seconds=HARBOUR_SECONDS, fps=12, size="320x180")


def test_frozen_fails_listing_missing_shots_and_submits_nothing(tmp_path: Path) -> None:
    write(tmp_path, HARBOUR)
    store = tmp_path / ".shotlist"
    only = shotlist("render", "film.yaml", "--only", "gull", cwd=tmp_path)
    clips = finished_clips(store)

    frozen = shotlist("render", "film.yaml", "--frozen", "--json", cwd=tmp_path)

    assert only.returncode == 0, only.stderr
    assert frozen.returncode == 1
    assert frozen.stdout == ""
    assert frozen.errors == [
        "error: --frozen: these shots are not rendered yet and nothing may be submitted: harbour, quay"
    ]
    assert frozen.stderr.count("\n") == 1 + frozen.stderr.count("from the cache")
    assert finished_clips(store) == clips
    assert journal(store) == []
    assert not (tmp_path / "out").exists()

    assert shotlist("render", "film.yaml", cwd=tmp_path).returncode == 0
    cut = (tmp_path / "out" / "film.mp4").stat()
    ok = shotlist("render", "film.yaml", "--frozen", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.json["submitted"] == 0
    assert ok.json["output"] == str(tmp_path / "out" / "film.mp4")
    assert (tmp_path / "out" / "film.mp4").stat().st_size == cut.st_size


def test_only_renders_just_the_named_shot(tmp_path: Path) -> None:
    write(tmp_path, HARBOUR)

    typo = shotlist("render", "film.yaml", "--only", "harbor", cwd=tmp_path)
    only = shotlist("render", "film.yaml", "--only", "quay", "--json", cwd=tmp_path)
    lock_after_one = list(lock_entries(tmp_path / "film.lock"))
    clips_after_one = len(finished_clips(tmp_path / ".shotlist"))
    another = shotlist("render", "film.yaml", "--only", "harbour", cwd=tmp_path)

    assert typo.returncode == 1
    assert typo.errors == ['error: --only: no shot "harbor" in film.yaml; did you mean "harbour"?']
    assert only.returncode == 0, only.stderr
    assert only.json["submitted"] == 1
    assert only.sources() == {"quay": "generated"}
    assert only.json["output"] is None
    assert "other shots are not rendered yet, so the cut was not rebuilt" in only.stderr
    assert lock_after_one == ["quay"]
    assert clips_after_one == 1
    assert another.stdout == "1 shot: 1 rendered, 0 from the cache\n"
    assert list(lock_entries(tmp_path / "film.lock")) == ["harbour", "quay"]  # storyboard order
    assert not (tmp_path / "out").exists()


def test_a_budget_below_the_estimate_refuses_before_submitting(tmp_path: Path) -> None:
    # Durations Seedance takes (4-15 s); rendered locally unless --provider says otherwise.
    write(
        tmp_path,
        """\
        version: 1
        defaults: {duration: 4, aspect_ratio: "16:9", resolution: 480p}
        shots:
          - id: dawn
            prompt: Fishing boats leave the harbour at dawn
            duration: 5
          - id: gull
            prompt: A gull glides over the quay
          - id: dusk
            prompt: The boats return at dusk
        cut: {size: 320x180, fps: 12}
        """,
    )
    with LumenfallServer(api_key="sk-budget-test", polls_to_complete=1, clip_seconds_cap=1.0) as server:
        env = {"LUMENFALL_API_KEY": "sk-budget-test", "LUMENFALL_BASE_URL": server.base_url}
        paid = ("render", "film.yaml", "--provider", "lumenfall")
        plan = shotlist("plan", "film.yaml", "--provider", "lumenfall", "--json", cwd=tmp_path, env=env)
        costs = {s["id"]: s["estimated_cost_usd"] for s in plan.json["shots"]}
        total = plan.json["total_estimated_cost_usd"]
        budget = f"{total - 0.01:.2f}"

        refused = shotlist(*paid, "--budget", budget, cwd=tmp_path, env=env)
        requests_after_refusal = len(server.requests)
        store_after_refusal = (tmp_path / ".shotlist").exists()
        # The budget covers what this render would pay for: --only one shot fits.
        one_budget = f"{costs['gull'] + 0.01:.2f}"
        one = shotlist(*paid, "--only", "gull", "--budget", one_budget, "--json", cwd=tmp_path, env=env)

    assert plan.returncode == 0, plan.stderr
    assert total == pytest.approx(sum(costs.values()), abs=0.001)
    assert total > costs["gull"] > 0
    assert refused.returncode == 1
    assert refused.errors == [
        f"error: estimated cost ${total:.2f} exceeds the budget of ${budget}; nothing was submitted"
    ]
    assert requests_after_refusal == 0
    assert not store_after_refusal
    assert one.returncode == 0, one.stderr
    assert one.sources() == {"gull": "generated"}
    assert server.jobs_created == 1


def test_stitch_builds_the_cut_from_rendered_shots_only(tmp_path: Path) -> None:
    write(tmp_path, HARBOUR)
    store = tmp_path / ".shotlist"
    shotlist("render", "film.yaml", "--only", "harbour", cwd=tmp_path)

    missing = shotlist("stitch", "film.yaml", cwd=tmp_path)
    cut_after_missing = (tmp_path / "out").exists()
    rendered = shotlist("render", "film.yaml", "--no-stitch", "--json", cwd=tmp_path)
    cut_after_no_stitch = (tmp_path / "out").exists()
    clips = finished_clips(store)
    stitched = shotlist("stitch", "film.yaml", cwd=tmp_path)
    elsewhere = shotlist("stitch", "film.yaml", "-o", "cuts/harbour.mp4", cwd=tmp_path)

    assert missing.returncode == 1
    # Not FrozenError's wording: the user did not ask for --frozen.
    assert missing.errors == [
        "error: these shots are not rendered yet: gull, quay; render them with: shotlist render film.yaml"
    ]
    assert not cut_after_missing
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.json["output"] is None
    assert rendered.generated() == ["gull", "quay"]
    assert not cut_after_no_stitch
    assert stitched.returncode == 0, stitched.stderr
    assert stitched.stdout == f"cut: {tmp_path / 'out' / 'film.mp4'}\n"
    assert "submitted" not in stitched.stderr
    assert finished_clips(store) == clips
    assert_cut(tmp_path / "out" / "film.mp4", seconds=HARBOUR_SECONDS, fps=12, size="320x180")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert_cut(tmp_path / "cuts" / "harbour.mp4", seconds=HARBOUR_SECONDS, fps=12, size="320x180")


def test_a_failing_shot_is_one_clear_line_and_the_others_are_kept(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        version: 1
        defaults: {size: 320x180, duration: 1}
        shots:
          - id: harbour
            prompt: Fishing boats rock in the harbour at dawn
          - id: keeper
            prompt: The keeper @Image1 lights the lamp
            images: [refs/keeper.png]
          - id: quay
            prompt: Rain falls on the empty quay
        cut: {size: 320x180, fps: 12}
        """,
    )
    keeper = tmp_path / "refs" / "keeper.png"
    keeper.parent.mkdir()
    keeper.write_bytes(b"\x89PNG\r\n\x1a\n but not really a picture")

    failed = shotlist("render", "film.yaml", cwd=tmp_path)
    kept = list(lock_entries(tmp_path / "film.lock"))
    cut_after_failure = (tmp_path / "out").exists()
    make_image(keeper, "yellow")
    repaired = shotlist("render", "film.yaml", "--json", cwd=tmp_path)

    assert failed.returncode == 1
    assert len(failed.errors) == 1
    line = failed.errors[0]
    assert line.startswith("error: 1 shot failed: shot 'keeper', provider local, job local-")
    assert "reference 'keeper' is not a readable image" in line
    assert failed.stdout == ""
    assert kept == ["harbour", "quay"]
    assert not cut_after_failure
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.sources() == {"harbour": "cache", "keeper": "generated", "quay": "cache"}
    info = assert_cut(tmp_path / "out" / "film.mp4", seconds=3.0, fps=12, size="320x180")
    assert info.frames == 36


def test_an_unreadable_reference_image_is_named_in_the_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        version: 1
        defaults: {size: 320x180, duration: 1}
        shots:
          - id: keeper
            prompt: The keeper @Image1 lights the lamp
            images: [refs/keeper.png]
        cut: {size: 320x180, fps: 12}
        """,
    )
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "keeper.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really a picture")

    failed = shotlist("render", "film.yaml", cwd=tmp_path)

    assert failed.returncode == 1
    assert len(failed.errors) == 1
    assert failed.errors[0].endswith(
        f"reference 'keeper' is not a readable image: {(tmp_path / 'refs' / 'keeper.png').resolve()}"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("render", "absent.yaml"), "absent.yaml"),
        (("render", "film.yaml", "--var", "novalue"), "--var"),
        (("stitch", "film.yaml"), "not rendered"),
    ],
    ids=["missing-file", "bad-var", "nothing-rendered"],
)
def test_errors_are_one_line_without_a_traceback(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    write(tmp_path, HARBOUR)

    run = shotlist(*args, cwd=tmp_path)

    assert run.returncode == 1
    assert len(run.errors) == 1
    assert message in run.errors[0]


OUTPUT_SAFETY = """\
    version: 1
    include: [part.yaml]
    defaults: {size: 320x180, duration: 1, seed: 3}
    references:
      plate: refs/plate.png
    shots:
      - id: harbour
        prompt: Fishing boats rock in the harbour at dawn, before @plate
    cut: {size: 320x180, fps: 12}
    """


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("render", "film.yaml", "-o", "film.yaml"),
            'error: -o "film.yaml": expected a file name ending in .mp4',
        ),
        (
            ("stitch", "film.yaml", "-o", "film.lock"),
            'error: -o "film.lock": expected a file name ending in .mp4',
        ),
        (
            ("render", "film.yaml", "-o", "part.yaml"),
            'error: -o "part.yaml": expected a file name ending in .mp4',
        ),
        (
            ("render", "film.yaml", "-o", ""),
            'error: -o ".": expected a file name ending in .mp4, got a folder',
        ),
        (
            ("render", "film.yaml", "-o", "out"),
            'error: -o "out": expected a file name ending in .mp4, got "out"',
        ),
        (("stitch", "film.yaml", "-o", "film.yaml/cut.mp4"), "film.yaml is a file, not a folder"),
        (
            ("render", "film.yaml", "-o", "refs/../refs/clip.mp4"),
            'error: -o "refs/../refs/clip.mp4": is a reference the storyboard reads; the cut would',
        ),
        (
            ("render", "film.yaml", "-o", "part.mp4"),
            'error: -o "part.mp4": is a file the storyboard includes; the cut would overwrite it',
        ),
        (
            ("render", "film.yaml", "-o", ".shotlist/cut.mp4"),
            'error: -o ".shotlist/cut.mp4": is inside the cache folder .shotlist/',
        ),
        (
            ("render", "cut-on-ref.yaml"),
            'error: cut-on-ref.yaml:10:39: cut.output: "refs/clip.mp4" is a reference the storyboard reads',
        ),
        (
            ("render", "cut-on-dir.yaml"),
            'error: cut-on-dir.yaml:10:39: cut.output: "out.mp4" is an existing folder',
        ),
    ],
    ids=[
        "storyboard",
        "lock",
        "include",
        "empty",
        "folder",
        "through-a-file",
        "reference",
        "include-mp4",
        "cache",
        "cut.output-reference",
        "cut.output-folder",
    ],
)
def test_the_cut_never_overwrites_what_the_render_reads(
    tmp_path: Path, args: tuple[str, ...], line: str
) -> None:
    text = OUTPUT_SAFETY.replace("refs/plate.png", "refs/plate.png\n      clip: refs/clip.mp4")
    text = text.replace("before @plate", "before @plate and @clip")
    write(tmp_path, text)
    write(tmp_path, text.replace("fps: 12}", "fps: 12, output: refs/clip.mp4}"), "cut-on-ref.yaml")
    write(tmp_path, text.replace("fps: 12}", "fps: 12, output: out.mp4}"), "cut-on-dir.yaml")
    (tmp_path / "out.mp4").mkdir()
    (tmp_path / "out").mkdir()
    write(tmp_path, "shots: [{id: quay, prompt: Rain falls on the empty quay}]\n", "part.yaml")
    write(tmp_path, "shots: [{id: quay, prompt: Rain falls on the empty quay}]\n", "part.mp4")
    write(tmp_path, "include: [part.mp4]\n", "part.yaml")  # a part that is also named .mp4
    make_image(tmp_path / "refs" / "plate.png", "yellow")
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=320x180:r=12:d=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(tmp_path / "refs" / "clip.mp4"),
        ],
        step="making a reference clip",
    )
    (tmp_path / "film.lock").write_text('{"shots": [], "version": 1}\n')
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    run = shotlist(*args, cwd=tmp_path)

    assert run.returncode == 1, run.stderr
    assert len(run.errors) == 1, run.errors
    assert line in run.errors[0]
    assert not (tmp_path / ".shotlist" / "clips").exists()  # refused before anything rendered
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_percent_signs_in_every_path_are_taken_literally(tmp_path: Path) -> None:
    folder = tmp_path / "100% film"
    write(
        folder,
        """\
        version: 1
        defaults: {size: 320x180, duration: 1, seed: 3}
        references:
          plate: refs/plate%d.png
        shots:
          - id: harbour
            prompt: 'The keeper @plate says: "100% sure"'
          - id: quay
            prompt: Rain falls on the empty quay
            transition: {type: crossfade, duration: 0.25}
        soundtrack: {music: "music%03d.wav"}
        cut: {size: 320x180, fps: 12, output: "cuts/take%d.mp4", burn_subtitles: true}
        """,
    )
    make_image(folder / "refs" / "plate%d.png", "yellow")
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=3", str(folder / "music%03d.wav")], step="music")
    env = {"SHOTLIST_CACHE_DIR": str(tmp_path / "cache%d")}

    rendered = shotlist("render", "film.yaml", cwd=folder, env=env)
    stitched = shotlist("stitch", "film.yaml", "-o", "again %s.mp4", cwd=folder, env=env)

    assert rendered.returncode == 0, rendered.stderr
    assert stitched.returncode == 0, stitched.stderr
    for cut in (folder / "cuts" / "take%d.mp4", folder / "again %s.mp4"):
        assert_cut(cut, seconds=1.75, fps=12, size="320x180")


def test_a_damaged_cut_cache_and_a_killed_stitchs_leftovers_are_repaired(tmp_path: Path) -> None:
    write(
        tmp_path,
        HARBOUR.replace(
            "prompt: A gull", "transition: {type: crossfade, duration: 0.25}\n        prompt: A gull"
        ),
    )
    first = shotlist("render", "film.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    cut_cache = tmp_path / ".shotlist" / "cut"
    intermediates = sorted(
        p for p in cut_cache.rglob("*") if p.is_file() and p.suffix in (".mp4", ".pcm", ".m4a")
    )
    assert intermediates
    for damaged in intermediates[::2]:  # cut short, as by a full disk
        damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 3])
    # What a stitch killed part-way leaves behind.
    leftovers = [
        cut_cache / "tmp" / "stitch-killed" / "picture.ffconcat",
        cut_cache / "windows" / ".abc.1234abcd.part.mp4",
        cut_cache / "pictures" / ".def.1234abcd.part" / "piece0.mp4",
        tmp_path / "out" / ".film.1234abcd.part.mp4",
    ]
    for leftover in leftovers:
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"\x00\x00\x00\x18ftypisom half")

    again = shotlist("stitch", "film.yaml", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert_cut(tmp_path / "out" / "film.mp4", seconds=HARBOUR_SECONDS - 0.25, fps=12, size="320x180")
    assert [leftover for leftover in leftovers if leftover.exists()] == []

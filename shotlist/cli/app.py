"""The command line: a thin adapter over the library.

Each command parses its arguments, calls the library once, shows its events
and results with rich, and turns errors into one red line each and an exit
code: 0 success, 1 a storyboard, provider or render error, 2 wrong usage.
The one home of ``typer`` and ``rich``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shotlist import __version__
from shotlist.errors import ProviderError, RenderError, ShotlistError, StoryboardError

app = typer.Typer(
    name="shotlist",
    help="Declarative shot-list renderer for AI video models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

FileArg = Annotated[Path, typer.Argument(help="The storyboard YAML file.", show_default=False)]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="Set a template variable: KEY=VALUE (repeatable).")
]
AllowOutsideOpt = Annotated[
    bool, typer.Option("--allow-outside", help="Allow references outside the storyboard's folder.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
CacheOpt = Annotated[
    str | None,
    typer.Option(
        "--cache",
        metavar="URL",
        help="Team cache: s3://bucket/prefix (or SHOTLIST_CACHE_URL); shots are shared and claimed there.",
    ),
]
MatrixOpt = Annotated[
    Path | None,
    typer.Option(
        "--matrix",
        metavar="ROWS.CSV",
        help="Batch: one cut per row; the columns are --var values (cut.output must use one).",
    ),
]
BudgetOpt = Annotated[
    float | None,
    typer.Option("--budget", help="Refuse when the estimated cost exceeds USD.", min=0),
]


def report(error: ShotlistError) -> None:
    """One red line per problem."""
    if isinstance(error, StoryboardError):
        lines = [str(p) for p in error.problems]
    elif isinstance(error, RenderError):
        lines = [failures_line(error)]
    else:
        lines = [str(error)]
    for line in lines:
        err.print(f"[red]error:[/] {escape(line)}")


def failures_line(error: RenderError) -> str:
    """The failed shots in one line; shots refused for the same reason (a wrong key, an empty
    balance) share one mention of it instead of repeating it per shot."""
    groups: dict[tuple[str, str], list[ProviderError]] = {}
    for failure in error.failures:
        groups.setdefault((failure.provider, failure.message), []).append(failure)
    parts = []
    for (provider, message), failures in groups.items():
        if len(failures) == 1:
            parts.append(str(failures[0]))
        else:
            shots = ", ".join(repr(f.shot_id) for f in failures)
            parts.append(
                f"shots {shots}, provider {provider}: {message}" if provider else f"shots {shots}: {message}"
            )
    n = len(error.failures)
    return f"{n} shot{'s' if n != 1 else ''} failed: " + "; ".join(parts)


def fail(error: ShotlistError) -> NoReturn:
    """One red line per problem, exit code 1."""
    report(error)
    raise typer.Exit(1)


def interrupted(hint: str) -> NoReturn:
    """Ctrl-C: say so and what to do next, exit 130. Typer would exit silently (the handler in
    ``main`` never sees the interrupt), leaving the user to guess what was kept."""
    err.print(f"[red]interrupted:[/] {escape(hint)}")
    raise typer.Exit(130)


def warn(lines: list[str]) -> None:
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(line)}")


def version_callback(value: bool) -> None:
    if value:
        out.print(f"shotlist {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Declarative shot-list renderer for AI video models."""


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Storyboard YAML files.", show_default=False)],
    var: VarOpt = None,
    allow_outside: AllowOutsideOpt = False,
    only_storyboards: Annotated[
        bool,
        typer.Option(
            "--only-storyboards",
            help="Skip YAML that is neither a storyboard nor an include part, and check a part"
            " through the storyboards that include it (what the pre-commit hook runs).",
        ),
    ] = False,
) -> None:
    """Check storyboards; exit 0 when all are valid, 1 with one line per problem when not."""
    from shotlist import pipeline
    from shotlist.storyboard import discover, loader

    failed = False
    if only_storyboards:
        targets = discover.check_targets(files, top=Path.cwd())
        files = list(targets.storyboards)
        for part in targets.lone_parts:
            try:
                loader.check_part(part)
            except ShotlistError as exc:
                report(exc)
                failed = True
                continue
            out.print(f"[green]ok[/] {escape(str(part))}: an include part no storyboard includes")
    for file in files:
        try:
            result = pipeline.plan(file, overrides=var or [], allow_outside=allow_outside)
        except ShotlistError as exc:
            report(exc)
            failed = True
            continue
        warn([str(w) for w in result.warnings])
        n = len(result.shots)
        out.print(f"[green]ok[/] {escape(str(file))}: {n} shot{'s' if n != 1 else ''}")
    if failed:
        raise typer.Exit(1)


@app.command()
def plan(
    file: FileArg,
    json_output: JsonOpt = False,
    var: VarOpt = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Render every shot with this provider.")
    ] = None,
    budget: BudgetOpt = None,
    allow_outside: AllowOutsideOpt = False,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="REF",
            help="Compare with the storyboard at this git revision: what changed and what it costs.",
        ),
    ] = None,
    cache: CacheOpt = None,
    matrix: MatrixOpt = None,
) -> None:
    """Show the exact request of every shot, what is new, changed or cached, and the cost."""
    from shotlist import pipeline

    if against is not None:
        review_against(file, against, json_output, var or [], provider, allow_outside)
        return
    if matrix is not None:
        plan_matrix(file, matrix, json_output, var or [], provider, budget, allow_outside, cache)
        return
    try:
        result = pipeline.plan(
            file,
            overrides=var or [],
            provider=provider,
            allow_outside=allow_outside,
            budget=budget,
            cache=cache,
        )
    except ShotlistError as exc:
        fail(exc)
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    warn([str(w) for w in result.warnings])
    show_plan(result)


def review_against(
    file: Path, ref: str, json_output: bool, var: list[str], provider: str | None, allow_outside: bool
) -> None:
    """``plan --against REF``: the change since a git revision, as a table or JSON."""
    from shotlist import pipeline

    try:
        review = pipeline.plan_against(
            file, ref, overrides=var, provider=provider, allow_outside=allow_outside
        )
    except ShotlistError as exc:
        fail(exc)
    if json_output:
        sys.stdout.write(json.dumps(review.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    show_review(review)


def show_review(review: Any) -> None:
    """Added, removed, changed (with the fields), unchanged; then the money."""
    ref = review.against
    title = f"{review.storyboard} against {ref} ({review.commit[:10]})"
    if not review.existed:
        out.print(f"{escape(review.storyboard)} did not exist at {escape(ref)}: every shot is added")
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for header in ("", "shot", "what changed", "to render", f"spent at {ref}"):
        table.add_column(header, justify="right" if header.startswith(("to ", "spent")) else "left")
    rendering = {s.request.id for s in review.to_render}
    costs = {s.request.id: s.estimated_cost_usd for s in review.to_render}

    def price(shot_id: str) -> str:
        return f"${costs[shot_id]:.2f}" if shot_id in rendering else "-"

    def paid(shot_id: str) -> str:
        value = review.spent_at_ref.get(shot_id)
        return f"${value:.2f}" if value is not None else ""

    for shot in review.added:
        table.add_row("[cyan]added[/]", escape(shot.request.id), "", price(shot.request.id), "")
    for change in review.changed:
        table.add_row(
            "[yellow]changed[/]",
            escape(change.id),
            escape(", ".join(change.fields)),
            price(change.id),
            paid(change.id),
        )
    for shot in review.removed:
        table.add_row("[red]removed[/]", escape(shot.request.id), "", "", paid(shot.request.id))
    out.print(table)
    n = len(review.unchanged)
    out.print(f"unchanged: {n} shot{'s' if n != 1 else ''}")
    m = len(review.to_render)
    out.print(
        f"to render: ${review.to_render_usd:.2f} ({m} shot{'s' if m != 1 else ''}); "
        f"spent at {escape(ref)} on shots now removed: ${review.spent_on_removed_usd:.2f}, "
        f"on shots now changed: ${review.spent_on_changed_usd:.2f}"
    )


def _take_label(shot: Any, take: Any) -> str:
    if len(shot.all_takes) == 1:
        return str(shot.request.id)
    return f"{shot.request.id} take {take.take}" + (" (pick)" if take.take == shot.pick else "")


def _status_label(shot: Any, take: Any) -> str:
    return f"waits on {', '.join(shot.waits_on)}" if take.status == "waiting" else str(take.status)


def plan_matrix(
    file: Path,
    matrix: Path,
    json_output: bool,
    var: list[str],
    provider: str | None,
    budget: float | None,
    allow_outside: bool,
    cache: str | None,
) -> None:
    """``plan --matrix``: per row its shots, what is cached and its cost alone; then the batch's
    cost with shared shots counted once."""
    from shotlist.batch.run import plan_matrix as make_plan

    try:
        batch = make_plan(
            file,
            matrix,
            overrides=var,
            provider=provider,
            allow_outside=allow_outside,
            budget=budget,
            cache=cache,
        )
    except ShotlistError as exc:
        fail(exc)
    summary = batch.to_json()
    if json_output:
        sys.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return
    for row in batch.rows:
        cached = sum(1 for s in row.plan.shots if s.status == "cached")
        values = ", ".join(f"{k}={v}" for k, v in row.row.values.items())
        out.print(
            f"{row.row.label} ({escape(values)}): {escape(str(row.output))}: {len(row.plan.shots)} shots, "
            f"{cached} cached, ${row.estimated_cost_usd:.2f} on its own"
        )
    out.print(
        f"{len(batch.rows)} rows, {summary['shots']} shots, "
        f"{summary['distinct_requests']} distinct requests, {summary['to_render']} to render: "
        f"estimated cost [bold]${batch.total_estimated_cost_usd:.2f}[/] "
        f"(rows one by one: ${batch.rows_one_by_one_cost_usd:.2f})"
    )


def show_plan(result: Any) -> None:
    """One row per take (a shot without takes is one row), then the requests and the total."""
    takes = [(shot, take) for shot in result.shots for take in shot.all_takes]
    rows = [
        (
            _take_label(shot, take),
            _status_label(shot, take),
            f"{r.provider}/{r.model}",
            f"{r.duration:g}s",
            str(r.seed),
            r.size,
            str(len(r.media) + (r.first_frame is not None) + (r.last_frame is not None)),
            f"${take.estimated_cost_usd:.2f}",
            r.prompt,
        )
        for shot, take in takes
        for r in [take.request]
    ]
    statuses = [take.status for _, take in takes]
    headers = ("shot", "status", "provider/model", "dur", "seed", "size", "refs", "cost", "prompt")
    table = Table(title=result.title, title_justify="left", box=None, pad_edge=False)
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers[:-1])]
    for header, width in zip(headers, widths, strict=False):
        # Every column but the prompt keeps its full width; the prompt takes what is left.
        table.add_column(
            header,
            justify="right" if header in ("dur", "seed", "cost") else "left",
            no_wrap=True,
            min_width=width,
        )
    room = out.width - sum(widths) - 2 * len(widths)
    if room >= 16:
        table.add_column("prompt", no_wrap=True, overflow="ellipsis", max_width=room)
    colours = {"new": "cyan", "changed": "yellow", "cached": "green", "waiting": "magenta"}
    for row, status in zip(rows, statuses, strict=True):
        cells = [escape(cell) for cell in row[: len(table.columns)]]
        cells[1] = f"[{colours[status]}]{escape(row[1])}[/]"
        table.add_row(*cells)
    out.print(table)
    show_requests(result)
    counts = {s: statuses.count(s) for s in ("new", "changed", "cached", "waiting")}
    seconds = sum(x.request.duration for x in result.shots)
    extra_takes = f" ({len(takes)} takes)" if len(takes) != len(result.shots) else ""
    waiting = f", {counts['waiting']} waiting" if counts["waiting"] else ""
    out.print(
        f"{len(result.shots)} shots{extra_takes}, {seconds:g}s of video: "
        f"{counts['new']} new, {counts['changed']} changed, {counts['cached']} cached{waiting}; "
        f"estimated cost [bold]${result.total_estimated_cost_usd:.2f}[/]"
    )


def show_requests(result: Any) -> None:
    """Each shot's prompt exactly as the provider receives it, its media in order, its notes."""
    width = max(len(shot.request.id) for shot in result.shots)
    for shot in result.shots:
        r = shot.request
        out.print(f"\n[bold]{escape(r.id.ljust(width))}[/]  {escape(r.prompt)}")
        for i, media in enumerate(r.media):
            where = str(media.path) if media.path else media.url
            out.print(
                f"{'':{width}}  [dim]{media.kind} {i + 1}:[/] {escape(media.name)} ({escape(str(where))})"
            )
        for slot in ("first_frame", "last_frame"):
            frame = getattr(r, slot)
            need = next((n for n in shot.frames if n.slot == slot), None)
            if need is not None:
                seen = "" if frame is not None else f" (waits on {need.shot})"
                out.print(f"{'':{width}}  [dim]{slot}:[/] from shot {escape(need.shot)}{seen}")
            elif frame is not None:
                out.print(f"{'':{width}}  [dim]{slot}:[/] {escape(str(frame.path or frame.url))}")
        for note in shot.notes:
            out.print(f"{'':{width}}  [yellow]note:[/] {escape(note)}")


@app.command()
def render(
    file: FileArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the cut here.")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Render every shot with this provider.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Shots in flight per provider.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Render just this shot (repeatable).")
    ] = None,
    var: VarOpt = None,
    budget: BudgetOpt = None,
    frozen: Annotated[
        bool, typer.Option("--frozen", help="Submit nothing; fail if a shot is missing.")
    ] = False,
    no_stitch: Annotated[
        bool, typer.Option("--no-stitch", help="Render shots; do not build the cut.")
    ] = False,
    json_output: JsonOpt = False,
    allow_outside: AllowOutsideOpt = False,
    cache: CacheOpt = None,
    matrix: MatrixOpt = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="With --matrix: previz renders and stitches on Ray (or RAY_ADDRESS; 'local' starts one).",
        ),
    ] = None,
) -> None:
    """Render what is missing or changed, record the lock, and stitch the cut."""
    from shotlist import pipeline
    from shotlist.cli.display import Display

    if matrix is not None:
        if output is not None or only or no_stitch:
            raise typer.BadParameter(
                "-o, --only and --no-stitch do not go with --matrix", param_hint="--matrix"
            )
        render_matrix(
            file,
            matrix,
            cluster,
            provider,
            concurrency,
            var or [],
            budget,
            frozen,
            json_output,
            allow_outside,
            cache,
        )
        return
    if cluster is not None:
        raise typer.BadParameter("a cluster runs a batch: add --matrix ROWS.CSV", param_hint="--cluster")

    with Display(err, quiet=False) as display:
        try:
            result = pipeline.render(
                file,
                overrides=var or [],
                provider=provider,
                concurrency=concurrency,
                only=only or [],
                budget=budget,
                frozen=frozen,
                stitch=not no_stitch,
                output=output,
                allow_outside=allow_outside,
                hook=display.hook,
                cache=cache,
            )
        except ShotlistError as exc:
            display.close()
            if json_output and isinstance(exc, RenderError) and exc.partial is not None:
                # Scripts still learn which shots finished and were kept.
                kept = {**exc.partial.to_json(), "failed": [f.shot_id for f in exc.failures]}  # type: ignore[attr-defined]
                sys.stdout.write(json.dumps(kept, indent=2, ensure_ascii=False) + "\n")
            fail(exc)
        except KeyboardInterrupt:
            display.close()
            interrupted("run the same command again to resume: jobs already submitted are not paid for twice")
    if json_output:
        sys.stdout.write(json.dumps({**result.to_json(), "failed": []}, indent=2, ensure_ascii=False) + "\n")
        return
    generated = sum(1 for s in result.shots if s.source == "generated")
    n = len(result.shots)
    summary = f"{n} shot{'s' if n != 1 else ''}: {generated} rendered, {n - generated} from the cache"
    out.print(summary + (f"; cut: {escape(str(result.output))}" if result.output else ""))


def render_matrix(
    file: Path,
    matrix: Path,
    cluster: str | None,
    provider: str | None,
    concurrency: int | None,
    var: list[str],
    budget: float | None,
    frozen: bool,
    json_output: bool,
    allow_outside: bool,
    cache: str | None,
) -> None:
    """``render --matrix``: the shots' progress, one line per row as its cut is ready, a summary."""
    import asyncio

    from shotlist.batch.run import arender_matrix
    from shotlist.cli.display import Display
    from shotlist.events import Event, RowFinished

    with Display(err, quiet=False) as display:

        def hook(event: Event) -> None:
            if isinstance(event, RowFinished):
                err.print(row_line(event))
            else:
                display.hook(event)

        try:
            result = asyncio.run(
                arender_matrix(
                    file,
                    matrix,
                    overrides=var,
                    provider=provider,
                    concurrency=concurrency,
                    budget=budget,
                    frozen=frozen,
                    allow_outside=allow_outside,
                    hook=hook,
                    cache=cache,
                    cluster=cluster,
                )
            )
        except ShotlistError as exc:
            display.close()
            fail(exc)
        except KeyboardInterrupt:
            display.close()
            interrupted("run the same command again to resume: jobs already submitted are not paid for twice")
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    failed = sum(1 for r in result.rows if r.error)
    out.print(
        f"{len(result.rows)} rows, {len(result.rows) - failed} cuts: {result.plan.shots} shots, "
        f"{result.distinct} distinct requests, {result.submitted} jobs submitted, "
        f"{result.cache_hits} from the cache; estimated cost ${result.cost_usd:.2f}"
    )
    if failed:
        raise typer.Exit(1)


def row_line(event: Any) -> str:
    if event.error:
        return f"[red]{escape(event.row)}: error:[/] {escape(event.error)}"
    return (
        f"[green]{escape(event.row)}[/]: {escape(event.output)}: {event.shots} shots, "
        f"{event.rendered} rendered, {event.cached} from the cache"
    )


@app.command()
def watch(
    file: FileArg,
    port: Annotated[
        int | None,
        typer.Argument(
            metavar="[PORT]",
            help="Port of --serve: default 8765 (or SHOTLIST_PREVIEW_PORT); 0 picks a free one.",
            show_default=False,
            min=0,
            max=65535,
        ),
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve a live preview page on 127.0.0.1:PORT.")
    ] = False,
    var: VarOpt = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget", help="Spend at most USD in this session, estimated (or SHOTLIST_BUDGET).", min=0
        ),
    ] = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Render changed shots with the local engine, for free.")
    ] = False,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Render every shot with this provider.")
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the cut here.")] = None,
    allow_outside: AllowOutsideOpt = False,
) -> None:
    """Re-render what changed on every save: re-plan, render changed shots, restitch. Ctrl-C stops."""
    import asyncio

    from shotlist.watchmode import session as watching

    if port is not None and not serve:
        raise typer.BadParameter("a port is for the preview page: add --serve", param_hint="PORT")
    try:
        options = watching.WatchOptions.resolve(
            budget=budget,
            overrides=var or [],
            provider=provider,
            preview=preview,
            allow_outside=allow_outside,
            output=output,
            page_assets=serve,
        )
        asyncio.run(watch_session(file, options, watching.preview_port(port) if serve else None))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how watching ends
    except ShotlistError as exc:
        fail(exc)
    err.print("stopped")


async def watch_session(file: Path, options: Any, port: int | None) -> None:
    """The watch loop with its display, and the preview page when ``port`` is given.
    SIGTERM stops it as Ctrl-C does: the running cycle is cancelled and waited for."""
    import asyncio
    import contextlib
    import signal

    from shotlist.watchmode import session as watching
    from shotlist.watchmode.server import PreviewServer

    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on this platform's loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    view = WatchView(err)
    with contextlib.ExitStack() as stack:
        hooks = [view.hook]
        if port is not None:
            from shotlist import pipeline

            def pick(shot: str, take: int) -> object:
                # The page's pick button: the storyboard is edited; the watch loop sees the save.
                return pipeline.pick(file, shot, take, overrides=options.overrides)

            server = stack.enter_context(PreviewServer(port, pick=pick))
            hooks.append(server.hook)
            out.print(f"preview: {server.url}")

        def hook(event: Any) -> None:
            for each in hooks:
                each(event)

        async with contextlib.aclosing(watching.watch(file, options, hook=hook, stop_event=stop)) as cycles:
            async for cycle in cycles:
                view.summary(cycle)


class WatchView:
    """Watch mode on the console: each cycle's render display, then one line saying what it did."""

    def __init__(self, console: Console) -> None:
        from shotlist.cli.display import Display
        from shotlist.watchmode import session as watching

        self.console = console
        self.display: Display | None = None
        # What the preview page shows; the summary line says it here.
        self.page_only = (
            watching.CyclePlanned,
            watching.ThumbnailReady,
            watching.CutReady,
            watching.BudgetRefused,
        )

    def hook(self, event: Any) -> None:
        import time

        from shotlist.cli.display import Display
        from shotlist.events import ShotCached
        from shotlist.watchmode import session as watching

        if isinstance(event, watching.WatchStarted):
            others = len(event.watching) - 1
            more = f" and {others} file{'s' if others != 1 else ''} it uses" if others > 0 else ""
            self.console.print(f"watching {escape(event.file)}{more}; Ctrl-C stops")
        elif isinstance(event, watching.CycleStarted):
            if event.changes:
                names = ", ".join(Path(p).name for p in event.changes)
                self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] changed: {escape(names)}")
            self.display = Display(self.console).__enter__()
        elif isinstance(event, watching.CycleFinished):
            self.close()
        elif self.display is not None and not isinstance(event, self.page_only):
            if isinstance(event, ShotCached) and not self.console.is_terminal:
                return  # every unchanged shot, every cycle: the summary counts them
            self.display.hook(event)

    def close(self) -> None:
        if self.display is not None:
            self.display.close()
            self.display = None

    def summary(self, cycle: Any) -> None:
        money = ""
        if cycle.budget_usd is not None:
            money = f"; spent ${cycle.spent_usd:.2f} of ${cycle.budget_usd:.2f}"
        elif cycle.spent_usd:
            money = f"; spent ${cycle.spent_usd:.2f}"
        took = f" ({cycle.seconds:.1f} s)"
        if cycle.ok:
            rendered = len(cycle.rendered)
            names = f" ({escape(', '.join(cycle.rendered))})" if rendered else ""
            cached = len(cycle.shots) - rendered
            what = "cut ready" if cycle.outcome == "built" else "cut unchanged"
            self.console.print(
                f"[green]{what}[/] {escape(str(cycle.cut))}: {rendered} rendered{names}, "
                f"{cached} from the cache{money}{took}"
            )
            return
        for line in cycle.errors:
            self.console.print(f"[red]error:[/] {escape(line)}")
        kept = f"keeping the last good cut: {escape(str(cycle.cut))}" if cycle.cut else "no cut yet"
        self.console.print(f"[yellow]{kept}[/]{money}; watching for the next save")


@app.command("stitch")
def stitch_command(
    file: FileArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the cut here.")] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider the shots were rendered with.")
    ] = None,
    var: VarOpt = None,
    allow_outside: AllowOutsideOpt = False,
    cache: CacheOpt = None,
) -> None:
    """Rebuild the cut from rendered shots only; submits nothing."""
    from shotlist import pipeline
    from shotlist.cli.display import Display

    with Display(err, quiet=False) as display:
        try:
            cut = pipeline.stitch(
                file,
                overrides=var or [],
                provider=provider,
                output=output,
                allow_outside=allow_outside,
                hook=display.hook,
                cache=cache,
            )
        except ShotlistError as exc:
            display.close()
            fail(exc)
        except KeyboardInterrupt:
            display.close()
            interrupted("run the same command again to build the cut")
    out.print(f"cut: {escape(str(cut))}")


@app.command("pick")
def pick_command(
    file: FileArg,
    shot: Annotated[str, typer.Argument(help="The shot's id.")],
    take: Annotated[int, typer.Argument(help="The take to put in the cut (1..takes).")],
    var: VarOpt = None,
) -> None:
    """Choose a take: edits the storyboard in place, keeping comments; submits nothing."""
    from shotlist import pipeline

    try:
        edited = pipeline.pick(file, shot, take, overrides=var or [])
    except ShotlistError as exc:
        fail(exc)
    out.print(
        f"{escape(shot)}: pick {take} ({escape(str(edited))}); "
        f"shotlist render {escape(str(file))} restitches the cut from the cache"
    )


@app.command("takes")
def takes_command(
    file: FileArg,
    shot: Annotated[str, typer.Argument(help="The shot's id.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the contact sheet (PNG) here.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="The provider the shots were rendered with.")
    ] = None,
    var: VarOpt = None,
    allow_outside: AllowOutsideOpt = False,
) -> None:
    """Contact sheet of a shot's takes: start, middle and end frames, one row per take."""
    from shotlist import pipeline

    try:
        sheet = pipeline.takes_sheet(
            file, shot, output=output, overrides=var or [], provider=provider, allow_outside=allow_outside
        )
    except ShotlistError as exc:
        fail(exc)
    out.print(f"contact sheet: {escape(str(sheet))}")


class ExportFormat(StrEnum):
    otio = "otio"
    otioz = "otioz"
    edl = "edl"
    fcp7xml = "fcp7xml"
    fcpxml = "fcpxml"


@app.command("export")
def export_command(
    file: FileArg,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="otio (relative to out/<name>.media), otioz (timeline and media in one file),"
            " edl (CMX 3600), fcp7xml (Premiere, Resolve, FCP 7), fcpxml (Final Cut Pro X).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of beside the cut.")
    ] = None,
    var: VarOpt = None,
    allow_outside: AllowOutsideOpt = False,
) -> None:
    """Write the cut's timeline for an editor (after render or stitch)."""
    from shotlist import pipeline

    try:
        written = pipeline.export(
            file, fmt.value, output=output, overrides=var or [], allow_outside=allow_outside
        )
    except ShotlistError as exc:
        fail(exc)
    out.print(f"{fmt.value}: {escape(str(written))}")


@app.command()
def schema(
    part: Annotated[
        bool, typer.Option("--part", help="Print the schema of an included file (a part) instead.")
    ] = False,
) -> None:
    """Print the storyboard JSON Schema."""
    from shotlist.storyboard.schema import part_schema, storyboard_schema

    sys.stdout.write(json.dumps(part_schema() if part else storyboard_schema(), indent=2) + "\n")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder of the new project.")] = Path("."),
) -> None:
    """Scaffold a storyboard project: a commented storyboard, refs/, and a .gitignore."""
    from shotlist.storyboard import scaffold

    try:
        created = scaffold.init_project(directory)
    except ShotlistError as exc:
        fail(exc)
    for path in created:
        out.print(f"created {escape(str(path))}")
    out.print(f"next: shotlist render {escape(str(directory / scaffold.STORYBOARD_NAME))}")


@app.command()
def providers(json_output: JsonOpt = False) -> None:
    """List providers, their models, limits, prices and the settings they need."""
    from shotlist import pipeline

    rows = pipeline.provider_rows()
    if json_output:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for row in rows:
        if row["key_env"]:
            state = "[green]set[/]" if row["key_set"] else "[yellow]not set[/]"
            setting = f"{row['key_env']}: {state}; base URL from {row['base_url_env']}"
            setting += f" (default {row['default_base_url']})"
        else:
            setting = "no key needed"
        setting += f"; references in prompts as {escape(row['token_form'])}"
        if not row["renders"]:
            setting += "; [dim]plan and price only[/]"
        out.print(f"[bold]{row['provider']}[/]  {setting}")
        for model in row["models"]:
            aliases = f" (also {', '.join(model['aliases'])})" if model["aliases"] else ""
            price = f"${model['price_per_second_usd']:.2f}/s"
            out.print(
                f"  {escape(model['name'])}{escape(aliases)}: {model['durations']}; {model['references']}"
            )
            ratios, tiers = " ".join(model["aspect_ratios"]), " ".join(model["resolutions"])
            seeds = "honoured" if model["seeds"] else "ignored"
            out.print(f"    ratios {ratios}; resolutions {tiers}; seeds {seeds}; {price}")
            if model["sizes"]:
                out.print(f"    sizes {'; '.join(model['sizes'])} (others map to the nearest)")


def serve_value_apart(argv: list[str]) -> list[str]:
    """``watch FILE --serve=8080`` as ``watch FILE --serve 8080``: ``--serve`` is a flag and the
    port its own argument, which click would refuse when written with "=". The port goes last,
    where it can only be the PORT argument, whatever order the rest is in."""
    if "watch" not in argv:
        return argv
    ports = [a.split("=", 1)[1] for a in argv if a.startswith("--serve=")]
    rest = ["--serve" if a.startswith("--serve=") else a for a in argv]
    return rest + ports


def main() -> None:
    """Entry point of the ``shotlist`` console script."""
    try:
        app(args=serve_value_apart(sys.argv[1:]))
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    except OSError as exc:
        # The last line of defence for what the library did not foresee (a disk filling
        # up mid-write, a folder turned read-only): one line naming the file, not a stack.
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"[red]error:[/] {escape(where + (exc.strerror or str(exc)))}")
        sys.exit(1)

"""A batch: one storyboard times a table of rows (``--matrix rows.csv``), one cut per row.

The CSV's header names template variables; each row's values are ``--var`` values for
that row (read as YAML scalars, as ``--var`` does). Every row is planned on its own, and
the plans are then merged by request hash: a shot identical across rows is one request,
rendered and paid for once. Each row's cut goes to its own ``cut.output``, which must
therefore depend on a column (``cut.output: "out/{{ name }}.mp4"``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shotlist.errors import ConfigError, StoryboardError
from shotlist.planner import Plan, cost_to_render, estimate_cost
from shotlist.request import ShotRequest
from shotlist.suggest import suggest


@dataclass(frozen=True)
class Row:
    """One data row: ``number`` counts from 1 (line ``number + 1`` of the file)."""

    number: int
    values: Mapping[str, object]

    @property
    def label(self) -> str:
        return f"row {self.number}"


@dataclass(frozen=True)
class RowPlan:
    row: Row
    plan: Plan
    output: Path

    @property
    def estimated_cost_usd(self) -> float:
        """What this row would cost rendered on its own (each of its requests once)."""
        return cost_to_render(self.plan.shots)


@dataclass(frozen=True)
class MatrixPlan:
    """Every row's plan, and the requests they share."""

    rows: tuple[RowPlan, ...]

    @property
    def shots(self) -> int:
        return sum(len(r.plan.shots) for r in self.rows)

    def distinct(self) -> dict[str, ShotRequest]:
        """One request per hash, the first row's, in row then storyboard order."""
        found: dict[str, ShotRequest] = {}
        for row in self.rows:
            for shot in row.plan.shots:
                for take in shot.all_takes:
                    found.setdefault(take.request.hash, take.request)
        return found

    def to_render(self) -> dict[str, ShotRequest]:
        """The distinct requests not cached yet."""
        todo: dict[str, ShotRequest] = {}
        for row in self.rows:
            for shot in row.plan.shots:
                for take in shot.all_takes:
                    if take.status != "cached":
                        todo.setdefault(take.request.hash, take.request)
        return todo

    @property
    def total_estimated_cost_usd(self) -> float:
        return sum(estimate_cost(r) for r in self.to_render().values())

    @property
    def rows_one_by_one_cost_usd(self) -> float:
        return sum(r.estimated_cost_usd for r in self.rows)

    def to_json(self) -> dict[str, object]:
        return {
            "rows": [
                {
                    "row": r.row.number,
                    "vars": dict(r.row.values),
                    "output": str(r.output),
                    "shots": len(r.plan.shots),
                    "cached": sum(1 for s in r.plan.shots if s.status == "cached"),
                    "estimated_cost_usd": round(r.estimated_cost_usd, 4),
                }
                for r in self.rows
            ],
            "shots": self.shots,
            "distinct_requests": len(self.distinct()),
            "to_render": len(self.to_render()),
            "rows_one_by_one_cost_usd": round(self.rows_one_by_one_cost_usd, 4),
            "total_estimated_cost_usd": round(self.total_estimated_cost_usd, 4),
        }


def read_rows(path: Path, variables: frozenset[str]) -> list[Row]:
    """The rows of a CSV file whose header names some of ``variables``. Raises ConfigError
    naming the file (and line) and what is wrong."""
    from shotlist.storyboard.loader import parse_var_overrides

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(f"--matrix: {path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--matrix: {path}: cannot read it as UTF-8 text ({exc})") from exc
    try:
        lines = list(csv.reader(text.splitlines(), strict=True))
    except csv.Error as exc:
        raise ConfigError(f"--matrix: {path}: not valid CSV ({exc})") from exc
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if not lines:
        raise ConfigError(f"--matrix: {path}: empty; expected a header row of variable names, then rows")
    header = [cell.strip() for cell in lines[0]]
    _check_header(path, header, variables)
    if len(lines) == 1:
        raise ConfigError(f"--matrix: {path}: a header but no rows")
    rows = []
    for number, cells in enumerate(lines[1:], start=1):
        if len(cells) != len(header):
            raise ConfigError(
                f"--matrix: {path}: row {number} has {len(cells)} values, the header names {len(header)}"
            )
        try:
            values = parse_var_overrides([f"{k}={v.strip()}" for k, v in zip(header, cells, strict=True)])
        except StoryboardError as exc:
            raise ConfigError(f"--matrix: {path}: row {number}: {exc}") from exc
        rows.append(Row(number, values))
    return rows


def _check_header(path: Path, header: Sequence[str], variables: frozenset[str]) -> None:
    for column in header:
        if not column:
            raise ConfigError(f"--matrix: {path}: a column has no name")
        if header.count(column) > 1:
            raise ConfigError(f"--matrix: {path}: column {column!r} appears twice")
        if column not in variables:
            hint = suggest(column, sorted(variables))
            known = (
                f'did you mean "{hint}"?' if hint else f"variables: {', '.join(sorted(variables)) or 'none'}"
            )
            raise ConfigError(
                f"--matrix: {path}: column {column!r} is not a variable of the storyboard; {known}"
            )


def check_supported(rows: Sequence[RowPlan]) -> None:
    """A batch renders every row's requests at once: a shot that starts on another shot's frame
    (its request is only known once that shot is rendered) cannot be part of one yet."""
    for row in rows:
        for shot in row.plan.shots:
            if shot.waits_on:
                raise ConfigError(
                    f"--matrix: shot {shot.request.id!r} starts on a frame of {', '.join(shot.waits_on)}, "
                    "which a batch cannot render yet; render the rows one by one with --var"
                )


def check_outputs(rows: Sequence[RowPlan]) -> None:
    """Each row writes its own cut."""
    seen: dict[Path, RowPlan] = {}
    for row in rows:
        other = seen.setdefault(row.output.resolve(), row)
        if other is not row:
            raise ConfigError(
                f"--matrix: {other.row.label} and {row.row.label} both write {row.output}; make "
                'cut.output depend on a column, e.g. cut.output: "out/{{ name }}.mp4"'
            )

"""Storyboard expansion: ``use:`` templates, ``each:`` loops and Jinja2, in a sandbox.

The one home of ``jinja2``. Expansion runs on the plain values the YAML
reader produced, before the models validate them, and carries a source
position for every value it produces, so that an error in an expanded shot
still points at the line the user wrote (in the shot, its template, or an
included file).

Templates run in Jinja2's ``SandboxedEnvironment`` with ``StrictUndefined``
and no globals: they see the storyboard's variables and nothing else, so they
cannot read files, the environment or Python internals.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shotlist.errors import Problem
from shotlist.storyboard.source import Path_, Pos, SourceMap, field_path
from shotlist.suggest import suggest

# Mapping fields that merge key by key when a shot overrides its template or the defaults.
MERGED_FIELDS = frozenset({"camera", "params", "trim", "transition", "vars"})
# Fields consumed by expansion itself; they never reach the expanded shot.
EXPANSION_FIELDS = ("use", "each", "vars")
# Fields that are text whatever they render to: `id: "{{ n }}"` is the id "3", not the number 3.
TEXT_FIELDS = frozenset(
    {
        "id",
        "prompt",
        "title",
        "model",
        "use",
        "dialogue",
        "images",
        "videos",
        "audios",
        "image",
        "video",
        "audio",
        "music",
        "output",
        "size",
        "aspect_ratio",
        "references",
    }
)
MAX_SEQUENCE = 10_000  # largest string or list a template may build with * or **
MAX_TEXT = 100_000  # longest text a template may build, in one step or one field
MAX_NUMBER_BITS = 4_096  # largest number a template may compute (about 1200 digits)
MAX_SHOTS = 10_000
MAX_STEPS = 1_000_000  # loop iterations and checked operations per storyboard, all templates together
MAX_SECONDS = 5.0  # wall time for all of a storyboard's templates: the backstop of MAX_STEPS
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)
# A width or precision of 10000 or more in a %-style or {}-style format string, or one
# taken from the arguments (``%*s``, ``{0:{1}}``), where it cannot be checked beforehand.
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\d{5,}|\d*\.\d{5,}|\*|\d*\.\*)|\{[^{}]*:[^{}]*(?:\d{5,}|\{)")
# Filters and str methods whose number arguments set the size of what they build.
_SIZED = frozenset(
    {
        "center",
        "ljust",
        "rjust",
        "zfill",
        "expandtabs",
        "indent",
        "wordwrap",
        "batch",
        "slice",
        "truncate",
    }
)


class OutOfBudget(SecurityError):
    """The storyboard's templates together did more work than one storyboard may."""


class _Budget(threading.local):
    """The template work left to the expansion running in this thread. Loops that print
    nothing (three nested loops over a long text) are bounded by steps, not by output."""

    steps = 0
    deadline: float | None = None
    spent = False


_BUDGET = _Budget()


@contextlib.contextmanager
def template_budget(steps: int = MAX_STEPS, seconds: float = MAX_SECONDS) -> Iterator[None]:
    """Bound the template work done inside the block (in this thread)."""
    saved = (_BUDGET.steps, _BUDGET.deadline, _BUDGET.spent)
    _BUDGET.steps, _BUDGET.deadline, _BUDGET.spent = steps, time.monotonic() + seconds, False
    try:
        yield
    finally:
        _BUDGET.steps, _BUDGET.deadline, _BUDGET.spent = saved


def _tick(cost: int = 1) -> None:
    if _BUDGET.deadline is None:
        return
    _BUDGET.steps -= cost
    # The clock is read every 1024 steps: cheap, and still within milliseconds of the limit.
    late = _BUDGET.steps % 1024 == 0 and time.monotonic() > _BUDGET.deadline
    if _BUDGET.steps < 0 or late or _BUDGET.spent:
        _BUDGET.spent = True
        raise OutOfBudget(
            f"the templates do too much work (more than {MAX_STEPS:,} steps or {MAX_SECONDS:g} s "
            "for the whole storyboard); simplify the loops"
        )


def budget_spent() -> bool:
    return _BUDGET.spent


def _budgeted(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _check_growth(name: str, receiver: Any, args: tuple[Any, ...]) -> None:
    """Refuse, before it runs, a filter or str method call that would build a huge value
    (``'a'|center(10**9)``, ``s|replace('a', long)``, ``'%999999s'|format(x)``)."""
    if name in _SIZED and any(isinstance(a, int) and abs(a) > MAX_SEQUENCE for a in args):
        raise SecurityError(f"{name} with a number larger than {MAX_SEQUENCE}")
    if name in ("format", "format_map") and isinstance(receiver, str) and _WIDE_FORMAT.search(receiver):
        raise SecurityError("format width too large")
    if name == "replace" and isinstance(receiver, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = receiver.count(old) if old else len(receiver) + 1
        predicted = len(receiver) + count * (len(new) - len(old))
    elif name == "indent" and isinstance(receiver, str):
        width = args[0] if args else 4
        predicted = len(receiver) + (receiver.count("\n") + 1) * (
            width if isinstance(width, int) else _size(width)
        )
    elif name == "join":
        predicted = max(_size(receiver), 1) * max((_size(a) for a in args), default=1)
    else:
        return
    if predicted > MAX_TEXT:
        raise SecurityError("value too large")


def _checked_result(value: Any) -> Any:
    if _size(value) > MAX_TEXT:
        raise SecurityError("value too large")
    return value


def _checked_filter(name: str, func: Any) -> Any:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context/environment first

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _tick(1 + max((_size(a) for a in args), default=0) // 64)  # a filter walks its input
        _check_growth(name, args[skip] if len(args) > skip else None, (*args[skip + 1 :], *kwargs.values()))
        return _checked_result(func(*args, **kwargs))

    return checked


class _CodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a call the sandbox checks, as it checks ``*`` and ``+``."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Every loop iterates through environment.budgeted, which counts the steps.
        node.iter = nodes.Call(nodes.EnvironmentAttribute("budgeted"), [node.iter], [], None, None)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox (which also keeps templates from changing the variables they are given),
    refusing too the operations that would build huge values or numbers."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def budgeted(self, iterable: Any) -> Iterator[Any]:
        return _budgeted(iterable)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if isinstance(left, int) and isinstance(right, int):
            bits = {"**": left.bit_length() * right, "*": left.bit_length() + right.bit_length()}
            if bits.get(operator, 0) > MAX_NUMBER_BITS:
                raise SecurityError("number too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError("value too large")
        if operator == "+" and _size(left) + _size(right) > MAX_TEXT:
            raise SecurityError("value too large")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("format width too large")
        return _checked_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        name = getattr(__obj, "__name__", "")
        receiver = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(receiver, str):
            _check_growth(name, receiver, (*args, *kwargs.values()))
        return _checked_result(super().call(__context, __obj, *args, **kwargs))

    def checked_concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_TEXT:
            raise SecurityError("value too large")
        return "".join(texts)


@functools.cache
def _environment() -> _Sandbox:
    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # No globals at all: range, lipsum, cycler, joiner, namespace and dict are gone.
    env.globals.clear()
    env.filters = {name: _checked_filter(name, func) for name, func in env.filters.items()}
    return env


def _render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render with a budget: a loop cannot print more than one field may hold."""
    parts, size = [], 0
    for part in template.generate(context):
        _tick()
        size += len(part)
        if size > MAX_TEXT:
            raise SecurityError(f"a field may render at most {MAX_TEXT} characters")
        parts.append(part)
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> jinja2.Template:
    return _environment().from_string(source)


@functools.lru_cache(maxsize=4096)
def _compiled_expression(source: str) -> Any:
    return _environment().compile_expression(source, undefined_to_none=False)


class TemplateProblem(Exception):
    """A Jinja2 failure, in words fit for a storyboard error."""


def render_string(text: str, context: Mapping[str, Any], *, keep_type: bool = True) -> Any:
    """Render one string field. A field that is a single ``{{ expression }}`` keeps the
    expression's number or boolean type (unless ``keep_type`` is false), so
    ``duration: "{{ d }}"`` works."""
    if "{" not in text:
        return text
    try:
        rendered = _render(_compiled(text), context)
        single = _SINGLE_EXPRESSION.match(text) if keep_type else None
        if single:
            value = _compiled_expression(single.group("expr"))(**context)
            if isinstance(value, bool | int | float) and not isinstance(value, jinja2.Undefined):
                return value
        return rendered
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(_undefined_message(str(exc.message), context)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {str(exc.message).rstrip('.')}") from None
    except OutOfBudget as exc:
        raise TemplateProblem(str(exc)) from None
    except SecurityError as exc:
        raise TemplateProblem(f"not allowed in a template: {str(exc).rstrip('.')}") from None
    except RecursionError:
        raise TemplateProblem(
            "not allowed in a template: calls nested too deeply (a macro calling itself?)"
        ) from None
    except TypeError as exc:
        if "no loader" in str(exc):
            raise TemplateProblem(
                "not allowed in a template: templates cannot include or import files"
            ) from None
        raise TemplateProblem(f"template error: {exc}") from None
    except Exception as exc:
        raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None


def _undefined_message(message: str, context: Mapping[str, Any]) -> str:
    match = re.match(r"'([^']+)' is undefined", message)
    if not match:
        return f"not allowed in a template: {message}"
    name = match.group(1)
    names = sorted(k for k in context if not k.startswith("_"))
    hint = suggest(name, names)
    known = ", ".join(names) if names else "none are defined"
    text = f'undefined variable "{name}"'
    return text + (f'; did you mean "{hint}"?' if hint else f" (variables: {known})")


@dataclass
class Layer:
    """One mapping that takes part in a merge, with where its values were written."""

    values: Mapping[str, Any]
    source: SourceMap
    path: Path_


@dataclass
class Expanded:
    """The expanded document, its positions, and a label per expanded shot."""

    document: dict[str, Any]
    source: SourceMap
    shot_labels: list[str]
    problems: list[Problem]


class Expander:
    """Expands one storyboard document. Collects problems instead of stopping at the first."""

    def __init__(
        self,
        document: dict[str, Any],
        source: SourceMap,
        overrides: Mapping[str, Any],
        templates: Mapping[str, Layer],
        shots: list[Layer],
    ) -> None:
        self.document = document
        self.source = source
        self.templates = templates
        self.shots = shots
        self.problems: list[Problem] = []
        self.out_source = SourceMap()
        raw_vars = document.get("vars")
        self.vars: dict[str, Any] = dict(raw_vars) if isinstance(raw_vars, dict) else {}
        self.vars.update(overrides)
        self.overrides = dict(overrides)
        self._label_prefix: str | None = None  # set while rendering a shot: its source label
        self._shot_note = ""  # set while rendering a shot: which expanded shot failed
        self._reported: set[tuple[Pos | None, str]] = set()

    def problem(self, pos: Pos | None, path: Path_, message: str, *, label: str | None = None) -> None:
        pos = pos or Pos(self.source_file(), 0, 0)
        self.problems.append(Problem(pos.file, pos.line, pos.column, label or field_path(path), message))

    def source_file(self) -> str:
        first = next(iter(self.source.values.values()), None)
        return first.file if first else ""

    def run(self) -> Expanded:
        with template_budget():
            return self._run()

    def _run(self) -> Expanded:
        out: dict[str, Any] = {}
        for key, value in self.document.items():
            if key in ("shots", "templates"):
                continue
            if key in ("vars", "include", "version"):
                out[key] = value
            else:
                out[key] = self.render_tree(value, self.source, (key,), self.vars)
            self.out_source.graft(self.source, (key,), (key,))
        out["templates"] = self.expand_templates()
        labels: list[str] = []
        raw_shots = self.document.get("shots")
        if "shots" in self.document and not isinstance(raw_shots, list):
            out["shots"] = raw_shots  # the models say what a shot list must be
        elif "shots" in self.document or self.shots:  # a missing list stays missing for the models
            out["shots"] = self.expand_shots(labels)
        # Where the document and its lists start, for "missing" and "empty list" messages.
        for path in ((), ("shots",), ("templates",)):
            if path in self.source.values:
                self.out_source.values[path] = self.source.values[path]
            if path in self.source.keys:
                self.out_source.keys[path] = self.source.keys[path]
        return Expanded(out, self.out_source, labels, self.problems)

    # -- rendering -----------------------------------------------------------------------------

    def render_tree(self, value: Any, source: SourceMap, path: Path_, context: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (dict values, list items), keeping keys as written."""
        if isinstance(value, str):
            try:
                return render_string(value, context, keep_type=not _is_text_field(path))
            except TemplateProblem as exc:
                pos = source.value(path)
                if budget_spent() and any(message == str(exc) for _, message in self._reported):
                    return value  # the budget ran out once; every later field would say so again
                if (pos, str(exc)) not in self._reported:  # once per place, not once per loop value
                    self._reported.add((pos, str(exc)))
                    self.problem(pos, path, str(exc) + self._shot_note, label=self.label_for(path))
                return value
        if isinstance(value, dict):
            return {k: self.render_tree(v, source, (*path, k), context) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render_tree(v, source, (*path, i), context) for i, v in enumerate(value)]
        return value

    def label_for(self, path: Path_) -> str:
        if self._label_prefix is None:
            return field_path(path)
        return self._label_prefix + field_path(("x", *path))[1:]

    # -- templates -----------------------------------------------------------------------------

    def expand_templates(self) -> dict[str, Any]:
        """Templates pass through unexpanded (they are validated as partial shots);
        their Jinja2 runs per shot, with that shot's variables."""
        out: dict[str, Any] = {}
        for name, layer in self.templates.items():
            out[name] = layer.values
            self.out_source.graft(layer.source, layer.path, ("templates", name))
        return out

    def template_chain(self, shot: Layer, shot_path: Path_) -> list[Layer] | None:
        """The templates a shot applies, deepest first; None after reporting a problem."""
        chain: list[Layer] = []
        seen: list[str] = []
        current = shot
        current_path = shot_path
        while True:
            name = current.values.get("use")
            if name is None:
                return list(reversed(chain))
            use_pos = current.source.value((*current.path, "use"))
            if not isinstance(name, str):
                self.problem(use_pos, (*current_path, "use"), "expected the name of a template")
                return None
            if name in seen:
                cycle = " -> ".join([*seen, name])
                self.problem(use_pos, (*current_path, "use"), f"templates use each other in a cycle: {cycle}")
                return None
            template = self.templates.get(name)
            if template is None:
                self.problem(use_pos, (*current_path, "use"), self.unknown_template(name))
                return None
            seen.append(name)
            chain.append(template)
            current = template
            current_path = ("templates", name)

    def unknown_template(self, name: str) -> str:
        names = sorted(self.templates)
        hint = suggest(name, names)
        if hint:
            return f'unknown template "{name}"; did you mean "{hint}"?'
        return f'unknown template "{name}"; templates: {", ".join(names) or "none are defined"}'

    # -- shots ---------------------------------------------------------------------------------

    def expand_shots(self, labels: list[str]) -> list[Any]:
        out: list[Any] = []
        for index, shot in enumerate(self.shots):
            if budget_spent():
                return out  # reported once, where the work ran out; the rest would only repeat it
            label = field_path(shot.path)
            if not isinstance(shot.values, dict):
                # Not a mapping: leave it to the models, which say what a shot must be.
                self.out_source.graft(shot.source, shot.path, ("shots", len(out)))
                out.append(shot.values)
                labels.append(label)
                continue
            for merged, merged_source, context in self.unroll(shot, index):
                target: Path_ = ("shots", len(out))
                self.out_source.graft(merged_source, (), target)
                self.out_source.values.setdefault(target, shot.source.value(shot.path) or Pos("", 0, 0))
                self._label_prefix = label
                rendered = self.render_shot(merged, merged_source, context)
                self._label_prefix, self._shot_note = None, ""
                out.append(rendered)
                labels.append(label)
                if len(out) > MAX_SHOTS:
                    self.problem(shot.source.value(shot.path), shot.path, f"more than {MAX_SHOTS} shots")
                    return out
        return out

    def render_shot(self, merged: dict[str, Any], source: SourceMap, context: Mapping[str, Any]) -> Any:
        """Render the id first, so that a problem elsewhere can name the shot it is in."""
        shot_id = self.render_tree(merged.get("id"), source, ("id",), context)
        if isinstance(shot_id, str) and "{" in str(merged.get("id")):
            self._shot_note = f' (in shot "{shot_id}")'
        rest = {k: v for k, v in merged.items() if k != "id"}
        rendered = self.render_tree(rest, source, (), context)
        return {"id": shot_id, **rendered} if "id" in merged else rendered

    def unroll(self, shot: Layer, index: int) -> list[tuple[dict[str, Any], SourceMap, dict[str, Any]]]:
        """The shot merged with its templates, once per combination of its ``each`` values."""
        chain = self.template_chain(shot, shot.path)
        if chain is None:
            return []
        merged, merged_source = merge_layers([*chain, shot])
        context = dict(self.vars)
        shot_vars = merged.get("vars")
        if isinstance(shot_vars, dict):
            context.update(shot_vars)
            context.update(self.overrides)
        combos = self.combinations(merged, merged_source, shot)
        for key in EXPANSION_FIELDS:
            merged.pop(key, None)
        # Their positions go too: each combination grafts this map into the storyboard's,
        # and an ``each`` of n values copied n times made planning quadratic (issue 17).
        for table in (merged_source.values, merged_source.keys):
            for path in [p for p in table if p[:1] and p[0] in EXPANSION_FIELDS]:
                del table[path]
        return [(dict(merged), merged_source, {**context, **combo}) for combo in combos]

    def combinations(self, merged: dict[str, Any], source: SourceMap, shot: Layer) -> list[dict[str, Any]]:
        each = merged.get("each")
        if each is None:
            return [{}]
        each_path = (*shot.path, "each")
        if not isinstance(each, dict) or not each:
            self.problem(
                source.value(("each",)),
                each_path,
                "expected a mapping of loop variables to lists of values",
            )
            return []
        for key, values in each.items():
            if not isinstance(values, list) or not values:
                self.problem(
                    source.value(("each", key)),
                    (*each_path, key),
                    "expected a non-empty list of values",
                )
                return []
        keys = list(each)
        # Counted before it is built: three keys of a thousand values are a billion shots.
        count = math.prod(len(values) for values in each.values())
        if count > MAX_SHOTS:
            sizes = " x ".join(str(len(values)) for values in each.values())
            self.problem(
                source.value(("each",)),
                each_path,
                f"makes {count:,} shots ({sizes}); a storyboard holds at most {MAX_SHOTS:,}",
            )
            return []
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*each.values())]
        shot_id = merged.get("id")
        if len(combos) > 1 and isinstance(shot_id, str) and "{" not in shot_id:
            self.problem(
                source.value(("id",)),
                (*shot.path, "id"),
                "must use a loop variable so each shot gets its own id, "
                f'e.g. "{shot_id}-{{{{ {keys[0]} }}}}"',
            )
            return []
        return combos


def _is_text_field(path: Path_) -> bool:
    names = [p for p in path if isinstance(p, str)]
    return bool(names) and (names[-1] in TEXT_FIELDS or names[0] == "references")


def merge_layers(layers: list[Layer]) -> tuple[dict[str, Any], SourceMap]:
    """Merge mappings lowest first: later layers override; MERGED_FIELDS merge key by key.

    Returns the merged mapping and a SourceMap of its values relative to it.
    """
    merged: dict[str, Any] = {}
    source = SourceMap()
    for layer in layers:
        if not isinstance(layer.values, dict):
            continue
        for key, value in layer.values.items():
            if key == "use":
                continue
            here: Path_ = (key,)
            src_path = (*layer.path, key)
            if key in MERGED_FIELDS and isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
                for sub in value:
                    source.graft(layer.source, (*src_path, sub), (key, sub))
                source.keys[here] = layer.source.key(src_path) or Pos("", 0, 0)
                continue
            merged[key] = value
            for table in (source.values, source.keys):
                for path in [p for p in table if p[:1] == here]:
                    del table[path]
            source.graft(layer.source, src_path, here)
    return merged, source


def template_variables(document: Any) -> frozenset[str]:
    """The variables a storyboard document (as loaded from YAML, before expansion) can take
    from outside: its declared ``vars`` and every name its templates read that no ``each:``
    loop binds. What a ``--matrix`` column may set."""
    from jinja2 import meta
    from jinja2.exceptions import TemplateSyntaxError

    names: set[str] = set()
    bound: set[str] = set()
    environment = _Sandbox()

    def visit(value: Any, key: object = None) -> None:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            with contextlib.suppress(TemplateSyntaxError):
                names.update(meta.find_undeclared_variables(environment.parse(value)))
        elif isinstance(value, dict):
            if key in ("vars", "each"):
                (names if key == "vars" else bound).update(str(k) for k in value)
            for k, item in value.items():
                visit(item, k)
        elif isinstance(value, list):
            for item in value:
                visit(item, key)

    visit(document)
    return frozenset(names - bound)

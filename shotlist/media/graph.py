"""ffmpeg command lines and filter graphs, built with ffmpeg-python: its one home.

Builders elsewhere (the cut's picture and sound, the local previz engine) say
what to compute through the typed functions here; ffmpeg-python writes the
argument list, labelling the graph's streams and escaping every filter option
value by one rule (:func:`filter_value`). Nothing here runs anything: the
lists go to ``media.ffmpeg``'s runner, never to ffmpeg-python's own ``run``.

Paths reach ffmpeg only in forms it takes literally: inputs and outputs as
``file:`` URLs (:func:`url`), so a ``:`` is never read as a protocol; ``%`` in
a segment pattern's folder doubled (:func:`numbered`); paths inside filter
options escaped like any other value, so ``'``, ``:`` and ``,`` cannot end one.

A sketch::

    clip = graph.Input(graph.url(source), {"ss": "1.5"})
    picture = clip.stream("v").filter("fps", fps=24).filter("format", pix_fmts="yuv420p")
    args = graph.command(graph.output([picture], graph.url(dest), {"c:v": "libx264"}))

Two of ffmpeg-python's habits are worked around in this module, and only
here: it identifies nodes by content, so two identical sources or two inputs
of one file would silently become one (every node here is itself alone); and
its filter nodes need an input stream, so a source filter (``anullsrc``) is a
filter node that takes none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python: untyped, so its values stay inside this module
from ffmpeg import _run
from ffmpeg import dag as _dag
from ffmpeg import nodes as _nodes

Value = str | int | float
Options = Mapping[str, Value]

# The characters each level of ffmpeg's parsing treats as syntax: first the
# filter's option string (key=value pairs), then the graph around the filter.
OPTION_SPECIALS = "\\'=:"
GRAPH_SPECIALS = "\\'[],;"
# ffmpeg-python escapes positional filter arguments twice (a bug in 0.2), so a
# positional argument must hold none of the characters either level escapes.
_PLAIN_ARGUMENT = re.compile(r"[^\\'=:\[\],;]*")


def _escape(text: str, specials: str) -> str:
    return "".join("\\" + c if c in specials else c for c in text)


def filter_value(text: str) -> str:
    """``text`` as a filter option value inside a filter graph: the rule ffmpeg-python applies.

    Two levels, as ffmpeg parses them: the option string (``\\ ' = :``), then
    the graph (``\\ ' [ ] , ;``). Every option the builders here write is
    escaped this way; use this only for a value written into a graph by hand.
    """
    return _escape(_escape(text, OPTION_SPECIALS), GRAPH_SPECIALS)


def url(path: Path | str) -> str:
    """``path`` as an input or output ffmpeg opens literally (``a:b.mp4`` is not protocol ``a``)."""
    return f"file:{path}"


def numbered(folder: Path, pattern: str) -> str:
    """A numbered output name (``pattern`` holds ``%d``) in ``folder``, for the segment muxer.

    The muxer reads ``%`` anywhere in the name as a pattern, so a ``%`` in the
    folder's name is doubled to stay literal.
    """
    return url(str(folder).replace("%", "%%") + "/" + pattern)


def _plain(args: Sequence[Value]) -> tuple[Value, ...]:
    for arg in args:
        if not _PLAIN_ARGUMENT.fullmatch(str(arg)):
            raise ValueError(f"positional filter argument {arg!r} needs escaping: pass it by name")
    return tuple(args)


class _Node:
    """Makes an ffmpeg-python node equal only to itself (ffmpeg-python compares by content)."""

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class _Filter(_Node, _nodes.FilterNode):  # type: ignore[misc]
    """A filter taking any number of streams, none for a source such as ``anullsrc``."""

    def __init__(self, streams: list[Any], name: str, args: tuple[Value, ...], options: Options) -> None:
        _nodes.Node.__init__(
            self,
            stream_spec=streams,
            name=name,
            incoming_stream_types={_nodes.FilterableStream},
            outgoing_stream_type=_nodes.FilterableStream,
            min_inputs=0,
            max_inputs=None,
            args=list(args),
            kwargs=dict(options),
        )


class _InputNode(_Node, _nodes.InputNode):  # type: ignore[misc]
    pass


class Stream:
    """A stream in a filter graph being built: an input's stream or a filter's output."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def filter(self, name: str, /, *args: Value, **options: Value) -> Stream:
        """This stream through filter ``name``. Options by name; plain values may be positional."""
        return Stream(_Filter([self._stream], name, _plain(args), options).stream())

    def split(self, count: int = 2) -> list[Stream]:
        """``count`` copies of this picture (ffmpeg needs a split to use a stream twice)."""
        return self._fan("split", count)

    def asplit(self, count: int = 2) -> list[Stream]:
        """``count`` copies of this sound."""
        return self._fan("asplit", count)

    def outputs(self, name: str, count: int, /, *args: Value, **options: Value) -> list[Stream]:
        """The ``count`` outputs, in order, of filter ``name`` with several (``extractplanes``)."""
        node = _Filter([self._stream], name, _plain(args), options)
        return [Stream(node.stream(label=index)) for index in range(count)]

    def _fan(self, name: str, count: int) -> list[Stream]:
        node = _Filter([self._stream], name, (), {})  # ffmpeg-python writes the count itself
        return [Stream(node.stream(label=index)) for index in range(count)]


def source(name: str, /, **options: Value) -> Stream:
    """A source filter's output, such as ``anullsrc`` or ``sine``."""
    return Stream(_Filter([], name, (), options).stream())


def merge(name: str, streams: Sequence[Stream], /, *args: Value, **options: Value) -> Stream:
    """Filter ``name`` over several streams in order, such as ``xfade``, ``overlay`` or ``amix``."""
    return Stream(_Filter([s._stream for s in streams], name, _plain(args), options).stream())


class Input:
    """One ``-i``: ``target`` (usually :func:`url`) with its input options (``-ss``, ``-f``, ...)."""

    def __init__(self, target: str, options: Options | None = None) -> None:
        kwargs: dict[str, Any] = dict(options or {})
        if "f" in kwargs:
            kwargs["format"] = kwargs.pop("f")  # ffmpeg-python writes -f first
        if "video_size" in kwargs:  # ffmpeg-python takes it as (width, height)
            kwargs["video_size"] = tuple(str(kwargs["video_size"]).split("x", 1))
        self._node = _InputNode("input", kwargs={"filename": target, **kwargs})

    def stream(self, selector: str) -> Stream:
        """A stream of this input by ffmpeg's specifier: ``"v"``, ``"a"``, ``"v:0"``..."""
        return Stream(self._node.stream(selector=selector))


class Output:
    """One output file and the streams mapped into it, in order."""

    def __init__(self, streams: Sequence[Stream], target: str, options: Options | None = None) -> None:
        kwargs: dict[str, Any] = dict(options or {})
        if "f" in kwargs:
            kwargs["format"] = kwargs.pop("f")
        self._node = ffmpeg.output(*(s._stream for s in streams), target, **kwargs)


def output(streams: Sequence[Stream], target: str, options: Options | None = None) -> Output:
    """``streams`` written to ``target`` with output options (``{"c:v": "libx264"}``)."""
    return Output(streams, target, options)


def command(*outputs: Output) -> list[str]:
    """ffmpeg's arguments (without the executable) writing every one of ``outputs``.

    Inputs come first, then one ``-filter_complex``, then each output's
    ``-map``s and options; ffmpeg-python orders options alphabetically within
    an input or output, which ffmpeg does not mind.
    """
    if not outputs:
        raise ValueError("a command needs an output")
    spec = outputs[0]._node if len(outputs) == 1 else ffmpeg.merge_outputs(*(o._node for o in outputs))
    ordered, edges = _dag.topo_sort(_nodes.get_stream_spec_nodes(spec))
    if any(isinstance(node, _nodes.InputNode) for node in ordered):
        return [str(arg) for arg in ffmpeg.get_args(spec)]
    return _without_inputs(ordered, edges)


def _without_inputs(ordered: list[Any], edges: dict[Any, Any]) -> list[str]:
    """What ``get_args`` writes for a graph of source filters only, which ffmpeg-python 0.2
    cannot write itself (it folds the inputs' arguments with no initial value)."""
    names: dict[Any, str] = {}
    filters = [node for node in ordered if isinstance(node, _nodes.FilterNode)]
    args = ["-filter_complex", _run._get_filter_arg(filters, edges, names)]
    for node in ordered:
        if isinstance(node, _nodes.OutputNode):
            args += _run._get_output_args(node, names)
    return [str(arg) for arg in args]

"""The ``render`` options for big graphs: ``--collapse``, ``--expand``, ``--focus``/``--radius``
and ``--paths``/``--wrt`` (docs/big-graphs.md).

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_overview_options(parser, int)
>>> parser.parse_args(["--expand", "layer1", "--paths", "3", "--wrt", "W1"]).expand
['layer1']
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .engine import Trace
from .errors import GraphvizGradError
from .graph import Graph
from .overview import BOXES, Overview
from .paths import Path

FULL_DRAWING = 3_000
"""Nodes at most in a picture drawn node by node (``--collapse none``, forward mode): system
``dot`` lays out 3,000 nodes in seconds but 10,000 in minutes (257 s measured), and the
picture is metres wide. DOT text (``--format dot``) has no such bound."""


class OverviewUsageError(GraphvizGradError):
    """Overview options that cannot be carried out (exit code 2)."""


def add_overview_options(command: argparse.ArgumentParser, count: Callable[[str], int]) -> None:
    """Add the big-graph options to the ``render`` parser; ``count`` parses whole numbers."""
    command.add_argument("--collapse", choices=["auto", "none"], default="auto",
                         help=f"auto (default): a graph of over {BOXES} nodes is drawn as an overview of "
                              "collapsed groups; none: every node, whatever the size")
    command.add_argument("--expand", action="append", default=[], metavar="GROUP",
                         help="draw this group expanded, in place (repeatable); implies an overview")
    command.add_argument("--focus", metavar="NODE", help="expand what holds the nodes near NODE")
    command.add_argument("--radius", type=count, metavar="K",
                         help="with --focus: nodes up to K edges away, either way (default 1)")
    command.add_argument("--paths", type=count, metavar="K",
                         help="keep the K paths to the output that contribute most to d(output)/d(--wrt) "
                              "expanded and highlighted")
    command.add_argument("--wrt", metavar="NODE", help="the node whose gradient --paths follows")


def wants_overview(args: argparse.Namespace, graph: Graph) -> bool:
    """Whether ``render`` draws an overview (and a clear error for options that need one)."""
    asked = bool(args.expand or args.focus or args.paths is not None or args.wrt)
    if args.collapse == "none":
        if asked:
            raise OverviewUsageError("--expand, --focus and --paths draw an overview: drop --collapse none")
        return False
    if (args.paths is None) != (args.wrt is None):
        raise OverviewUsageError("--paths K and --wrt NODE go together")
    if args.radius is not None and not args.focus:
        raise OverviewUsageError("--radius needs --focus NODE")
    return asked or len(graph) > BOXES


def check_full_drawing(graph: Graph, fmt: str, why: str = "--collapse none") -> None:
    """A clear error when a picture of every node of ``graph`` is too big to lay out
    (`FULL_DRAWING` nodes); ``why`` names what asked for every node.

    >>> import graphviz_grad as gg
    >>> check_full_drawing(gg.parse("L = x*y"), "svg")  # small: nothing to say
    """
    if fmt != "dot" and len(graph) > FULL_DRAWING:
        raise OverviewUsageError(
            f"{why} draws all {len(graph):,} nodes one by one, over the limit of {FULL_DRAWING:,} for a "
            "picture (Graphviz would take minutes): use --collapse auto for an overview, or --focus NODE "
            "(--format dot writes the DOT text of any size)")


def paths_note(trace: Trace, wrt: str, paths: Sequence[Path]) -> str:
    """One line when ``--paths`` has nothing to show: ``wrt`` does not reach the output, or
    every path from it contributes 0; else "".

    >>> import graphviz_grad as gg
    >>> trace = gg.grad("a = x*2; L = relu(-y) + y", x=1, y=1)
    >>> paths_note(trace, "x", [])
    "--wrt 'x' does not reach the output L: no path to highlight (dL/dx = 0)"
    """
    output = trace.graph.output
    if not paths:
        return (f"--wrt {wrt!r} does not reach the output {output}: no path to highlight "
                f"(d{output}/d{wrt} = 0)")
    if all(path.contribution == 0 for path in paths):
        return (f"--wrt {wrt!r}: every path to {output} contributes 0 (d{output}/d{wrt} = 0 at these values: "
                "a relu off, a max not taken or a factor 0 on the way); the paths are drawn but carry "
                "no gradient")
    return ""


def render_big(args: argparse.Namespace, trace: Trace, fmt: str) -> list[bytes]:
    """The overview as ``fmt`` outputs: html the viewer whose groups open and close by a click
    (`graphviz_grad.overview_player`); ``--steps`` (html too) and gif its frames, a box at a time."""
    from .overview_dot import overview_pictures
    from .paths import top_paths

    graph = trace.graph
    for name, option in ((args.focus, "--focus"), (args.wrt, "--wrt")):
        if name is not None and name not in graph:
            raise OverviewUsageError(f"{option} {name!r} is not a node of the graph")
    try:
        paths = top_paths(trace, args.wrt, args.paths) if args.paths is not None else ()
        note = paths_note(trace, args.wrt, paths) if args.paths is not None else ""
        if note:
            print(f"graphviz-grad: {note}", file=sys.stderr)
        view = Overview(trace, expand=args.expand or "auto", rankdir=args.rankdir, paths=paths,
                        focus=args.focus, radius=1 if args.radius is None else args.radius)
    except (KeyError, ValueError) as error:
        message = error.args[0] if error.args else str(error)
        raise OverviewUsageError(f"{message}" + (" (see the group names in the overview)"
                                                 if "group" in str(message) else "")) from None
    options = {"backend": args.backend, "digits": min(args.digits, 6), "legend": not args.no_legend}
    if note and not args.steps and fmt not in ("html", "gif"):  # one picture: its caption says it too
        options["note"] = note
    if fmt == "html" and not args.steps:  # the viewer: groups open and close by a click
        from .display import describe
        from .overview_player import overview_player_html

        title = f"{describe(graph)} — overview of {len(graph):,} nodes"
        return [overview_player_html(view, title=title, backend=args.backend).encode("utf-8")]
    if fmt == "html":  # --steps: a frame per box, backward
        from .display import describe
        from .dot import View
        from .frames import BACKWARD, Frame
        from .overview_dot import steps
        from .player import player_html

        sequence = [Frame(k, BACKWARD, View(caption=caption), trace)
                    for k, (_, caption) in enumerate(steps(view))]
        pictures = overview_pictures(view, "svg", frames=True, **options)
        return [player_html(trace, pictures, title=describe(graph), sequence=sequence).encode("utf-8")]
    if fmt == "gif":
        from .frames import to_gif

        return [to_gif(overview_pictures(view, "png", frames=True, **options))]
    return overview_pictures(view, fmt, frames=args.steps, **options)

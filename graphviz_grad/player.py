"""A self-contained HTML page that plays the frames over one drawing: the interactive viewer.

>>> import graphviz_grad as gg
>>> page = player_html(gg.grad("y = x**2", x=3), title="y = x**2")
>>> page.startswith("<!DOCTYPE html>"), page.count("<svg") >= 1, "y = x**2" in page
(True, True, True)

The graph is laid out once (`graphviz_grad.scene.drawing`); each frame is a small set of
changes to it (`graphviz_grad.scene.scene_data`) that ``static/viewer.js`` applies: pan and zoom
(the vendored ``panzoom``), click a node for its story, its paths highlighted, search, keys.
The page needs no network (a Content-Security-Policy forbids every request), works from
``file://`` and at phone width; without JavaScript it shows the annotated graph.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from .engine import Trace
from .forward import TangentTrace
from .frames import Frame
from .scene import descent_data, descent_drawing, drawing, scene_data
from .text import format_number

_STYLE = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; }
body { margin: 0 auto; max-width: 1200px; padding: 12px; }
h1 { font-size: 1.2rem; margin: 0 0 8px; overflow-wrap: anywhere; }
#player .ggv-caption { font-size: 1rem; }
"""

_START = """
(function () {
  "use strict";
  var root = document.getElementById("player");
  var data = JSON.parse(document.getElementById("gg-scene").textContent);
  window.ggViewer = GGViewer.mount(root, data, {svg: root.querySelector("svg"), keys: document});
})();
"""


@cache
def asset(name: str) -> str:
    """A file of the package's ``static`` folder (the viewer, its style, the vendored library)."""
    return files(__package__).joinpath("static", *name.split("/")).read_text(encoding="utf-8")


def json_for_script(data: object) -> str:
    """JSON that cannot close the ``<script>`` element it sits in.

    >>> print(json_for_script({"a": "</script>"}))
    {"a":"\\u003c/script\\u003e"}
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def script_hash(code: str) -> str:
    """The CSP source that lets the inline script ``code`` run, and no other.

    >>> script_hash("alert(1)")
    "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
    """
    return f"'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'"


HEADING = 100
"""Characters of a page's heading shown (the whole of it is its tooltip and the page's title)."""


def _shortened(text: str, most: int = HEADING) -> str:
    """``text`` cut to ``most`` characters with an ellipsis (a long formula would fill a phone);
    the formula is cut, not what follows its `` — `` (a number such as ``lr = 0.001`` stays whole).

    >>> _shortened("a" * 5, 3), _shortened("y = a + b + c — descent (lr = 0.001)", 30)
    ('aa…', 'y = a… — descent (lr = 0.001)')
    """
    if len(text) <= most:
        return text
    formula, dash, words = text.rpartition(" — ")
    if dash and len(words) + len(dash) + 2 <= most:
        return formula[:most - len(words) - len(dash) - 1].rstrip() + "…" + dash + words
    return text[:most - 1] + "…"


def viewer_page(data: Mapping[str, Any], svg: str, *, title: str, scripts: Sequence[str] = (),
                after: str = "") -> str:
    """The self-contained page for a viewer's ``data`` over the drawing ``svg``; ``scripts``
    replace the one that starts the viewer (a big graph's overview brings its own), ``after``
    is markup put under the viewer.

    Only its own scripts run: the Content-Security-Policy names each by its SHA-256, so a
    script that found its way into the drawing or the data would not.

    >>> page = viewer_page({"frames": []}, "<svg></svg>", title="y = x*2")
    >>> "script-src 'sha256-" in page and "'unsafe-inline'" not in page.split("script-src")[1].split(";")[0]
    True
    """
    scripts = (asset("vendor/panzoom.min.js"), asset("viewer.js"), *(scripts or (_START,)))
    allowed = " ".join(script_hash(code) for code in scripts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src {allowed}; img-src data:">
<title>{escape(title)}</title>
<style>{_STYLE}{asset("viewer.css")}</style>
</head>
<body>
<h1 title="{escape(title)}">{escape(_shortened(title))}</h1>
<main id="player" data-frame="0" data-node="">
{svg}
</main>
{after}<script type="application/json" id="gg-scene">{json_for_script(data)}</script>
{"".join(f"<script>{code}</script>{chr(10)}" for code in scripts)}</body>
</html>
"""


def player_parts(trace: Trace, *, sequence: Sequence[Frame] | None = None, digits: int = 4,
                 rankdir: str = "LR", compact: bool | None = None, backend: str | None = None,
                 verdicts: Mapping[str, str] | None = None, tangents: TangentTrace | None = None,
                 mode: str | None = None) -> tuple[dict[str, Any], str]:
    """The viewer's data and the drawing for ``trace`` (what `player_html` puts in its page);
    ``tangents`` and ``mode`` draw forward mode as `graphviz_grad.scene.scene_data` does."""
    if not isinstance(trace, Trace):
        raise TypeError(f"the player needs a Trace (from grad or backward), not {type(trace).__name__}")
    data = scene_data(trace, sequence=sequence, digits=digits, compact=compact, verdicts=verdicts,
                      tangents=tangents, mode=mode)
    return data, drawing(trace, digits=digits, rankdir=rankdir, compact=compact, backend=backend,
                         tangents=tangents, mode=mode)


def player_html(trace: Trace, svgs: Sequence[bytes] | None = None, *, title: str | None = None,
                sequence: Sequence[Frame] | None = None, digits: int = 4, rankdir: str = "LR",
                compact: bool | None = None, backend: str | None = None,
                verdicts: Mapping[str, str] | None = None, tangents: TangentTrace | None = None,
                mode: str | None = None) -> str:
    """The player page for ``trace``: every frame of ``sequence`` (default: `frames`) over one drawing.

    With ``svgs`` (one picture per frame, such as `graphviz_grad.frames.render_frames` or a big
    graph's overview draws) the page shows those pictures instead, one after another
    (`graphviz_grad.picture_player.pictures_html`)."""
    if svgs is not None:
        from .picture_player import pictures_html

        return pictures_html(trace, svgs, title=title, sequence=sequence)
    data, svg = player_parts(trace, sequence=sequence, digits=digits, rankdir=rankdir, compact=compact,
                             backend=backend, verdicts=verdicts, tangents=tangents, mode=mode)
    heading = title if title is not None else str(trace.graph).replace("\n", "; ")
    return viewer_page(data, svg, title=f"{heading} — backpropagation step by step")


def descent_parts(run: Any, *, every: int | None = None, digits: int = 4,
                  backend: str | None = None) -> tuple[dict[str, Any], str]:
    """The viewer's data and the drawing for a gradient-descent run (what `descent_html` shows)."""
    data = descent_data(run, every=every, digits=digits)
    return data, descent_drawing(run, data, backend=backend)


def descent_html(run: Any, *, title: str | None = None, every: int | None = None, digits: int = 4,
                 backend: str | None = None) -> str:
    """A page that plays a gradient-descent run (`graphviz_grad.descent.descend`) over the graph:
    a frame every ``every`` steps, values, gradients and colours changing, the loss curve growing."""
    data, svg = descent_parts(run, every=every, digits=digits, backend=backend)
    heading = title if title is not None else str(run.graph).replace("\n", "; ")
    words = f"gradient descent on {', '.join(data['parameters'])} (lr = {format_number(run.lr, digits)})"
    return viewer_page(data, svg, title=f"{heading} — {words}")

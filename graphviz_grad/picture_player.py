"""A self-contained HTML page that shows one given picture per frame: buttons, a slider, arrow keys.

The interactive viewer (`graphviz_grad.player`) draws a trace once and plays its frames as
changes; this page is for frames that are each their own picture, such as the overview of a big
graph (`graphviz_grad.bigcli`), where what is drawn changes from frame to frame.

>>> import graphviz_grad as gg
>>> trace = gg.grad("y = x**2", x=3)
>>> page = pictures_html(trace, [b'<svg id="a"></svg>'] * 5, title="y = x**2")  # any SVG frames
>>> page.startswith("<!DOCTYPE html>"), page.count("<template"), "y = x**2" in page
(True, 5, True)

The page needs no network (a Content-Security-Policy forbids every request), works from
``file://`` and at phone width. Frames are inert ``<template>`` elements until shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from .engine import Trace
from .frames import Frame, frames
from .player import json_for_script, script_hash

_XML_PROLOGUE = re.compile(rb"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S)

_STYLE = """
:root { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; }
body { margin: 0 auto; max-width: 1100px; padding: 12px; }
h1 { font-size: 1.2rem; margin: 0 0 8px; overflow-wrap: anywhere; }
#stage { border: 1px solid #ddd; border-radius: 6px; padding: 6px; overflow: auto; background: #fff; }
#stage svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
#caption { font-size: 1.05rem; min-height: 2.6em; margin: 10px 0; overflow-wrap: anywhere; }
#phase { display: inline-block; font-size: .8rem; text-transform: uppercase; letter-spacing: .05em;
         background: #eee; border-radius: 4px; padding: 1px 6px; margin-right: 6px; }
.controls { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.controls button { font-size: 1rem; min-width: 44px; min-height: 44px; border: 1px solid #bbb;
                   border-radius: 6px; background: #f7f7f7; cursor: pointer; }
.controls button:focus-visible, #slider:focus-visible { outline: 3px solid #ff7f0e; }
#slider { flex: 1 1 200px; min-height: 44px; }
#counter { font-variant-numeric: tabular-nums; min-width: 5em; text-align: right; }
@media (max-width: 700px) { #stage svg { max-width: none; } }
"""

_SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gg-frames").textContent);
  var templates = document.querySelectorAll("template.gg-frame");
  var stage = document.getElementById("stage");
  var caption = document.getElementById("caption-text");
  var phase = document.getElementById("phase");
  var slider = document.getElementById("slider");
  var counter = document.getElementById("counter");
  var play = document.getElementById("play");
  var player = document.getElementById("player");
  var current = 0, timer = null;
  slider.max = String(templates.length - 1);
  function show(index) {
    current = Math.max(0, Math.min(templates.length - 1, index));
    stage.replaceChildren(templates[current].content.cloneNode(true));
    caption.textContent = data[current].caption;
    phase.textContent = data[current].phase;
    slider.value = String(current);
    counter.textContent = (current + 1) + " / " + templates.length;
    player.dataset.frame = String(current);
    player.dataset.node = data[current].node;
    var shown = data[current].target ? stage.querySelector("g#" + data[current].target) : null;
    if (shown && stage.scrollWidth > stage.clientWidth) {  // narrow screen: bring the step into view
      var box = shown.getBoundingClientRect(), frame = stage.getBoundingClientRect();
      stage.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
    }
  }
  function stop() { if (timer !== null) { clearInterval(timer); timer = null; play.textContent = "Play"; } }
  function step(delta) { stop(); show(current + delta); }
  document.getElementById("first").onclick = function () { stop(); show(0); };
  document.getElementById("prev").onclick = function () { step(-1); };
  document.getElementById("next").onclick = function () { step(1); };
  document.getElementById("last").onclick = function () { stop(); show(templates.length - 1); };
  play.onclick = function () {
    if (timer !== null) { stop(); return; }
    if (current === templates.length - 1) { show(0); }
    play.textContent = "Pause";
    timer = setInterval(function () {
      if (current >= templates.length - 1) { stop(); } else { show(current + 1); }
    }, 1200);
  };
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10)); };
  document.addEventListener("keydown", function (event) {
    if (event.target === slider) { return; }
    if (event.key === "ArrowRight") { step(1); event.preventDefault(); }
    else if (event.key === "ArrowLeft") { step(-1); event.preventDefault(); }
    else if (event.key === "Home") { stop(); show(0); event.preventDefault(); }
    else if (event.key === "End") { stop(); show(templates.length - 1); event.preventDefault(); }
  });
  show(0);
})();
"""


def _inline_svg(svg: bytes) -> str:
    """An SVG document as markup to place inside HTML (no XML prologue or doctype)."""
    return _XML_PROLOGUE.sub(b"", svg, count=1).decode("utf-8")


def pictures_html(trace: Trace, svgs: Sequence[bytes], *, title: str | None = None,
                  sequence: Sequence[Frame] | None = None) -> str:
    """The player page for ``svgs``, one SVG per frame of ``sequence`` (default: `frames`)."""
    sequence = list(sequence) if sequence is not None else frames(trace)
    if len(sequence) != len(svgs):
        raise ValueError(f"{len(svgs)} pictures for {len(sequence)} frames")
    heading = title if title is not None else str(trace.graph).replace("\n", "; ")
    data = [{"caption": frame.caption, "phase": frame.phase, "node": frame.view.current or "",
             "target": f"n{trace.graph.index(frame.view.current)}" if frame.view.current else ""}
            for frame in sequence]
    allowed = script_hash(_SCRIPT)
    templates = "\n".join(f'<template class="gg-frame">{_inline_svg(svg)}</template>' for svg in svgs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src {allowed}; img-src data:">
<title>{escape(heading)} — backpropagation step by step</title>
<style>{_STYLE}</style>
</head>
<body>
<main id="player" data-frame="0" data-node="">
<h1>{escape(heading)}</h1>
<div id="stage" aria-label="computational graph"></div>
<p id="caption" aria-live="polite"><span id="phase"></span><span id="caption-text"></span></p>
<div class="controls">
<button id="first" type="button" title="first frame (Home)" aria-label="first frame">|◀</button>
<button id="prev" type="button" title="previous frame (←)" aria-label="previous frame">◀</button>
<button id="play" type="button" title="play or pause">Play</button>
<button id="next" type="button" title="next frame (→)" aria-label="next frame">▶</button>
<button id="last" type="button" title="last frame (End)" aria-label="last frame">▶|</button>
<input id="slider" type="range" min="0" max="0" value="0" step="1" aria-label="frame">
<span id="counter"></span>
</div>
</main>
{templates}
<script type="application/json" id="gg-frames">{json_for_script(data)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""

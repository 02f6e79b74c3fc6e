// The interactive viewer of graphviz-grad: one drawing, frames applied as small changes, pan and
// zoom (the vendored `panzoom`), click a node for its story, its paths highlighted, search by name.
// The same file runs on the web page, in the self-contained player and in Jupyter; docs/viewer.md
// describes its API (GGViewer.mount, viewer.apply, viewer.on("select")) and its data.
// All text goes in through textContent; the drawing is Graphviz's SVG of escaped labels.
"use strict";
(function (global) {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PLAY_MS = 1200;
  const PICKED = "g.node, g.cluster";  // what a click or Enter selects: a node, a group's frame

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plain(text) { return (text || "").replace(/\u2060/g, ""); }

  function parseSvg(markup) {
    const parsed = new DOMParser().parseFromString(markup, "image/svg+xml");
    const svg = parsed.documentElement;
    if (svg.nodeName !== "svg") throw new Error("the drawing is not SVG");
    for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();  // never there; never run
    return document.importNode(svg, true);
  }

  // --- the controls around the drawing ------------------------------------------------------------
  function build(root, ids) {
    const id = (name) => (ids ? {id: name} : {});
    const bar = el("div", {class: "ggv-bar"});
    const search = el("input", {type: "search", class: "ggv-search", placeholder: "find a node",
      "aria-label": "find a node by name", spellcheck: "false", ...id("search")});
    const found = el("span", {class: "ggv-found", "aria-live": "polite"});
    const zoomOut = el("button", {type: "button", class: "ggv-zoom-out", title: "zoom out (−)",
      "aria-label": "zoom out", ...id("zoom-out")}, "−");
    const zoomIn = el("button", {type: "button", class: "ggv-zoom-in", title: "zoom in (+)",
      "aria-label": "zoom in", ...id("zoom-in")}, "+");
    const fit = el("button", {type: "button", class: "ggv-fit", title: "fit the graph (0)",
      ...id("fit")}, "Fit");
    bar.append(search, found, zoomOut, zoomIn, fit);
    const body = el("div", {class: "ggv-body"});
    const stage = el("div", {class: "ggv-stage", tabindex: "0", role: "application",
      "aria-label": "computational graph: arrow keys step, + and − zoom, click a node for its story",
      ...id("stage")});
    const curve = el("div", {class: "ggv-curve", hidden: ""});
    body.append(stage, curve);
    const caption = el("p", {class: "ggv-caption", "aria-live": "polite", ...id("caption")});
    const phase = el("span", {class: "ggv-phase", ...id("phase")});
    const captionText = el("span", {class: "ggv-caption-text", ...id("caption-text")});
    caption.append(phase, captionText);
    const controls = el("div", {class: "ggv-controls"});
    const button = (name, label, text, title) => el("button", {type: "button", class: `ggv-${name}`,
      "aria-label": label, title, ...id(name)}, text);
    const first = button("first", "first frame", "|◀", "first frame (Home)");
    const prev = button("prev", "previous frame", "◀", "previous frame (←)");
    const play = button("play", "play or pause", "Play", "play or pause (space)");
    const next = button("next", "next frame", "▶", "next frame (→)");
    const last = button("last", "last frame", "▶|", "last frame (End)");
    const slider = el("input", {type: "range", min: "0", max: "0", value: "0", step: "1",
      class: "ggv-slider", "aria-label": "frame", ...id("slider")});
    const counter = el("span", {class: "ggv-counter", ...id("counter")});
    controls.append(first, prev, play, next, last, slider, counter);
    const details = el("aside", {class: "ggv-details", hidden: "", "aria-live": "polite", ...id("details")});
    root.classList.add("ggv");
    root.replaceChildren(bar, body, caption, controls, details);
    return {bar, search, found, zoomOut, zoomIn, fit, stage, curve, caption, phase, captionText, controls,
      first, prev, play, next, last, slider, counter, details};
  }

  // --- the viewer ------------------------------------------------------------------------------------
  function mount(root, data, options) {
    options = options || {};
    const parts = build(root, options.ids !== false);
    const listeners = {select: [], frame: []};
    const state = {data: null, svg: null, zoom: null, index: -1, looks: {}, parts: {}, current: null,
      edges: [], selected: null, timer: null, down: null, matches: []};

    function emit(kind, value, how) { for (const listener of listeners[kind]) listener(value, how); }

    // Where each node's and edge's changing pieces are in the drawing: found once per drawing.
    function index(svg) {
      const found = {};
      for (const item of state.data.nodes.concat(state.data.edges)) {
        const group = svg.getElementById ? svg.getElementById(item.id) : svg.querySelector(`#${item.id}`);
        if (!group) continue;
        const texts = [...group.querySelectorAll("text")];
        const rows = [];
        const used = new Set();
        const full = item.looks && item.looks.length ? item.looks[drawn(item)].rows : [];
        for (const row of full) {
          const match = texts.find((text) => !used.has(text) && plain(text.textContent) === row);
          if (match) used.add(match);
          rows.push(match || null);
        }
        const polygons = [...group.querySelectorAll(":scope > polygon")];
        found[item.id] = {group, texts, rows, fill: polygons.find((p) => p.getAttribute("fill") !== "none"),
          border: polygons.find((p) => p.getAttribute("fill") === "none")};
        if (item.readers) group.setAttribute("tabindex", "0");
        state.looks[item.id] = item.looks && item.looks.length ? drawn(item) : undefined;
      }
      return found;
    }

    function setLook(id, look) {
      const item = state.items[id];
      const pieces = state.parts[id];
      if (!item || !pieces || !item.looks || !item.looks[look] || state.looks[id] === look) return;
      const shown = item.looks[look];
      shown.rows.forEach((row, k) => { if (pieces.rows[k]) pieces.rows[k].textContent = row; });
      if (shown.fill && pieces.fill) pieces.fill.setAttribute("fill", shown.fill);
      if (shown.border && pieces.border) pieces.border.setAttribute("stroke", shown.border);
      if (shown.ink) for (const text of pieces.texts) text.setAttribute("fill", shown.ink);
      state.looks[id] = look;
    }

    // The one way the drawing changes: {id: {look: k, classes: {name: true | false}}} for nodes
    // and edges. Frames use it; so can other code (groups, collapse) through viewer.apply.
    function apply(changes) {
      for (const [id, change] of Object.entries(changes)) {
        if (change.look !== undefined) setLook(id, change.look);
        const pieces = state.parts[id];
        if (pieces && change.classes) {
          for (const [name, on] of Object.entries(change.classes)) pieces.group.classList.toggle(name, !!on);
        }
      }
    }

    function looksAt(target) {  // every node's look in frame `target`, from the drawing (all 2) on
      const looks = {};
      for (let k = 0; k <= target; k++) Object.assign(looks, state.data.frames[k].set);
      return looks;
    }

    function show(target) {
      const frames = state.data.frames;
      if (!frames.length) return;
      target = Math.max(0, Math.min(frames.length - 1, target));
      const changes = {};
      if (target === state.index + 1) {
        for (const [id, look] of Object.entries(frames[target].set)) changes[id] = {look};
      } else {
        const looks = looksAt(target);
        for (const item of state.data.nodes.concat(state.data.edges)) {
          if (item.looks && item.looks.length) {
            changes[item.id] = {look: looks[item.id] !== undefined ? looks[item.id] : drawn(item)};
          }
        }
      }
      if (state.current) changes[state.current] = Object.assign(changes[state.current] || {},
        {classes: {"ggv-current": false}});
      for (const edge of state.edges) changes[edge] = {classes: {"ggv-active": false}};
      const frame = frames[target];
      if (frame.current) changes[frame.current] = Object.assign(changes[frame.current] || {},
        {classes: {"ggv-current": true}});
      for (const edge of frame.edges) changes[edge] = {classes: {"ggv-active": true}};
      apply(changes);
      state.index = target;
      state.current = frame.current;
      state.edges = frame.edges;
      parts.captionText.textContent = frame.caption;
      parts.phase.textContent = frame.phase;
      parts.slider.value = String(target);
      parts.counter.textContent = `${target + 1} / ${frames.length}`;
      parts.prev.setAttribute("aria-disabled", String(target === 0));
      parts.first.setAttribute("aria-disabled", String(target === 0));
      parts.next.setAttribute("aria-disabled", String(target === frames.length - 1));
      parts.last.setAttribute("aria-disabled", String(target === frames.length - 1));
      root.dataset.frame = String(target);
      root.dataset.node = frame.current ? state.items[frame.current].name : "";
      if (frame.current) reveal(frame.current);
      drawCurve(frame);
      if (state.selected) describe(state.selected);  // its numbers may have changed (descent)
      emit("frame", target);
    }

    function drawn(item) {  // the look the drawing shows
      return item.drawn !== undefined ? item.drawn : state.data.drawn !== undefined ? state.data.drawn : 2;
    }

    // --- pan and zoom ---------------------------------------------------------------------------
    function box() { return state.layer.getBBox(); }

    function fit() {
      if (!state.zoom) return;
      const bounds = box();
      const width = parts.stage.clientWidth, height = parts.stage.clientHeight;
      const scale = Math.min(width / bounds.width, height / bounds.height, 2) * 0.98;
      state.zoom.zoomAbs(0, 0, scale);
      const t = state.zoom.getTransform();
      state.zoom.moveTo((width - bounds.width * t.scale) / 2 - bounds.x * t.scale,
                        (height - bounds.height * t.scale) / 2 - bounds.y * t.scale);
    }

    // Node or frame `id` at `most`× its drawn size, or smaller to fit, never below `least`× (nor below
    // the whole graph's fit): centred where it fits, else from its left (top) edge.
    function zoomTo(id, most, least) {
      const pieces = state.parts[id];
      if (!pieces || !state.zoom) return;
      const place = layerBox(pieces.group), whole = box();
      const width = parts.stage.clientWidth, height = parts.stage.clientHeight;
      const all = Math.min(width / whole.width, height / whole.height, 2) * 0.98;
      const fits = Math.min(width / place.width, height / place.height) * 0.95;
      state.zoom.zoomAbs(0, 0, Math.max(all, Math.min(most || 1, Math.max(fits, least || 0))));
      const t = state.zoom.getTransform();  // (panzoom keeps within its zoom limits)
      const axis = (size, start, length) => length * t.scale <= size
        ? size / 2 - (start + length / 2) * t.scale : 12 - start * t.scale;
      state.zoom.moveTo(axis(width, place.x, place.width), axis(height, place.y, place.height));
    }

    function zoomBy(ratio) {
      if (!state.zoom) return;
      state.zoom.zoomTo(parts.stage.clientWidth / 2, parts.stage.clientHeight / 2, ratio);
    }

    function reveal(id) {  // keep node `id` in view, at any zoom: pan just enough to show it
      const pieces = state.parts[id];
      if (!pieces || !state.zoom) return;
      // from panzoom's own numbers, not the screen: it draws a change at the next animation frame
      const place = layerBox(pieces.group), t = state.zoom.getTransform();
      const node = {left: t.x + place.x * t.scale, top: t.y + place.y * t.scale};
      node.right = node.left + place.width * t.scale;
      node.bottom = node.top + place.height * t.scale;
      const margin = 12;
      const shift = (low, high, size) => {  // the least move that brings [low, high] into [0, size]
        if (high - low > size - 2 * margin) return size / 2 - (low + high) / 2;
        if (low < margin) return margin - low;
        if (high > size - margin) return size - margin - high;
        return 0;
      };
      const dx = shift(node.left, node.right, parts.stage.clientWidth);
      const dy = shift(node.top, node.bottom, parts.stage.clientHeight);
      if (dx || dy) state.zoom.moveBy(dx, dy, false);
    }

    function layerBox(element) {  // an element's box in the coordinates of the zoomed layer
      const box = element.getBBox();
      const matrix = state.layer.getCTM().inverse().multiply(element.getCTM());
      const corner = (x, y) => new DOMPoint(x, y).matrixTransform(matrix);
      const a = corner(box.x, box.y), b = corner(box.x + box.width, box.y + box.height);
      return {x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), width: Math.abs(b.x - a.x), height: Math.abs(b.y - a.y)};
    }

    function sizeStage() {  // as tall as the drawing at the stage's width, within limits
      const bounds = state.bounds;
      const wide = parts.stage.clientWidth || 600;
      const tall = Math.max(options.minHeight || 240, Math.min(wide * bounds.height / bounds.width + 16,
        window.innerHeight * (options.maxHeightShare || 0.7)));
      parts.stage.style.height = `${Math.round(tall)}px`;
    }

    // --- the story of a node --------------------------------------------------------------------
    function related(id) {  // every node and edge on a path from `id` to the output or from an input
      const marked = new Set([id]);
      const byId = state.items;
      const walk = (start, step) => {
        const todo = [start];
        while (todo.length) {
          const node = byId[todo.pop()];
          for (const edgeId of step(node)) {
            const edge = byId[edgeId];
            if (!edge) continue;
            marked.add(edgeId);
            const other = step === up ? edge.source : edge.target;
            if (!marked.has(other)) { marked.add(other); todo.push(other); }
          }
        }
      };
      const up = (node) => node.args, down = (node) => node.readers;
      walk(id, up);
      walk(id, down);
      return marked;
    }

    function select(id, how) {  // how: "click", "key" (Enter), "search"; none from other code
      const changes = {};
      if (state.selected) {
        for (const other of state.path) changes[other] = {classes: {"ggv-path": false, "ggv-selected": false}};
      }
      state.selected = id && state.items[id] && state.items[id].readers ? id : null;
      state.path = state.selected ? related(state.selected) : new Set();
      for (const other of state.path) {
        changes[other] = {classes: {"ggv-path": true, "ggv-selected": other === state.selected}};
      }
      apply(changes);
      state.svg.classList.toggle("ggv-focus", state.path.size > 1);  // a box with no edges dims nothing
      root.dataset.selected = state.selected ? state.items[state.selected].name : "";
      if (state.selected) { describe(state.selected); reveal(state.selected); } else parts.details.hidden = true;
      emit("select", state.selected ? state.items[state.selected] : null, how);
    }

    function describe(id) {
      const node = state.items[id];
      if (node.rows) { details(node.name, node.rows); return; }  // told by its data (an overview's box)
      const look = node.looks && node.looks.length ? node.looks[state.looks[id]] || {} : {};
      const rows = [["op", node.op === "input" ? "input" : node.op === "const" ? "constant"
        : `${node.op}: ${node.formula}`]];
      rows.push(["value", look.value || node.value]);
      // forward mode tells the tangent ż (the derivative along the direction), reverse mode dL/dnode,
      // both modes both
      const mode = state.data.mode || "reverse";
      const along = state.data.tangent ? Object.entries(state.data.tangent.direction)
        .filter(([, number]) => number !== 0).map(([name, number]) => `${name}=${number}`).join(", ") : "";
      if (node.tangent && mode !== "reverse") rows.push([`tangent${along ? ` along (${along})` : ""}`, node.tangent]);
      if (mode !== "forward") rows.push([`d${state.data.output}/d${node.name}`, look.grad || node.grad]);
      rows.push(["forward", look.forward || node.forward]);
      if (node.backward && mode !== "forward") rows.push(["backward", look.backward || node.backward]);
      const edgeText = (edgeId) => {
        const edge = state.items[edgeId];
        if (!edge) return "";
        return edge.looks && edge.looks.length ? edge.looks[state.looks[edge.id]].rows[0] : edge.text;
      };
      const inward = node.args.map(edgeText).filter(Boolean);
      const outward = node.readers.map(edgeText).filter(Boolean);
      if (inward.length) rows.push(["local derivatives in", inward.join("\n")]);
      if (outward.length) rows.push(["local derivatives out", outward.join("\n")]);
      if (node.notes.length) rows.push(["notes", node.notes.join("\n")]);
      if (node.verdict) rows.push(["SymPy", node.verdict]);
      details(node.name, rows);
    }

    function details(name, rows) {
      const list = el("dl");
      for (const [term, text] of rows) list.append(el("dt", {}, term), el("dd", {}, text));
      const close = el("button", {type: "button", class: "ggv-close", "aria-label": "close the details"}, "×");
      close.addEventListener("click", () => { select(null); parts.stage.focus(); });
      parts.details.replaceChildren(el("h3", {}, name), close, list);
      parts.details.hidden = false;
    }

    function search(text) {
      const wanted = text.trim().toLowerCase();
      const changes = {};
      for (const old of state.matches) changes[old] = {classes: {"ggv-match": false}};
      state.matches = wanted ? state.data.nodes.filter((node) => node.name.toLowerCase().includes(wanted))
        .map((node) => node.id) : [];
      for (const id of state.matches) changes[id] = {classes: {"ggv-match": true}};
      apply(changes);
      parts.found.textContent = wanted ? `${state.matches.length} found` : "";
      return state.matches.map((id) => state.items[id].name);
    }

    function find(text) {  // Enter in the search box: the exact name, else the first match
      search(text);
      const named = state.data.nodes.filter((node) => node.name === text.trim());
      const exact = named.find((node) => node.kind !== "group" && node.kind !== "frame") || named[0];  // a node first
      const id = exact ? exact.id : state.matches[0];
      if (id) select(id, "search");
    }

    // --- the loss curve (descent) ---------------------------------------------------------------
    function drawCurve(frame) {
      const curve = state.data.curve;
      if (!curve || !curve.length) { parts.curve.hidden = true; return; }
      parts.curve.hidden = false;
      const upto = frame.step === undefined ? curve.length - 1 : curve.findIndex((p) => p[0] >= frame.step);
      const points = curve.slice(0, (upto < 0 ? curve.length - 1 : upto) + 1).filter((p) => isFinite(p[1]));
      const width = 220, height = 140, pad = 6;
      const all = curve.filter((p) => isFinite(p[1]));
      const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
      const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y0 = Math.min(...ys), y1 = Math.max(...ys);
      const sx = (x) => pad + (width - 2 * pad) * (x - x0) / ((x1 - x0) || 1);
      const sy = (y) => height - pad - (height - 2 * pad) * (y - y0) / ((y1 - y0) || 1);
      const svg = document.createElementNS(SVG_NS, "svg");
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", "loss by step");
      const line = document.createElementNS(SVG_NS, "polyline");
      line.setAttribute("points", points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "));
      line.setAttribute("class", "ggv-loss-line");
      svg.append(line);
      const last = points[points.length - 1];
      const label = el("p", {class: "ggv-curve-label"},
        last ? `step ${last[0]}: ${state.data.output} = ${last[2]}` : "");  // as the caption writes it
      parts.curve.replaceChildren(el("p", {class: "ggv-curve-title"}, "loss"), svg, label);
      parts.curve.dataset.points = String(points.length);
    }

    // --- playing ---------------------------------------------------------------------------------
    function stop() {
      if (state.timer !== null) { clearInterval(state.timer); state.timer = null; parts.play.textContent = "Play"; }
    }
    function step(delta) { stop(); show(state.index + delta); }
    function play() {
      if (state.timer !== null) { stop(); return; }
      if (state.index === state.data.frames.length - 1) show(0);
      parts.play.textContent = "Pause";
      state.timer = setInterval(() => {
        if (state.index >= state.data.frames.length - 1) stop(); else show(state.index + 1);
      }, options.interval || state.data.interval || PLAY_MS);
    }

    function onKey(event) {
      const target = event.target;
      const typing = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "range"
        && target.type !== "button");
      if (typing) {
        if (target === parts.search && event.key === "Escape") { parts.search.value = ""; search(""); }
        return;
      }
      if (target === parts.slider && event.key.startsWith("Arrow")) return;  // the slider's own keys
      const keys = {
        ArrowRight: () => step(1), ArrowLeft: () => step(-1), Home: () => { stop(); show(0); },
        End: () => { stop(); show(state.data.frames.length - 1); },
        "+": () => zoomBy(1.25), "=": () => zoomBy(1.25), "-": () => zoomBy(0.8), "_": () => zoomBy(0.8),
        0: fit, Escape: () => select(null), "/": () => parts.search.focus(),
        Enter: () => { const group = target.closest && target.closest(PICKED); if (group) select(group.id, "key"); },
      };
      if (event.key === " " && (target === parts.stage || target === document.body)) keys[" "] = play;
      if (event.ctrlKey || event.metaKey || event.altKey || !keys[event.key]) return;
      if (event.key === "Enter" && !(target.closest && target.closest(PICKED))) return;
      keys[event.key]();
      event.preventDefault();
    }

    // --- the drawing ------------------------------------------------------------------------------
    function load(newData, markup, start) {
      stop();
      state.data = newData;
      state.items = {};
      for (const item of newData.nodes.concat(newData.edges)) state.items[item.id] = item;
      if (markup !== undefined && markup !== null) {
        if (state.zoom) { state.zoom.dispose(); state.zoom = null; }
        const svg = typeof markup === "string" ? parseSvg(markup) : markup;
        const bounds = svg.viewBox && svg.viewBox.baseVal && svg.viewBox.baseVal.width
          ? svg.viewBox.baseVal : {width: 300, height: 150};
        state.bounds = {width: bounds.width, height: bounds.height};
        const layer = document.createElementNS(SVG_NS, "g");
        layer.setAttribute("class", "ggv-layer");
        while (svg.firstChild) layer.append(svg.firstChild);
        svg.append(layer);
        svg.removeAttribute("viewBox");
        svg.setAttribute("width", "100%");
        svg.setAttribute("height", "100%");
        svg.classList.add("ggv-svg");
        parts.stage.replaceChildren(svg);
        state.svg = svg;
        state.layer = layer;
        state.looks = {};
        state.parts = index(svg);
        parts.curve.hidden = !(newData.curve && newData.curve.length);  // before the stage is sized
        sizeStage();
        if (global.panzoom) {
          state.zoom = global.panzoom(layer, {maxZoom: 12, minZoom: 0.02, zoomDoubleClickSpeed: 1,
            smoothScroll: false, disableKeyboardInteraction: true, onTouch: () => false});
        }
        fit();
      } else {  // new numbers over the same drawing: every piece is written again
        state.looks = {};
      }
      parts.slider.max = String(Math.max(0, newData.frames.length - 1));
      state.index = markup !== undefined && markup !== null ? -1 : -2;
      state.selected = null;
      state.path = new Set();
      state.svg.classList.remove("ggv-focus");
      parts.details.hidden = true;
      if (start === undefined) start = options.start === "last" ? newData.frames.length - 1 : options.start || 0;
      show(Math.max(0, Math.min(newData.frames.length - 1, start)));
    }

    parts.first.addEventListener("click", () => { stop(); show(0); });
    parts.prev.addEventListener("click", () => step(-1));
    parts.next.addEventListener("click", () => step(1));
    parts.last.addEventListener("click", () => { stop(); show(state.data.frames.length - 1); });
    parts.play.addEventListener("click", play);
    parts.slider.addEventListener("input", () => { stop(); show(parseInt(parts.slider.value, 10)); });
    parts.zoomIn.addEventListener("click", () => zoomBy(1.25));
    parts.zoomOut.addEventListener("click", () => zoomBy(0.8));
    parts.fit.addEventListener("click", fit);
    parts.search.addEventListener("input", () => search(parts.search.value));
    parts.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); find(parts.search.value); }
    });
    parts.stage.addEventListener("pointerdown", (event) => {
      state.down = [event.clientX, event.clientY];
      if (document.activeElement !== parts.stage) parts.stage.focus({preventScroll: true});
    });
    parts.stage.addEventListener("click", (event) => {  // a click, not the end of a drag
      const down = state.down;
      if (down && Math.hypot(event.clientX - down[0], event.clientY - down[1]) > 6) return;
      const group = event.target.closest && event.target.closest(PICKED);
      select(group ? group.id : null, "click");
    });
    (options.keys || root).addEventListener("keydown", onKey);
    window.addEventListener("resize", () => { if (state.bounds) sizeStage(); });

    load(data, options.svg !== undefined ? options.svg : null);

    return {
      show, apply, select, search, fit, zoomBy, zoomTo, reveal, load, play, stop,
      on(kind, listener) { listeners[kind].push(listener); return this; },
      get index() { return state.index; },
      get selected() { return state.selected ? state.items[state.selected].name : null; },
      get data() { return state.data; },
      get svg() { return state.svg; },
      get zoom() { return state.zoom ? state.zoom.getTransform() : null; },
      parts,
    };
  }

  global.GGViewer = {mount, parseSvg};
})(typeof window !== "undefined" ? window : this);

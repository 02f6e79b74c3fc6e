// The calculator page: reads the inputs, asks the server's JSON API, shows the answers.
// Every text from the server or the user goes through textContent (never parsed as HTML); the
// graph's SVG is shown as an image (blob URL), so nothing in it can run.
"use strict";
(() => {
  const CALCULATE_DELAY_MS = 120;   // after the last keystroke
  const FORMULA_DELAY_MS = 300;
  const GRAPH_DELAY_MS = 150;       // after a good calculation
  const $ = (id) => document.getElementById(id);
  const state = {
    seed: null, formula: "", inputs: new Map(), defaults: {},
    result: null, frames: [], urls: [], index: -1, timers: {}, seq: {calculate: 0, formula: 0, graph: 0},
    inFlight: {}, formulaPending: false, valueError: false,
  };

  // --- talking to the server -------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, field) { super(message); this.field = field ?? null; }
  }

  async function api(endpoint, body) {
    // a newer request of the same kind aborts the older one, so the server can drop its job
    if (state.inFlight[endpoint]) state.inFlight[endpoint].abort();
    const controller = new AbortController();
    state.inFlight[endpoint] = controller;
    const options = {signal: controller.signal};
    if (body !== undefined) {
      Object.assign(options, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body)});
    }
    let response;
    try {
      response = await fetch(`/api/${endpoint}`, options);
    } catch (failure) {
      if (failure.name === "AbortError") throw new ApiError("superseded by a newer request", "aborted");
      throw new ApiError(`cannot reach the server (${failure.message}): is graphviz-grad serve still running?`);
    } finally {
      if (state.inFlight[endpoint] === controller) delete state.inFlight[endpoint];
    }
    let data = null;
    try { data = await response.json(); } catch { /* not JSON: reported below */ }
    if (!response.ok || data === null) {
      throw new ApiError(data && data.error ? data.error : `the server answered ${response.status}`,
                         data && data.field);
    }
    return data;
  }

  function later(kind, delay, run) {
    clearTimeout(state.timers[kind]);
    state.timers[kind] = setTimeout(run, delay);
  }

  // --- numbers and small helpers ---------------------------------------------------------------
  function fmt(value) {  // 10 significant digits, as on the command line; "inf", "nan" stay text
    if (typeof value !== "number") return String(value);
    return String(Number(value.toPrecision(10)));
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function setStatus(text) { $("status").textContent = text; }

  // --- errors next to their field --------------------------------------------------------------
  function errorTarget(field) {  // "formula", "lr", "values.NAME" (an input) or null
    if (field === "formula") return {box: $("formula"), message: $("formula-error")};
    if (field === "lr") return {box: $("lr"), message: $("lr-error")};
    const name = typeof field === "string" && field.startsWith("values.") ? field.slice(7) : null;
    if (name !== null && state.inputs.has(name)) return state.inputs.get(name);
    return {box: null, message: $("request-error")};
  }

  function showError(field, text) {
    const target = errorTarget(field);
    target.message.textContent = text;
    if (target.box) target.box.setAttribute("aria-invalid", "true");
  }

  function clearError(field) {
    const target = errorTarget(field);
    target.message.textContent = "";
    if (target.box) target.box.removeAttribute("aria-invalid");
  }

  function clearValueErrors() {
    for (const name of state.inputs.keys()) clearError(`values.${name}`);
    clearError("lr");
    clearError(null);
    state.valueError = false;
  }

  // --- the input fields ------------------------------------------------------------------------
  function setFields(info, keepValues) {
    const old = new Map([...state.inputs].map(([name, parts]) => [name, parts.box.value]));
    const holder = $("fields");
    holder.replaceChildren();
    state.inputs = new Map();
    state.formula = info.formula;
    state.defaults = Object.fromEntries(info.fields.map((field) => [field.name, field.default]));
    info.fields.forEach((field, position) => {
      const id = `input-${position}`;
      const row = element("div", undefined, "field");
      const label = element("label", field.name);
      label.htmlFor = id;
      const box = element("input");
      Object.assign(box, {id, name: field.name, inputMode: "decimal", spellcheck: false});
      box.dataset.name = field.name;
      box.setAttribute("aria-describedby", `${id}-help ${id}-error`);
      box.value = keepValues && old.has(field.name) ? old.get(field.name) : fmt(field.default);
      box.addEventListener("input", () => {  // an edited box loses its old message; a new one may come
        clearError(`values.${field.name}`);
        later("calculate", CALCULATE_DELAY_MS, calculate);
      });
      const help = element("small", field.help, "help");
      help.id = `${id}-help`;
      const message = element("p", "", "error");
      message.id = `${id}-error`;
      message.setAttribute("role", "alert");
      row.append(label, box, help, message);
      holder.append(row);
      state.inputs.set(field.name, {box, message});
    });
    for (const button of document.querySelectorAll(".seed-only")) button.hidden = !info.seed;
  }

  function setValues(values) {
    for (const [name, value] of Object.entries(values)) {
      if (state.inputs.has(name)) state.inputs.get(name).box.value = fmt(value);
    }
  }

  function requestBody() {
    const values = {};
    for (const [name, parts] of state.inputs) values[name] = parts.box.value;
    const body = {formula: state.formula, values};
    if ($("lr").value.trim() !== "") body.lr = $("lr").value;
    return body;
  }

  // --- calculating -----------------------------------------------------------------------------
  async function calculate() {
    clearTimeout(state.timers.calculate);
    const seq = ++state.seq.calculate;
    const body = requestBody();
    setStatus("Calculating…");
    try {
      const data = await api("calculate", body);
      if (seq !== state.seq.calculate) return;  // a newer request is on its way
      clearValueErrors();
      state.result = data;
      showResult(data);
      setStatus("");
      $("app").dataset.state = "ready";
      later("graph", state.frames.length ? GRAPH_DELAY_MS : 0, () => loadGraph(body));
      if (state.formulaPending) formulaChanged();  // a formula change the server could not take yet
    } catch (failure) {
      if (seq !== state.seq.calculate || failure.field === "aborted") return;
      showError(failure.field, failure.message);
      state.valueError = failure.field !== null;  // the inputs are wrong, not the connection
      setStatus(state.result ? "Still showing the last good result." : "");
    }
  }

  async function formulaChanged(keepValues = true) {
    clearTimeout(state.timers.formula);
    const seq = ++state.seq.formula;
    state.formulaPending = false;
    try {
      const info = await api("formula", {formula: $("formula").value});
      if (seq !== state.seq.formula) return;
      clearError("formula");
      if (info.formula === state.formula && keepValues) return;
      setFields(info, keepValues);
      await calculate();
    } catch (failure) {
      if (seq !== state.seq.formula || failure.field === "aborted") return;
      // the formula's own fault waits for an edit; anything else (no server, busy) is retried
      state.formulaPending = failure.field !== "formula";
      showError(failure.field === "formula" ? "formula" : null, failure.message);
      setStatus(state.result ? "Still showing the last good result." : "");
    }
  }

  function showResult(data) {
    const output = data.output;
    $("loss").textContent = `${output} = ${fmt(data.loss)}`;
    const check = $("check");
    const verdict = data.check.ok === null ? ["–", "skipped"] : data.check.ok ? ["✓", "agree"] : ["✗", "disagree"];
    check.textContent = `${verdict[0]} ${data.check.text}`;
    check.className = `check ${verdict[1]}`;
    check.title = data.check.summary;
    $("gradient-heading").textContent = `d${output}/d input`;

    const rows = data.table.map((row) => {
      const line = element("tr", undefined, row.role);
      line.append(element("td", row.name), element("td", row.role), element("td", fmt(row.value)),
                  element("td", fmt(row.gradient)));
      return line;
    });
    document.querySelector("#gradients tbody").replaceChildren(...rows);
    showChart(data.chart);

    const formulas = data.check.ok === null ? [element("li", `not computed: ${data.check.summary}`)] : [];
    $("formulas").replaceChildren(...formulas, ...data.formulas.map((item) => element("li",
      item.in_nodes && item.in_nodes !== item.closed_form
        ? `${item.label} = ${item.closed_form} = ${item.in_nodes}` : `${item.label} = ${item.closed_form}`)));
    $("interpretation").replaceChildren(...data.interpretation.map((line) => element("li", line)));
    $("update").textContent = data.update.lines.join("\n");
    $("copy-block").textContent = data.copy;
    const forward = data.derivation.forward.map((line) => line.text);
    const backward = data.derivation.backward.map((line) => line.text);
    $("derivation").textContent = ["Forward pass", ...forward, "", "Backward pass", ...backward].join("\n");
  }

  function showChart(items) {
    const finite = items.map((item) => item.magnitude).filter((m) => typeof m === "number");
    const largest = Math.max(0, ...finite);
    const cells = [];
    for (const item of items) {
      const magnitude = item.magnitude;
      let width = 0;
      if (magnitude === "inf") width = 100;
      else if (typeof magnitude === "number" && largest > 0) width = (100 * magnitude) / largest;
      const kind = magnitude === "inf" ? `inf ${item.sign === "-" ? "neg" : "pos"}`
        : {"+": "pos", "-": "neg", "0": "zero"}[item.sign] || "nan";
      const track = element("div", undefined, "bar-track");
      const bar = element("div", undefined, `bar ${kind}`);
      bar.style.width = `${width}%`;
      track.append(bar);
      track.dataset.name = item.name;
      track.dataset.magnitude = String(magnitude);
      track.title = `|${item.label}| = ${fmt(magnitude)}`;
      cells.push(element("span", item.label), track, element("span", fmt(item.gradient)));
    }
    $("chart").replaceChildren(...cells);
  }

  // --- the graph, step by step -----------------------------------------------------------------
  async function loadGraph(body) {
    const seq = ++state.seq.graph;
    state.graphBody = body;
    try {  // forward mode's direction: the first input's unit vector (the server's default)
      const data = await api("graph", {formula: body.formula, values: body.values, mode: $("mode").value});
      if (seq !== state.seq.graph) return;
      $("graph-error").textContent = "";
      setFrames(data.frames);
    } catch (failure) {
      if (seq === state.seq.graph && failure.field !== "aborted") $("graph-error").textContent = failure.message;
    }
  }

  function setFrames(frames) {
    const sameSteps = frames.length === state.frames.length;
    for (const url of state.urls) URL.revokeObjectURL(url);
    state.urls = frames.map((frame) => URL.createObjectURL(new Blob([frame.svg], {type: "image/svg+xml"})));
    state.frames = frames;
    $("slider").max = String(Math.max(0, frames.length - 1));
    showFrame(sameSteps && state.index >= 0 ? state.index : frames.length - 1);  // start on the full graph
  }

  function showFrame(index) {
    if (!state.frames.length) return;
    const last = state.frames.length - 1;
    state.index = Math.min(Math.max(0, index), last);
    const frame = state.frames[state.index];
    $("frame").src = state.urls[state.index];
    $("frame").alt = frame.caption;
    $("caption").textContent = frame.caption;
    $("counter").textContent = `step ${state.index + 1} of ${state.frames.length}`;
    $("slider").value = String(state.index);
    $("prev").disabled = state.index === 0;
    $("next").disabled = state.index === last;
    $("graph-panel").dataset.frame = String(state.index);
  }

  // --- buttons ---------------------------------------------------------------------------------
  async function copyResults() {
    if (!state.result) return;
    const text = state.result.copy;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // no clipboard API (a page that is not on localhost or https): select and copy
      const scratch = element("textarea", text);
      document.body.append(scratch);
      scratch.select();
      const copied = document.execCommand("copy");
      scratch.remove();
      if (!copied) { setStatus("Copying is blocked here: select the copy block and copy it by hand."); return; }
    }
    setStatus(state.valueError ? "Copied the last good results (the inputs on screen have an error)."
      : "Copied the results to the clipboard.");
  }

  function reset() {
    setValues(state.defaults);
    $("lr").value = fmt(state.seed.learning_rate);
    calculate();
  }

  function example(number) {
    setValues(state.seed.examples[number]);
    calculate();
  }

  async function start() {
    let seed;
    try {
      seed = await api("seed");
    } catch (failure) {
      showError(null, failure.message);
      return;
    }
    state.seed = seed;
    $("formula").value = seed.formula;
    $("lr").value = fmt(seed.learning_rate);
    setFields(seed, false);
    await calculate();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("inputs").addEventListener("submit", (event) => { event.preventDefault(); calculate(); });
    $("formula").addEventListener("input", () => later("formula", FORMULA_DELAY_MS, () => formulaChanged()));
    $("formula").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); formulaChanged(); }
    });
    $("lr").addEventListener("input", () => {
      clearError("lr");
      later("calculate", CALCULATE_DELAY_MS, calculate);
    });
    $("reset").addEventListener("click", reset);
    $("example-1").addEventListener("click", () => example("1"));
    $("example-2").addEventListener("click", () => example("2"));
    $("copy").addEventListener("click", copyResults);
    $("seed-formula").addEventListener("click", () => {  // the seed with its defaults: Example 1
      $("formula").value = state.seed.formula;
      formulaChanged(false);
    });
    $("prev").addEventListener("click", () => showFrame(state.index - 1));
    $("next").addEventListener("click", () => showFrame(state.index + 1));
    $("slider").addEventListener("input", () => showFrame(Number($("slider").value)));
    $("mode").addEventListener("change", () => { if (state.graphBody) loadGraph(state.graphBody); });
    $("graph-panel").addEventListener("keydown", (event) => {
      if ((event.target.tagName === "INPUT" && event.target.type !== "range") || event.target.tagName === "SELECT") return;
      if (event.key === "ArrowLeft") { showFrame(state.index - 1); event.preventDefault(); }
      if (event.key === "ArrowRight") { showFrame(state.index + 1); event.preventDefault(); }
    });
    start();
  });
})();

// The calculator page: reads the inputs, asks the server's JSON API, shows the answers.
// Every text from the server or the user goes through textContent (never parsed as HTML); the
// graph's SVG (Graphviz's, of escaped labels) is parsed as SVG and its scripts, if any, removed; the
// page's Content-Security-Policy runs only its own script files.
"use strict";
(() => {
  const CALCULATE_DELAY_MS = 120;   // after the last keystroke
  const FORMULA_DELAY_MS = 300;
  const GRAPH_DELAY_MS = 150;       // after a good calculation
  const $ = (id) => document.getElementById(id);
  const state = {
    seed: null, formula: "", inputs: new Map(), defaults: {},
    result: null, viewer: null, mode: "steps", frameCount: 0, timers: {},
    seq: {calculate: 0, formula: 0, graph: 0},
    inFlight: {}, formulaPending: false, valueError: false,
  };

  // --- talking to the server -------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, field) { super(message); this.field = field ?? null; }
  }

  // names this page to the server, which bounds the jobs each page may have at once
  const SESSION = Array.from(crypto.getRandomValues(new Uint8Array(12)),
                             (byte) => byte.toString(16).padStart(2, "0")).join("");

  async function api(endpoint, body) {
    // a newer request of the same kind aborts the older one, so the server can drop its job
    if (state.inFlight[endpoint]) state.inFlight[endpoint].abort();
    const controller = new AbortController();
    state.inFlight[endpoint] = controller;
    const options = {signal: controller.signal};
    if (body !== undefined) {
      Object.assign(options, {method: "POST", headers: {"Content-Type": "application/json",
                                                        "X-Graphviz-Grad-Session": SESSION},
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
  function fmt(value) {  // Python's f"{value:.10g}", as text.format_number and the command line write it
    if (typeof value !== "number") return String(value);  // "inf", "nan" come as text
    if (value === 0) return "0";
    const [mantissa, power] = value.toExponential(9).split("e");
    const exponent = Number(power);
    if (exponent >= -4 && exponent < 10) return String(Number(value.toPrecision(10)));
    const digits = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa;
    return `${digits}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
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
    setDirections(info.fields.map((field) => field.name));
  }

  // --- forward mode's direction: one input's unit vector, or a vector typed as name=number pairs ---
  const VECTOR = "\u0000vector";  // the choice that shows the vector box (no input is named so)
  function setDirections(names) {
    const select = $("direction");
    const chosen = select.value;
    const choices = names.map((name) => {
      const option = element("option", `${name} (unit vector)`);
      option.value = name;
      return option;
    });
    const typed = element("option", "a vector…");
    typed.value = VECTOR;
    select.replaceChildren(...choices, typed);
    select.value = names.includes(chosen) || chosen === VECTOR ? chosen : names.length ? names[0] : VECTOR;
    showDirection();
  }

  function showDirection() {
    $("direction-box").hidden = $("mode").value === "reverse";
    $("direction-vector").hidden = $("direction").value !== VECTOR;
  }

  function direction() {  // the API's "tangent": an input's name, or {name: number text} (others 0)
    if ($("direction").value !== VECTOR) return $("direction").value;
    const vector = {};
    for (const part of $("direction-vector").value.split(/[,;]/)) {
      if (!part.trim()) continue;
      const [name, ...number] = part.split("=");
      vector[name.trim()] = number.join("=").trim();
    }
    return vector;
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
  // Two requests at once: the engine's numbers (/api/calculate without the check: milliseconds)
  // and the SymPy check (/api/check, from its own pool of workers). The numbers are shown as
  // soon as they come, the check says "checking…" until its answer comes; a newer input aborts
  // both, and an answer for another input than the one on screen is never shown.
  async function calculate() {
    clearTimeout(state.timers.calculate);
    const seq = ++state.seq.calculate;
    const body = requestBody();
    setStatus("Calculating…");
    const verdict = api("check", body);
    verdict.catch(() => {});  // (shown by showCheckWhenItComes, or dropped with the numbers' error)
    try {
      const data = await api("calculate", {...body, check: false});
      if (seq !== state.seq.calculate) return;  // a newer request is on its way
      clearValueErrors();
      state.result = data;
      showResult(data);
      setStatus("");
      $("app").dataset.state = "ready";
      clearStale();
      later("graph", state.viewer ? GRAPH_DELAY_MS : 0, () => { state.graphWanted = seq; loadGraph(body); });
      showCheckWhenItComes(verdict, seq);
      if (state.formulaPending) formulaChanged();  // a formula change the server could not take yet
    } catch (failure) {
      if (seq !== state.seq.calculate || failure.field === "aborted") return;
      showError(failure.field, failure.message);
      state.valueError = failure.field !== null;  // the inputs are wrong, not the connection
      setStatus(state.result ? "Still showing the last good result." : "");
      if (state.result && state.valueError) markStale(failure.message);
      if (state.result && state.result.check.pending) {  // its check was aborted with this request
        showCheck({...state.result, check: {ok: null, summary: "the inputs changed before it came",
                                             text: "SymPy check not done: the inputs changed before it came."}});
      }
    }
  }

  async function showCheckWhenItComes(verdict, seq) {
    let part;
    try {
      part = await verdict;
    } catch (failure) {  // a time limit, a busy server, no server: the numbers stay, the check says so
      if (seq === state.seq.calculate && failure.field !== "aborted") showCheckFailure(failure.message);
      return;
    }
    const result = state.result;
    if (seq !== state.seq.calculate || !result || !samePoint(part, result)) return;  // for other inputs
    Object.assign(result, {check: part.check, formulas: part.formulas, interpretation: part.interpretation});
    showCheck(result);
    // the graph of these inputs came first: its details get the verdict now
    if (state.graphData && state.graphFor === seq) addVerdicts(state.graphData);
  }

  function samePoint(part, result) {
    const names = Object.keys(result.inputs);
    return part.formula === result.formula && part.output === result.output
      && names.length === Object.keys(part.inputs).length
      && names.every((name) => part.inputs[name] === result.inputs[name]);
  }

  function showCheck(result) {  // the verdict beside the loss, the closed forms, what the signs mean
    const info = result.check;
    const [mark, kind, text] = info.pending ? ["⋯", "pending", "SymPy is checking"]
      : info.ok === null ? ["–", "skipped", info.text] : info.ok ? ["✓", "agree", info.text]
        : ["✗", "disagree", info.text];
    const check = $("check");
    check.textContent = `${mark} ${text}`;
    check.className = `check ${kind}`;
    check.title = info.summary;
    check.dataset.state = kind;
    const note = info.pending ? "SymPy is working them out…" : `not computed: ${info.summary}`;
    const formulas = info.ok === null ? [element("li", note)] : [];
    $("formulas").replaceChildren(...formulas, ...result.formulas.map((item) => element("li",
      item.in_nodes && item.in_nodes !== item.closed_form
        ? `${item.label} = ${item.closed_form} = ${item.in_nodes}` : `${item.label} = ${item.closed_form}`)));
    $("interpretation").replaceChildren(...result.interpretation.map((line) => element("li", line)));
  }

  function showCheckFailure(message) {
    const check = $("check");
    check.textContent = `⚠ SymPy check failed: ${message}`;
    check.className = "check failed";
    check.title = message;
    check.dataset.state = "failed";
    $("formulas").replaceChildren(element("li", `not computed: ${message}`));
  }

  // a bad input leaves the last good numbers on screen, marked as such right beside the loss
  function markStale(message) {
    $("stale").textContent = `not updated: ${message}`;
    $("results-summary").classList.add("stale");
  }

  function clearStale() {
    $("stale").textContent = "";
    $("results-summary").classList.remove("stale");
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
    showCheck(data);
    $("gradient-heading").textContent = `d${output}/d input`;
    $("gradient-list").replaceChildren(...data.table.map((row) => element("li",
      `d${output}/d${row.name} = ${fmt(row.gradient)}`, row.role)));

    const rows = data.table.map((row) => {
      const line = element("tr", undefined, row.role);
      line.append(element("td", row.name), element("td", row.role), element("td", fmt(row.value)),
                  element("td", fmt(row.gradient)));
      return line;
    });
    document.querySelector("#gradients tbody").replaceChildren(...rows);
    showChart(data.chart);
    $("update").textContent = data.update.lines.join("\n");
    $("curvature").textContent = curvatureText(data.curvature, data.update);
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

  // The Hessian's largest eigenvalue in the parameters and the stable step lr < 2/λmax (as calc writes it)
  function curvatureText(curvature, update) {
    if (!curvature || curvature.max_eigenvalue === null) {
      return "not available at this point: an entry of the Hessian is a kink or undefined, or the formula "
        + "has no parameters or more than 100";
    }
    const names = update.parameters.map((parameter) => parameter.name).join(", ");
    const lines = [`largest eigenvalue of the Hessian in ${names}: λmax = ${fmt(curvature.max_eigenvalue)}`];
    const stable = curvature.stable_lr_below;
    if (stable === null) lines.push("λmax ≤ 0: no learning rate overshoots on the local quadratic model");
    else {
      lines.push(`gradient descent is stable for lr < 2/λmax = ${fmt(stable)} (here lr = ${fmt(update.lr)}: `
        + (update.lr < stable ? "stable)" : "too large: it overshoots)"));
    }
    return lines.join("\n");
  }

  // --- the graph, step by step (the viewer: viewer.js) ------------------------------------------
  // The server lays the graph out once and sends the changes that make each step; the viewer
  // applies them. `passes` (both, forward or backward) says which steps: a hook for a mode switch
  // (#graph-panel's data-passes, or window.ggPage.setPasses).
  async function loadGraph(body) {
    const seq = ++state.seq.graph;
    try {
      const passes = $("graph-panel").dataset.passes || "both";
      const mode = $("mode").value;
      const data = await api("graph", {formula: body.formula, values: body.values, passes, mode,
        ...(mode === "reverse" ? {} : {tangent: direction()})});
      if (seq !== state.seq.graph) return;
      state.drawn = {formula: body.formula, values: body.values};  // a big graph's groups open over these
      $("graph-error").textContent = "";
      showScene(data, state.mode === "steps" && state.frameCount === data.frames.length ? state.viewer.index
        : data.frames.length - 1);  // start on the full graph
      state.mode = "steps";
      $("graph-heading").textContent = "The graph, step by step";
    } catch (failure) {
      if (seq === state.seq.graph && failure.field !== "aborted") $("graph-error").textContent = failure.message;
    }
  }

  function showScene(data, start) {
    state.frameCount = data.frames.length;
    state.graphData = data;
    state.graphFor = state.graphWanted;  // the calculation whose inputs it shows
    addVerdicts(data);
    if (!state.viewer) {
      state.viewer = GGViewer.mount($("viewer"), data, {svg: data.svg, start, keys: $("graph-panel")});
      window.ggPage.viewer = state.viewer;
      GGOverview.attach(state.viewer, {toggle: openOrClose, report: (text, failure) => {
        if (!failure || failure.field !== "aborted") $("graph-error").textContent = text;
      }});
    } else {
      state.viewer.load(data, data.svg, start);
    }
    $("graph-panel").dataset.frames = String(data.frames.length);
  }

  // a big graph's overview (overview.js): a group opened or closed by the server, over the values drawn
  async function openOrClose(open, group, action) {
    const seq = state.seq.graph;
    const answer = await api("overview", {...state.drawn, open, group, action});
    if (seq !== state.seq.graph) throw new ApiError("superseded by a newer graph", "aborted");
    return answer;
  }

  // the SymPy check of the calculation on screen, for the details of each input it covered
  function addVerdicts(data) {
    const result = state.result;
    if (!result || result.output !== data.output || result.check.ok === null) return;
    const formulas = new Map(result.formulas.map((item) => [item.label, item.closed_form]));
    const word = result.check.ok ? "SymPy agrees" : `SymPy: ${result.check.text}`;
    for (const node of data.nodes) {
      const label = `d${data.output}/d${node.name}`;
      if (node.op === "input" && formulas.has(label)) node.verdict = `${word}: ${label} = ${formulas.get(label)}`;
    }
  }

  async function train() {  // a gradient-descent run from the inputs on screen, played over the graph
    const body = requestBody();
    body.steps = $("steps").value.trim() || "100";
    const seq = ++state.seq.graph;
    $("train").disabled = true;
    setStatus("Training…");
    try {
      const data = await api("descend", body);
      if (seq !== state.seq.graph) return;
      $("graph-error").textContent = data.status === "diverged" ? data.message : "";
      state.mode = "descent";
      $("graph-heading").textContent = `Gradient descent: ${data.message}`;
      showScene(data, 0);
      state.viewer.play();
      setStatus("");
    } catch (failure) {
      if (failure.field === "aborted") return;
      if (failure.field === "lr" || failure.field === "steps" || (failure.field || "").startsWith("values.")) {
        showError(failure.field === "steps" ? null : failure.field, failure.message);
      }
      $("graph-error").textContent = failure.message;
      setStatus("");
    } finally {
      $("train").disabled = false;
    }
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
    $("functions").textContent = seed.functions.join(" ");  // from the op table
    $("lr").value = fmt(seed.learning_rate);
    setFields(seed, false);
    await calculate();
  }

  window.ggPage = {
    viewer: null,
    setPasses(passes) { $("graph-panel").dataset.passes = passes; state.mode = "steps"; loadGraph(requestBody()); },
  };

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
    $("train").addEventListener("click", train);
    $("show-steps").addEventListener("click", () => { state.mode = "steps"; loadGraph(requestBody()); });
    const redraw = () => { showDirection(); state.mode = "steps"; loadGraph(requestBody()); };
    $("mode").addEventListener("change", redraw);
    $("direction").addEventListener("change", redraw);
    $("direction-vector").addEventListener("input", () => later("direction", CALCULATE_DELAY_MS, redraw));
    start();
  });
})();

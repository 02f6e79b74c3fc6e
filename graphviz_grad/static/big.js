// The /big page: micrograd's demo network as an overview whose groups open and close on a click
// (viewer.js draws, overview.js asks /api/overview for each change).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SESSION = Array.from(crypto.getRandomValues(new Uint8Array(12)),
                             (byte) => byte.toString(16).padStart(2, "0")).join("");

  async function ask(body) {
    let response;
    try {
      response = await fetch("/api/overview", {method: "POST", body: JSON.stringify({demo: "mlp", ...body}),
        headers: {"Content-Type": "application/json", "X-Graphviz-Grad-Session": SESSION}});
    } catch (failure) {
      throw new Error(`cannot reach the server (${failure.message}): is graphviz-grad serve still running?`);
    }
    let data = null;
    try { data = await response.json(); } catch { /* not JSON: said below */ }
    if (!response.ok || data === null) throw new Error(data && data.error ? data.error : `the server answered ${response.status}`);
    return data;
  }

  async function start() {
    try {
      const data = await ask({});
      const viewer = GGViewer.mount($("viewer"), data, {svg: data.svg, keys: $("graph-panel"), maxHeightShare: 0.85});
      window.ggBig = {viewer};
      GGOverview.attach(viewer, {toggle: (open, group, action) => ask({open, group, action}),
                                 report: (text) => { $("graph-error").textContent = text; }});
      $("status").textContent = "";
      $("app").dataset.state = "ready";
    } catch (failure) {
      $("status").textContent = "";
      $("graph-error").textContent = failure.message;
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();

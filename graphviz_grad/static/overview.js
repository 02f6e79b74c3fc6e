// Big graphs in the viewer (viewer.js): a click on a collapsed group box opens it in place, a click on
// an open group's frame (its title) closes it; Tab to a box or frame and Enter do the same. Where the new
// view comes from is the caller's: the page asks the server (/api/overview), the player looks it up
// among the views it holds. docs/big-graphs.md describes the data; all text goes in through textContent.
"use strict";
(function (global) {
  // options.toggle(open, group, action) → a promise of the new view: the viewer's data with `svg`,
  // `open` and `change` ({removed, added, removed_edges, added_edges}); options.report(text, failure)
  // shows a failure ("" clears it).
  function attach(viewer, options) {
    const report = options.report || (() => {});
    const state = {busy: false};

    async function run(item) {
      const data = viewer.data;
      if (!data || data.kind !== "overview" || state.busy) return;
      const action = item.kind === "frame" ? "collapse" : "expand";
      const root = viewer.parts.stage.closest(".ggv");
      state.busy = true;
      root.setAttribute("aria-busy", "true");
      report("");
      try {
        const answer = await options.toggle(data.open, item.group, action);
        viewer.load(answer, answer.svg);
        const added = {};  // what the change brought: marked until the next change
        for (const box of (answer.change || {added: []}).added) added[box.id] = {classes: {"ggv-added": true}};
        viewer.apply(added);
        root.dataset.open = answer.open.join(" ");
        const shown = answer.nodes.find((node) => node.group === item.group);  // its frame, or its box again
        if (shown) {
          viewer.select(shown.id);  // its story in the details (a select from code opens nothing)
          const element = viewer.svg.getElementById(shown.id);
          if (element) element.focus({preventScroll: true});
          viewer.zoomTo(shown.id, 1, 0.6);  // readable: 14-point text at 8.4 px or more
        }
      } catch (failure) {
        report(failure.message || String(failure), failure);
      } finally {
        state.busy = false;
        root.removeAttribute("aria-busy");
      }
    }

    const controls = () => {  // an overview is one picture: no frames to step through
      viewer.parts.controls.hidden = !!viewer.data && viewer.data.kind === "overview";
    };
    viewer.on("frame", controls);
    controls();
    viewer.on("select", (item, how) => {  // a click or Enter on a box or frame; not a search, not code
      if ((how !== "click" && how !== "key") || !item || (item.kind !== "group" && item.kind !== "frame")) return;
      if (item.kind === "group" && !item.expandable) return;
      run(item);
    });
    return {get busy() { return state.busy; }};
  }

  global.GGOverview = {attach};
})(typeof window !== "undefined" ? window : this);

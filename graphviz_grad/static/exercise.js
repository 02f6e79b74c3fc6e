// The exercise page: asks /api/exercise for an exercise, shows its blanks, sends every answer
// on Check and lists the marks. No state on the server: each request carries all the answers.
(function () {
  "use strict";
  var ready = document.getElementById("ready");
  var picture = document.getElementById("picture");
  var derivation = document.getElementById("derivation");
  var blanks = document.getElementById("blanks");
  var task = document.getElementById("task");
  var score = document.getElementById("score");
  var marks = document.getElementById("marks");
  var error = document.getElementById("error");

  function ask(body) {
    error.textContent = "";
    return fetch("/api/exercise", {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(body)})
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
          return data;
        });
      });
  }

  function show(data, fresh) {
    task.textContent = data.task || data.description;
    derivation.textContent = data.derivation.join("\n");
    if (data.svg) {
      picture.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(data.svg);
      picture.alt = data.description;
    }
    if (fresh) {
      blanks.replaceChildren();
      data.blanks.forEach(function (key) {
        var label = document.createElement("label");
        var name = document.createElement("span");
        var input = document.createElement("input");
        name.textContent = key + " =";
        input.dataset.key = key;
        input.inputMode = "text";  // not "decimal": phones' decimal pads have no minus sign, and nan, inf are answers
        input.placeholder = "?";
        label.append(name, input);
        blanks.append(label);
      });
    }
    score.textContent = data.score || "";
    marks.replaceChildren();
    (data.marks || []).forEach(function (mark) {
      var item = document.createElement("li");
      item.className = mark.right ? "right" : "wrong";
      item.textContent = (mark.right ? "✓ " : "✗ ") + mark.text;
      marks.append(item);
      var box = blanks.querySelector('input[data-key="' + CSS.escape(mark.key) + '"]');
      if (box) { box.setAttribute("aria-invalid", mark.right ? "false" : "true"); }
    });
  }

  // Answers can arrive out of order (the first exercise's after the one picked next): only the
  // answer to the latest load, or to a Check made since it, is shown.
  var latest = 0;

  function load() {
    var mine = ++latest;
    ask({name: ready.value}).then(function (data) { if (mine === latest) { show(data, true); } })
      .catch(function (failure) { if (mine === latest) { error.textContent = failure.message; } });
  }

  document.getElementById("answers").addEventListener("submit", function (event) {
    event.preventDefault();
    var answers = {};
    blanks.querySelectorAll("input").forEach(function (input) {
      answers[input.dataset.key] = input.value;  // an empty box too: it is marked "no answer yet"
    });
    var mine = latest;
    ask({name: ready.value, answers: answers}).then(function (data) { if (mine === latest) { show(data, false); } })
      .catch(function (failure) { if (mine === latest) { error.textContent = failure.message; } });
  });
  ready.addEventListener("change", load);
  load();
}());

// The Python version picker on runnable snippets (see docs/authoring.md, "Python
// versions"). It adds a compact <select name="python"> to every snippet's Run form,
// offering the running runtimes from GET /api/runtimes that the snippet's
// `data-python` spec allows; the choice is remembered site-wide (localStorage) and
// kept on the figure as `data-python-chosen`, which run.js sends with the run. The
// `output` blocks after a snippet carry their spec in `data-python` ("" for the
// default one): the one for the chosen version is shown, the others hidden.
(function () {
  "use strict";
  var KEY = "snakepit-python";

  function minor(v) {
    var p = v.split(".");
    return [parseInt(p[0], 10), parseInt(p[1], 10)];
  }
  function cmp(a, b) { return a[0] - b[0] || a[1] - b[1]; }

  // "3.11,3.13+", "3.11-3.12", "3.14": does it name `version`?
  function matches(spec, version) {
    var v = minor(version);
    return spec.split(",").some(function (part) {
      part = part.trim();
      if (part.slice(-1) === "+") return cmp(v, minor(part.slice(0, -1))) >= 0;
      var range = part.split("-");
      var lo = minor(range[0]), hi = minor(range[range.length - 1]);
      return cmp(v, lo) >= 0 && cmp(v, hi) <= 0;
    });
  }

  function stored() {
    try { return localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function store(v) {
    try { localStorage.setItem(KEY, v); } catch (e) { /* private mode */ }
  }

  function outputsOf(figure) {
    var out = [];
    for (var el = figure.nextElementSibling; el; el = el.nextElementSibling) {
      if (el.classList.contains("run-output") || el.classList.contains("share-panel")) continue;
      if (!el.matches("figure.output-block")) break;
      out.push(el);
    }
    return out;
  }

  // Show the output block for `version`: the versioned one naming it, else the default.
  function showOutputs(figure, version) {
    var blocks = outputsOf(figure);
    var pick = blocks.filter(function (b) {
      return b.dataset.python && matches(b.dataset.python, version);
    })[0] || blocks.filter(function (b) { return !b.dataset.python; })[0];
    blocks.forEach(function (b) { b.hidden = b !== pick; });
  }

  var pickers = [];

  function choose(figure, select, version) {
    select.value = version;
    figure.setAttribute("data-python-chosen", version);
    showOutputs(figure, version);
  }

  function setup(info) {
    var running = info.runtimes.filter(function (r) { return r.available; });
    if (!running.length) return;
    document.querySelectorAll("figure.snippet[data-snippet]").forEach(function (figure) {
      var form = figure.querySelector("form.run-form");
      if (!form || form.querySelector("select[name=python]")) return;
      var spec = figure.dataset.python || "";
      var offered = running.filter(function (r) { return !spec || matches(spec, r.id); });
      if (!offered.length) return;
      var select = document.createElement("select");
      select.name = "python";
      select.className = "python-picker";
      select.setAttribute("aria-label", "Python version");
      select.title = "Python version to run this snippet on";
      offered.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r.id;
        o.textContent = r.id;
        o.title = "Python " + r.version + (r.missing_packages.length
          ? " (no wheel for: " + r.missing_packages.join(", ") + ")" : "");
        select.appendChild(o);
      });
      form.insertBefore(select, form.firstChild);
      var ids = offered.map(function (r) { return r.id; });
      // A shared snippet opens on the version it was shared for.
      var want = figure.getAttribute("data-python-chosen") || stored();
      var initial = ids.indexOf(want) >= 0 ? want
        : ids.indexOf(info.default) >= 0 ? info.default : ids[ids.length - 1];
      choose(figure, select, initial);
      select.addEventListener("change", function () {
        store(select.value);
        // Remembered site-wide: every snippet offering this version follows.
        pickers.forEach(function (p) {
          if (p.ids.indexOf(select.value) >= 0) choose(p.figure, p.select, select.value);
        });
      });
      pickers.push({ figure: figure, select: select, ids: ids });
    });
  }

  function start() {
    if (!document.querySelector("figure.snippet[data-snippet]")) return;
    fetch("/api/runtimes", { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) { if (info) setup(info); })
      .catch(function () { /* runs use the default version */ });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

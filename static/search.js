// Snakepit search-as-you-type. Without this file the header box is a plain form that
// submits to /search; with it, results appear under the box as the reader types.
// It also marks the searched words on an article opened from a result (?hl=...).
"use strict";

(function () {
  var DEBOUNCE_MS = 120;
  var LIMIT = 8;

  function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  // A regex matching words that start with any of the terms (so "closure" marks "closures").
  function termsRegExp(terms) {
    var parts = terms.filter(function (t) { return t.length > 1; }).map(escapeRegExp);
    if (!parts.length) return null;
    parts.sort(function (a, b) { return b.length - a.length; });
    return new RegExp("(^|[^\\w])((?:" + parts.join("|") + ")\\w*)", "gi");
  }

  // Appends `text` to `parent`, wrapping matches of `re` in <mark>; never uses innerHTML.
  function appendMarked(parent, text, re) {
    if (!re) { parent.appendChild(document.createTextNode(text)); return; }
    var last = 0;
    text.replace(re, function (all, lead, word, offset) {
      var start = offset + lead.length;
      parent.appendChild(document.createTextNode(text.slice(last, start)));
      var mark = document.createElement("mark");
      mark.textContent = word;
      parent.appendChild(mark);
      last = start + word.length;
      return all;
    });
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function queryTerms(q) {
    return (q.toLowerCase().match(/[\w.]+/g) || []).map(function (t) { return t.replace(/^\.+|\.+$/g, ""); })
      .filter(function (t) { return t.length > 1; });
  }

  // The hit's URL with ?hl= terms so the article marks them.
  function hitHref(hit, q) {
    var terms = (hit.terms || []).concat(queryTerms(q));
    var seen = {};
    terms = terms.filter(function (t) { if (seen[t]) return false; seen[t] = true; return true; }).slice(0, 10);
    var hash = "";
    var path = hit.url;
    var i = path.indexOf("#");
    if (i >= 0) { hash = path.slice(i); path = path.slice(0, i); }
    return path + (terms.length ? "?hl=" + encodeURIComponent(terms.join(" ")) : "") + hash;
  }

  function setupCombobox(input) {
    var form = input.closest("form");
    if (!form) return;
    var list = document.createElement("ul");
    list.id = input.id + "-results";
    list.className = "search-dropdown";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Search results");
    list.hidden = true;
    var status = document.createElement("div");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    form.appendChild(list);
    form.appendChild(status);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    var timer = 0;
    var seq = 0;
    var controller = null;
    var active = -1;

    function options() { return Array.prototype.slice.call(list.querySelectorAll("[role=option]:not([aria-disabled])")); }

    function open() { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function setActive(i) {
      var opts = options();
      if (!opts.length) return;
      active = (i + opts.length) % opts.length;
      opts.forEach(function (o, j) { o.setAttribute("aria-selected", j === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", opts[active].id);
      opts[active].scrollIntoView({ block: "nearest" });
    }

    // An option is plain text (a listbox's options hold no links): choosing it (Enter, or
    // a click) opens its address.
    function option(id, href) {
      var li = document.createElement("li");
      li.id = id;
      li.className = "search-option";
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.href = href;
      return li;
    }

    function render(q, data) {
      // Nothing matched: offer the server's correction and closest articles instead.
      var help = !data.hits.length && data.closest && data.closest.length;
      if (help) data = { hits: data.closest, did_you_mean: data.did_you_mean, help: true };
      list.textContent = "";
      active = -1;
      input.removeAttribute("aria-activedescendant");
      var re = termsRegExp(queryTerms(q).concat(data.hits.length ? data.hits[0].terms || [] : []));
      if (data.help) {
        var note = option(list.id + "-help", "/search?q=" + encodeURIComponent(data.did_you_mean || q));
        note.classList.add("search-option-help");
        note.textContent = data.did_you_mean
          ? "No results. Did you mean “" + data.did_you_mean + "”?"
          : "No results. Closest articles:";
        list.appendChild(note);
      }
      data.hits.forEach(function (hit, i) {
        var li = option(list.id + "-" + i, hitHref(hit, q));
        var a = li;
        var title = document.createElement("span");
        title.className = "search-option-title";
        appendMarked(title, hit.title, termsRegExp(queryTerms(q).concat(hit.terms || [])) || re);
        var meta = document.createElement("span");
        meta.className = "search-option-meta";
        // Titles, never ids: the site section's title when the API gives it, and the
        // heading of the matching part of the article.
        meta.textContent = [hit.section_title, hit.heading].filter(Boolean).join(" › ");
        var snippet = document.createElement("span");
        snippet.className = "search-option-snippet";
        snippet.innerHTML = hit.snippet_html; // escaped by the server, <mark> only
        a.appendChild(title);
        a.appendChild(meta);
        a.appendChild(snippet);
        list.appendChild(li);
      });
      if (!data.hits.length) {
        var empty = document.createElement("li");
        empty.className = "search-empty";
        empty.setAttribute("role", "option");
        empty.setAttribute("aria-disabled", "true");
        empty.id = list.id + "-empty";
        empty.textContent = "No results. Press Enter for suggestions.";
        list.appendChild(empty);
      }
      var all = option(list.id + "-all", "/search?q=" + encodeURIComponent(q));
      all.classList.add("search-option-all");
      all.textContent = "See all results for “" + q.trim() + "”";
      list.appendChild(all);
      status.textContent = data.help ? "No results; " + data.hits.length + " closest articles" : data.hits.length + (data.hits.length === 1 ? " result" : " results");
      open();
    }

    function search() {
      var q = input.value;
      if (!q.trim()) { if (controller) controller.abort(); seq++; close(); list.textContent = ""; return; }
      var mine = ++seq;
      if (controller) controller.abort();
      controller = "AbortController" in window ? new AbortController() : null;
      var url = "/api/search?q=" + encodeURIComponent(q) + "&limit=" + LIMIT;
      fetch(url, { signal: controller ? controller.signal : undefined, headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (data) { if (mine === seq && input.value === q) render(q, data); })
        .catch(function (e) { if (e.name !== "AbortError" && mine === seq) close(); });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, DEBOUNCE_MS);
    });
    input.addEventListener("focus", function () { if (input.value.trim() && list.children.length) open(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) { if (list.children.length) open(); else return; }
        event.preventDefault();
        setActive(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        var opts = options();
        if (!list.hidden && active >= 0 && opts[active]) {
          event.preventDefault();
          location.href = opts[active].dataset.href;
        }
      } else if (event.key === "Tab") {
        close();
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); close(); }
        else if (input.value) { event.preventDefault(); input.value = ""; }
      }
    });
    document.addEventListener("mousedown", function (event) {
      if (!form.contains(event.target)) close();
    });
    list.addEventListener("click", function (event) {
      var li = event.target.closest("[role=option][data-href]");
      if (li) location.href = li.dataset.href;
    });
    list.addEventListener("mousemove", function (event) {
      var li = event.target.closest("[role=option]:not([aria-disabled])");
      var i = options().indexOf(li);
      if (li && i !== active) setActive(i);
    });
  }

  // On an article opened from a result: mark the searched words in the matching section
  // (the text from the heading in the URL's #hash to the next heading of the same or higher
  // level), or in the whole article when there is no hash, and bring the first mark into view.
  function markArticle() {
    var params = new URLSearchParams(location.search);
    var hl = params.get("hl");
    var prose = document.querySelector(".article .prose");
    if (!hl || !prose) return;
    var re = termsRegExp(hl.toLowerCase().split(/\s+/));
    if (!re) return;
    var heading = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    var scope = [];
    if (heading && prose.contains(heading)) {
      heading.classList.add("search-target");
      var level = Number(heading.tagName.slice(1)) || 6;
      // Headings sit in a row with their buttons (<div class="heading">): walk its siblings.
      var row = heading.closest(".heading") || heading;
      scope.push(heading);
      for (var n = row.nextElementSibling; n; n = n.nextElementSibling) {
        var h = n.matches(".heading") ? n.querySelector("h1, h2, h3, h4, h5, h6") : n;
        if (h && /^H[1-6]$/.test(h.tagName) && Number(h.tagName.slice(1)) <= level) break;
        scope.push(n);
      }
    } else {
      scope.push(prose);
    }
    var first = null;
    scope.forEach(function (root) {
      var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      var nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      nodes.forEach(function (node) {
        re.lastIndex = 0;
        if (!re.test(node.nodeValue) || node.parentNode.closest("mark, .copy-link, .note-add, .section-notes")) return;
        re.lastIndex = 0;
        var frag = document.createDocumentFragment();
        appendMarked(frag, node.nodeValue, re);
        frag.querySelectorAll("mark").forEach(function (m) { m.className = "search-hit"; });
        first = first || frag.querySelector("mark");
        node.parentNode.replaceChild(frag, node);
      });
    });
    document.body.classList.add("has-search-hits");
    if (first && !heading) first.scrollIntoView({ block: "center" });
    // Keep the address clean for copying and sharing; the marks stay until reload.
    params.delete("hl");
    var rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }

  var box = document.getElementById("site-search-input");
  if (box) setupCombobox(box);
  markArticle();
})();

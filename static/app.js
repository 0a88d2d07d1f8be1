// Snakepit page behaviour. Every page works without this file; it adds the theme
// toggle, copy-link buttons on headings, Copy on code and output blocks, the "/" search
// shortcut, TOC tracking, and notes written and deleted in place (under their section).
"use strict";

(function () {
  var root = document.documentElement;

  function toast(message, detail) {
    var el = document.querySelector(".toast");
    if (!el) return;
    el.textContent = message;
    if (detail) el.dataset.detail = detail; else delete el.dataset.detail;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 2500);
  }
  // The signed-in reader's CSRF token (a <meta> only signed-in pages carry), and a fetch
  // helper that sends it: every state-changing request made as a user needs it.
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : null;
  }
  function api(method, url, body) {
    var headers = { "Accept": "application/json" };
    var token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init);
  }
  // A Copy button: copies `text()` and says so (the toast is a live region).
  function copyButton(what, text) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy-button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + what);
    button.addEventListener("click", function () {
      copyText(text()).then(
        function () {
          button.textContent = "Copied";
          toast("Copied " + what + " to the clipboard");
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        },
        function () { toast("Could not copy: select the text and copy it by hand"); }
      );
    });
    return button;
  }
  window.snakepit = { toast: toast, csrfToken: csrfToken, api: api, copyText: copyText, copyButton: copyButton };

  // Theme: system preference until the reader picks one; the choice sticks.
  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  var toggle = document.querySelector(".theme-toggle");
  if (toggle) {
    var label = function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      toggle.setAttribute("aria-label", "Switch to " + next + " theme");
      toggle.title = "Switch to " + next + " theme";
    };
    label();
    toggle.addEventListener("click", function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("snakepit-theme", next); } catch (e) { /* not persisted */ }
      label();
    });
  }

  // Copy-link on headings: copies the section's full URL and updates the address bar.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy refused"));
    });
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-copy-link]");
    if (!link) return;
    event.preventDefault();
    var url = location.origin + location.pathname + "#" + link.dataset.copyLink;
    history.replaceState(null, "", "#" + link.dataset.copyLink);
    copyText(url).then(
      function () { toast("Link copied to clipboard", url); },
      function () { toast("Copy this link: " + url, url); }
    );
  });

  // "/" focuses the search box (unless typing somewhere already).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    var box = document.getElementById("site-search-input");
    if (box) { event.preventDefault(); box.focus(); box.select(); }
  });

  // Flash the heading a link points at, so the reader sees where they landed.
  function flashTarget() {
    if (!location.hash) return;
    var el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (el && /^H[2-4]$/.test(el.tagName)) {
      el.classList.remove("target-flash");
      void el.offsetWidth;
      el.classList.add("target-flash");
    }
  }
  window.addEventListener("hashchange", flashTarget);
  flashTarget();

  // Copy on every code block and expected output (runnable snippets get theirs from run.js).
  document.querySelectorAll("figure.code-block, figure.output-block").forEach(function (figure) {
    var caption = figure.querySelector("figcaption"), pre = figure.querySelector("pre");
    if (!caption || !pre) return;
    var what = figure.classList.contains("output-block") ? "expected output" : "code";
    caption.appendChild(copyButton(what, function () { return pre.textContent; }));
  });

  // Table of contents: mark the section being read.
  var tocLinks = Array.prototype.slice.call(document.querySelectorAll(".toc a[href^='#']"));
  if (tocLinks.length && "IntersectionObserver" in window) {
    var byId = {};
    tocLinks.forEach(function (a) { byId[decodeURIComponent(a.hash.slice(1))] = a; });
    var visible = new Set();
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { e.isIntersecting ? visible.add(e.target.id) : visible.delete(e.target.id); });
      var first = tocLinks.find(function (a) { return visible.has(decodeURIComponent(a.hash.slice(1))); });
      if (first) {
        tocLinks.forEach(function (a) { a.classList.toggle("active", a.hash === first.hash); });
      }
    }, { rootMargin: "-70px 0px -60% 0px" });
    Object.keys(byId).forEach(function (id) { var h = document.getElementById(id); if (h) observer.observe(h); });
  }

  // Bookmark star: toggle in place instead of reloading the page.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.star-form");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector(".star-button");
    var on = button.getAttribute("aria-pressed") !== "true";
    button.disabled = true;
    api(on ? "PUT" : "DELETE", "/api/bookmarks/" + encodeURIComponent(button.dataset.slug)).then(function (res) {
      button.disabled = false;
      if (!res.ok) { toast("Could not update the bookmark (" + res.status + ")"); return; }
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.querySelector(".star-icon").textContent = on ? "\u2605" : "\u2606";
      button.querySelector(".star-label").textContent = on ? "Bookmarked" : "Bookmark";
      form.querySelector('input[name="action"]').value = on ? "remove" : "add";
      toast(on ? "Bookmarked" : "Bookmark removed");
    }, function () { button.disabled = false; toast("Could not reach the server"); });
  });

  // Notes, signed in: ✎ opens a composer under its section; notes are saved and deleted
  // through the JSON API (with the CSRF token) and appear in place, without a reload.
  // Without JavaScript (or signed out) the links and forms lead to the note pages.
  var article = document.querySelector("article[data-slug]");

  function noteElement(note) {
    var item = document.createElement("article");
    item.className = "note";
    item.id = "note-" + note.id;
    item.dataset.noteId = note.id;
    var body = document.createElement("div");
    body.className = "note-body";
    body.innerHTML = note.body_html; // sanitized by the server (notes::render_markdown)
    var meta = document.createElement("footer");
    meta.className = "note-meta";
    var time = document.createElement("time");
    time.dateTime = note.updated_at;
    time.textContent = note.updated_at.slice(0, 10);
    var edit = document.createElement("a");
    edit.href = "/notes/" + note.id + "/edit";
    edit.textContent = "Edit";
    var del = document.createElement("form");
    del.className = "note-delete";
    del.method = "post";
    del.action = "/notes/" + note.id + "/delete";
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "link-button";
    button.textContent = "Delete";
    del.appendChild(button);
    [time, document.createTextNode(" "), edit, document.createTextNode(" "), del].forEach(function (n) { meta.appendChild(n); });
    item.appendChild(body);
    item.appendChild(meta);
    return item;
  }

  // The list of notes under a heading (made when the section has none yet).
  function sectionNotes(anchor) {
    var existing = document.querySelector('.prose .section-notes[data-anchor="' + CSS.escape(anchor) + '"]');
    if (existing) return existing;
    var heading = document.getElementById(anchor);
    var row = heading && heading.closest(".heading");
    if (!row) return null;
    var list = document.createElement("section");
    list.className = "section-notes";
    list.dataset.anchor = anchor;
    list.setAttribute("aria-label", "Your notes on: " + heading.textContent.trim());
    row.insertAdjacentElement("afterend", list);
    return list;
  }

  function saveNote(anchor, body) {
    return api("POST", "/api/notes", { article: article.dataset.slug, anchor: anchor || null, body: body })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (answer) {
          if (!res.ok) throw new Error(answer.error || "the server answered " + res.status);
          return answer;
        });
      });
  }

  function placeNote(note) {
    var list = note.anchor ? sectionNotes(note.anchor) : null;
    if (!list) {
      var panel = document.querySelector(".notes-panel");
      list = panel.querySelector('.section-notes[data-anchor=""]');
      if (!list) {
        list = document.createElement("section");
        list.className = "note-group section-notes";
        list.dataset.anchor = "";
        var h = document.createElement("h3");
        h.textContent = "On the whole article";
        list.appendChild(h);
        panel.querySelector("h2").insertAdjacentElement("afterend", list);
      }
    }
    var item = noteElement(note);
    list.appendChild(item);
    var empty = document.querySelector(".notes-panel .notes-empty");
    if (empty) empty.remove();
    return item;
  }

  function openComposer(link) {
    var anchor = link.dataset.noteAnchor;
    var row = link.closest(".heading");
    var open = document.querySelector('.note-composer[data-anchor="' + CSS.escape(anchor) + '"]');
    if (open) { open.querySelector("textarea").focus(); return; }
    var title = document.getElementById(anchor).textContent.trim();
    var form = document.createElement("form");
    form.className = "note-composer";
    form.dataset.anchor = anchor;
    var id = "note-composer-" + anchor;
    form.innerHTML = '<label></label><textarea rows="4" required></textarea><p class="form-error" role="alert"></p>' +
      '<div class="note-composer-actions"><button type="submit">Save note</button>' +
      '<button type="button" class="secondary-button">Cancel</button><span class="hint">Markdown · Esc cancels</span></div>';
    var label = form.querySelector("label"), area = form.querySelector("textarea");
    label.htmlFor = id;
    label.textContent = "Your note on “" + title + "” (Markdown, private)";
    area.id = id;
    var error = form.querySelector(".form-error");
    function close() { form.remove(); link.focus({ preventScroll: true }); }
    form.querySelector(".secondary-button").addEventListener("click", close);
    form.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); close(); } });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!area.value.trim()) { error.textContent = "Write something first."; area.focus(); return; }
      var save = form.querySelector('button[type="submit"]');
      save.disabled = true;
      saveNote(anchor, area.value).then(function (note) {
        form.remove();
        placeNote(note);
        link.focus({ preventScroll: true });
        toast("Note saved");
      }, function (err) {
        save.disabled = false;
        error.textContent = "Could not save the note: " + err.message;
      });
    });
    var list = document.querySelector('.prose .section-notes[data-anchor="' + CSS.escape(anchor) + '"]');
    (list || row).insertAdjacentElement("afterend", form);
    area.focus();
  }

  if (article && csrfToken()) {
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a.note-add");
      if (!link || !document.querySelector(".notes-panel form.note-form")) return;
      event.preventDefault();
      openComposer(link);
    });
    var panelForm = document.querySelector(".notes-panel form.note-form");
    if (panelForm) panelForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var select = panelForm.querySelector('select[name="anchor"]');
      var area = panelForm.querySelector("textarea");
      var button = panelForm.querySelector('button[type="submit"]');
      button.disabled = true;
      saveNote(select ? select.value : "", area.value).then(function (note) {
        button.disabled = false;
        area.value = "";
        var item = placeNote(note);
        toast(note.anchor ? "Note saved under its section" : "Note saved");
        if (note.anchor) item.scrollIntoView({ block: "nearest" });
      }, function (err) {
        button.disabled = false;
        toast("Could not save the note: " + err.message);
      });
    });
  }

  // Delete, on an article or on /notes: through the API, removed in place.
  if (csrfToken()) document.addEventListener("submit", function (event) {
    var form = event.target.closest("form.note-delete");
    if (!form) return;
    event.preventDefault();
    var item = form.closest("[data-note-id], .note-entry");
    var id = item && (item.dataset.noteId || item.id.replace(/^note-/, ""));
    if (!id || !window.confirm("Delete this note?")) return;
    api("DELETE", "/api/notes/" + encodeURIComponent(id)).then(function (res) {
      if (!res.ok && res.status !== 404) { toast("Could not delete the note (" + res.status + ")"); return; }
      var list = item.parentNode;
      var next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      if (list && list.classList.contains("section-notes") && !list.querySelector(".note")) list.remove();
      toast("Note deleted");
      var focusable = next && next.querySelector("a, button");
      (focusable || document.getElementById("main")).focus({ preventScroll: !!focusable });
    }, function () { toast("Could not reach the server"); });
  });
})();

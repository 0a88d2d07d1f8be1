// Snakepit page behaviour. Every page works without this file; it adds the theme
// toggle, copy-link buttons on headings, the "/" search shortcut and TOC tracking.
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
  window.snakepit = { toast: toast, csrfToken: csrfToken, api: api, copyText: copyText };

  // Theme: system preference until the reader picks one; the choice sticks.
  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  var toggle = document.querySelector(".theme-toggle");
  if (toggle) {
    toggle.hidden = false;
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

  // On narrow screens the contents list sits above the text: start it folded.
  var tocDetails = document.querySelector(".toc details");
  if (tocDetails && window.matchMedia("(max-width: 64rem)").matches) tocDetails.open = false;

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
        tocLinks.forEach(function (a) { a.classList.toggle("active", a === first); });
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

  // Sections with notes say so beside their heading, linking to the notes.
  Array.prototype.forEach.call(document.querySelectorAll(".notes-panel .note-group[data-anchor]"), function (group) {
    var heading = group.dataset.anchor && document.getElementById(group.dataset.anchor);
    if (!heading || !/^H[2-6]$/.test(heading.tagName)) return;
    var count = group.querySelectorAll(".note").length;
    group.id = "notes-on-" + group.dataset.anchor;
    var badge = document.createElement("a");
    badge.className = "note-count";
    badge.href = "#" + group.id;
    badge.textContent = count === 1 ? "1 note" : count + " notes";
    heading.appendChild(badge);
  });

  // The note button beside a heading: with the notes panel on the page, pick that section
  // in its form and start typing; otherwise the link leads to the note page (or sign-in).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.note-add");
    if (!link) return;
    var form = document.querySelector(".notes-panel form.note-form");
    if (!form) return;
    event.preventDefault();
    var select = form.querySelector('select[name="anchor"]');
    if (select) select.value = link.dataset.noteAnchor || "";
    var area = form.querySelector("textarea");
    form.scrollIntoView({ block: "center" });
    if (area) area.focus();
  });
})();

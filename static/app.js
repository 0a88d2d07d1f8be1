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
  window.snakepit = { toast: toast };

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
})();

// Runnable snippets: Run streams output live from POST /api/run (Server-Sent Events),
// Stop aborts the request (the server then kills the run), and focus goes back to Run.
// The code stays highlighted until the reader chooses to edit it (Edit, or typing in the
// focused code); the editor says how to leave it (Esc), Tab indents, Enter keeps
// indentation, and Reset restores the code. Copy is on the code and on the output, which
// is labelled "Your output"; the expected output is marked stale once the code changes.
// Each snippet runs on its own.
// Share gives a link: to the snippet's section when the code is unchanged, else to a
// shared copy (POST /api/shares, shown at /s/{id}).
// Without JavaScript the Run button submits a form to /run, which shows a result page.
"use strict";

(function () {
  var INDENT = "    ";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function formatMs(ms) {
    return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  // Reads a text/event-stream body, calling onEvent(name, data) per event.
  async function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        var name = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (line.startsWith(":")) return;
          var colon = line.indexOf(":");
          var field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = value;
          else if (field === "data") data.push(value);
        });
        onEvent(name, data.join("\n"));
      }
    }
  }

  function Snippet(figure) {
    this.figure = figure;
    this.code = figure.querySelector("pre.code");
    this.original = this.code.textContent;
    this.form = figure.querySelector("form.run-form");
    // The expected output shown under the code, if the article has one.
    var next = figure.nextElementSibling;
    this.expected = next && next.matches("figure.output-block") ? next : null;
    this.controller = null;
    this.build();
  }

  Snippet.prototype.build = function () {
    var self = this;
    var actions = this.form.parentNode;
    this.runButton = this.form.querySelector("button");
    this.form.addEventListener("submit", function (event) { event.preventDefault(); self.run(); });
    this.stopButton = el("button", "snippet-button stop", "Stop");
    this.stopButton.type = "button";
    this.stopButton.hidden = true;
    this.stopButton.addEventListener("click", function () { self.stop(); });
    this.resetButton = el("button", "snippet-button secondary reset", "Reset");
    this.resetButton.type = "button";
    this.resetButton.hidden = true;
    this.resetButton.addEventListener("click", function () { self.reset(); });
    this.shareButton = el("button", "snippet-button secondary share", "Share");
    this.shareButton.type = "button";
    this.shareButton.setAttribute("aria-label", "Share a link to this code");
    this.shareButton.setAttribute("aria-expanded", "false");
    this.shareButton.addEventListener("click", function () { self.share(); });
    this.editButton = el("button", "snippet-button secondary edit", "Edit");
    this.editButton.type = "button";
    this.editButton.setAttribute("aria-label", "Edit the code");
    this.editButton.addEventListener("click", function () { self.edit(); });
    var tools = window.snakepit || {};
    actions.appendChild(this.stopButton);
    actions.appendChild(this.editButton);
    actions.appendChild(this.resetButton);
    if (tools.copyButton) actions.appendChild(tools.copyButton("code", function () { return self.source(); }));
    actions.appendChild(this.shareButton);

    // The code stays highlighted (and selectable) until the reader chooses to edit: the Edit
    // button, or typing (or Enter) while the code has focus.
    this.hint = el("p", "editor-hint", "Editing · Tab indents · Esc leaves the editor · Ctrl+Enter runs");
    this.hint.id = "editor-hint-" + (this.figure.id || Math.random().toString(36).slice(2));
    this.hint.hidden = true;
    this.figure.appendChild(this.hint);
    this.code.tabIndex = 0;
    this.code.setAttribute("title", "Type or press Enter to edit");
    this.code.addEventListener("keydown", function (e) { self.typeToEdit(e); });

    this.output = el("div", "run-output");
    this.output.hidden = true;
    var head = el("p", "run-output-head");
    head.appendChild(el("span", "run-output-label", "Your output"));
    if (tools.copyButton) head.appendChild(tools.copyButton("your output", function () { return self.stream.textContent; }));
    this.stream = el("pre", "run-stream");
    this.stream.tabIndex = 0; // scrollable: reachable by keyboard
    this.stream.setAttribute("role", "log");
    this.stream.setAttribute("aria-live", "polite");
    this.stream.setAttribute("aria-label", "Your output");
    this.status = el("p", "run-status");
    this.status.setAttribute("role", "status");
    this.output.appendChild(head);
    this.output.appendChild(this.stream);
    this.output.appendChild(this.status);
    this.figure.insertAdjacentElement("afterend", this.output);
  };

  // A key pressed on the highlighted code: a character or Enter starts editing, the
  // character typed where the caret (or the selection's end) was.
  Snippet.prototype.typeToEdit = function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var typed = e.key.length === 1 ? e.key : null;
    if (!typed && e.key !== "Enter") return;
    e.preventDefault();
    var at = this.original.length;
    var sel = window.getSelection();
    if (sel && sel.rangeCount && this.code.contains(sel.focusNode)) {
      var range = document.createRange();
      range.selectNodeContents(this.code);
      range.setEnd(sel.focusNode, sel.focusOffset);
      at = range.toString().length;
    }
    this.edit(at);
    if (typed) {
      this.editor.setRangeText(typed, at, at, "end");
      this.editor.dispatchEvent(new Event("input"));
    }
  };

  // Where this snippet lives: the link to it as it stands on the page, and the article and
  // section a shared copy records. On a shared snippet's page (/s/{id}) that is the share.
  Snippet.prototype.place = function () {
    var shared = this.figure.closest("[data-share-id]");
    if (shared) {
      return {
        url: location.origin + "/s/" + shared.dataset.shareId,
        article: shared.dataset.article || null,
        anchor: shared.dataset.anchor || null,
      };
    }
    var article = this.figure.closest("article[data-slug]");
    if (!article) return { url: null, article: null, anchor: null };
    var figure = this.figure, heading = null;
    article.querySelectorAll("h2[id], h3[id], h4[id], h5[id], h6[id]").forEach(function (h) {
      if (h.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING) heading = h;
    });
    var slug = article.dataset.slug;
    return {
      url: location.origin + "/articles/" + encodeURIComponent(slug) + (heading ? "#" + heading.id : ""),
      article: slug,
      anchor: heading ? heading.id : null,
    };
  };

  // The share panel under the snippet: the link (visible and selectable, so it works
  // without clipboard access), a Copy button and room for errors.
  Snippet.prototype.sharePanel = function () {
    if (this.panel) return this.panel;
    var self = this;
    var id = "share-link-" + (this.figure.id || Math.random().toString(36).slice(2));
    var panel = el("div", "share-panel");
    panel.setAttribute("role", "group");
    panel.setAttribute("aria-label", "Link to this code");
    var label = el("label", "share-label", "Link");
    label.htmlFor = id;
    var input = el("input", "share-link");
    input.id = id;
    input.type = "text";
    input.readOnly = true;
    input.addEventListener("focus", function () { input.select(); });
    var copy = el("button", "snippet-button share-copy", "Copy");
    copy.type = "button";
    copy.addEventListener("click", function () { self.copyLink(); });
    var close = el("button", "snippet-button secondary share-close", "Close");
    close.type = "button";
    close.addEventListener("click", function () { self.closePanel(); });
    var message = el("p", "share-message");
    message.setAttribute("role", "status");
    message.setAttribute("aria-live", "polite");
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") self.closePanel(); });
    [label, input, copy, close, message].forEach(function (c) { panel.appendChild(c); });
    this.output.insertAdjacentElement("afterend", panel);
    this.panel = panel;
    this.shareLink = input;
    this.shareMessage = message;
    this.shareButton.setAttribute("aria-controls", id);
    return panel;
  };

  // Shows `url` (focused and selected) with a note, or only a message (an error, or
  // progress when `url` and `error` are both null).
  Snippet.prototype.showShare = function (url, message, failed) {
    this.sharePanel();
    this.panel.hidden = false;
    this.panel.classList.toggle("failed", !!failed);
    this.shareLink.hidden = !url;
    this.panel.querySelector(".share-label").hidden = !url;
    this.panel.querySelector(".share-copy").hidden = !url;
    this.shareLink.value = url || "";
    this.shareMessage.textContent = message || "";
    this.shareButton.setAttribute("aria-expanded", "true");
    if (url) { this.shareLink.focus(); this.shareLink.select(); }
  };

  Snippet.prototype.closePanel = function () {
    if (!this.panel) return;
    this.panel.hidden = true;
    this.shareButton.setAttribute("aria-expanded", "false");
    this.shareButton.focus({ preventScroll: true });
  };

  Snippet.prototype.copyLink = function () {
    var url = this.shareLink.value;
    var tools = window.snakepit || {};
    var input = this.shareLink;
    var copied = tools.copyText ? tools.copyText(url) : Promise.reject(new Error("no clipboard"));
    copied.then(
      function () { if (tools.toast) tools.toast("Link copied to clipboard", url); },
      function () {
        input.focus();
        input.select();
        if (tools.toast) tools.toast("Copy this link: " + url, url);
      }
    );
  };

  // Unchanged code: the link to its section, no request. Edited: a shared copy.
  Snippet.prototype.share = async function () {
    if (this.sharing) return;
    var place = this.place();
    var code = this.source();
    if (code === this.original && place.url) {
      this.showShare(place.url, "A link to this snippet as it stands on the page.");
      return;
    }
    this.sharing = true;
    this.shareButton.setAttribute("aria-busy", "true");
    this.showShare(null, "Creating a link…");
    var body = this.withPython({ code: code, article: place.article });
    if (place.anchor) body.anchor = place.anchor;
    try {
      var response = window.snakepit && window.snakepit.api
        ? await window.snakepit.api("POST", "/api/shares", body)
        : await fetch("/api/shares", {
          method: "POST",
          headers: { "Content-Type": "application/json", "Accept": "application/json" },
          body: JSON.stringify(body),
        });
      var answer = {};
      try { answer = await response.json(); } catch (e) { /* not JSON */ }
      if (!response.ok) {
        // The server's message says what is wrong (too large, too many: when to retry).
        var why = answer.error || "the server answered " + response.status;
        this.showShare(null, "Could not share: " + why + ".", true);
        return;
      }
      // `url` is absolute when the server knows its public URL; else root-relative.
      this.showShare(new URL(answer.url, location.origin).href, "Anyone with this link sees this code and can run it.");
    } catch (err) {
      this.showShare(null, "Could not reach the server: " + err.message, true);
    } finally {
      this.sharing = false;
      this.shareButton.removeAttribute("aria-busy");
    }
  };

  Snippet.prototype.source = function () {
    return this.editor ? this.editor.value : this.original;
  };

  // Turns the code into a text box, the caret at `at` (default: the end), and focuses it.
  Snippet.prototype.edit = function (at) {
    if (this.editor) { this.editor.focus(); return; }
    var self = this;
    var area = el("textarea", "code-editor");
    area.value = this.original;
    area.spellcheck = false;
    area.setAttribute("autocapitalize", "off");
    area.setAttribute("aria-label", "Python code");
    area.setAttribute("aria-describedby", this.hint.id);
    area.rows = Math.max(3, this.original.split("\n").length);
    area.addEventListener("keydown", function (e) { self.key(e); });
    area.addEventListener("focus", function () { self.hint.hidden = false; });
    area.addEventListener("blur", function () { self.hint.hidden = true; });
    area.addEventListener("input", function () {
      var changed = area.value !== self.original;
      self.resetButton.hidden = !changed;
      self.markExpected(changed);
      if (self.panel && !self.panel.hidden && !self.sharing) self.panel.hidden = true;
      self.fit();
    });
    this.editor = area;
    this.code.replaceWith(area);
    this.editButton.hidden = true;
    this.fit();
    area.focus();
    var caret = at == null ? area.value.length : at;
    area.setSelectionRange(caret, caret);
  };

  // The article's expected output is for the original code: say so once the code changes.
  Snippet.prototype.markExpected = function (stale) {
    if (!this.expected) return;
    // Every expected block (one per Python version where they differ) goes stale together.
    var blocks = [];
    for (var b = this.expected; b && b.matches("figure.output-block"); b = b.nextElementSibling) {
      blocks.push(b);
    }
    blocks.forEach(function (block) {
      block.classList.toggle("stale", stale);
      var label = block.querySelector(".output-label");
      if (!label) return;
      if (!label.dataset.original) label.dataset.original = label.textContent;
      label.textContent = stale
        ? label.dataset.original + " (of the original code)"
        : label.dataset.original;
    });
  };

  Snippet.prototype.fit = function () {
    this.editor.style.height = "auto";
    this.editor.style.height = this.editor.scrollHeight + 2 + "px";
  };

  // Tab indents (Shift+Tab dedents) the selected lines; Enter keeps the indentation;
  // Ctrl/Cmd+Enter runs; Escape leaves the editor for Run (Stop while running), from where
  // Tab moves on: the editor's hint says so.
  Snippet.prototype.key = function (e) {
    var a = this.editor, v = a.value, s = a.selectionStart, t = a.selectionEnd;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); this.run(); return; }
    if (e.key === "Escape") { e.preventDefault(); (this.controller ? this.stopButton : this.runButton).focus(); return; }
    if (e.key === "Tab") {
      e.preventDefault();
      var lineStart = v.lastIndexOf("\n", s - 1) + 1;
      if (!e.shiftKey && s === t) {
        a.setRangeText(INDENT, s, t, "end");
      } else {
        var block = v.slice(lineStart, t);
        var changed = e.shiftKey
          ? block.replace(/^( {1,4}|\t)/gm, "")
          : block.replace(/^/gm, INDENT);
        a.setRangeText(changed, lineStart, t, "select");
      }
      a.dispatchEvent(new Event("input"));
    } else if (e.key === "Enter" && !e.shiftKey) {
      var start = v.lastIndexOf("\n", s - 1) + 1;
      var indent = /^[ \t]*/.exec(v.slice(start, s))[0];
      if (/:\s*$/.test(v.slice(start, s))) indent += INDENT;
      e.preventDefault();
      a.setRangeText("\n" + indent, s, t, "end");
      a.dispatchEvent(new Event("input"));
    }
  };

  Snippet.prototype.reset = function () {
    if (this.editor) {
      this.editor.replaceWith(this.code);
      this.editor = null;
    }
    this.hint.hidden = true;
    this.resetButton.hidden = true;
    this.editButton.hidden = false;
    this.markExpected(false);
    if (this.panel) this.panel.hidden = true;
    this.editButton.focus({ preventScroll: true });
  };

  Snippet.prototype.append = function (kind, text) {
    var last = this.stream.lastChild;
    if (last && last.className === kind) {
      last.textContent += text;
    } else {
      this.stream.appendChild(el("span", kind, text));
    }
  };

  // Swaps Run and Stop. Focus follows the button that was used: Run → Stop while the
  // program runs, and back to Run when it ends or is stopped (hiding the focused button
  // would otherwise drop focus to <body>). Ctrl+Enter in the editor leaves focus there.
  Snippet.prototype.setRunning = function (running) {
    var focused = document.activeElement;
    var buttonHadFocus = focused === this.runButton || focused === this.stopButton ||
      focused === document.body || focused == null;
    this.runButton.hidden = running;
    this.stopButton.hidden = !running;
    this.figure.classList.toggle("running", running);
    if (!buttonHadFocus) return;
    (running ? this.stopButton : this.runButton).focus({ preventScroll: true });
  };

  // Which limit ended a run, in the reader's words.
  var LIMITS = {
    wall: "Timed out",
    output: "Stopped: too much output",
    memory: "Stopped: memory limit reached",
    disk: "Stopped: disk limit reached",
    cpu: "Stopped: CPU time limit reached",
  };

  Snippet.prototype.finish = function (result) {
    var parts = [];
    var ok = !result.timed_out && result.exit_code === 0;
    if (result.killed_by && LIMITS[result.killed_by]) parts.push(LIMITS[result.killed_by]);
    else if (result.timed_out) parts.push("Timed out");
    else if (result.signal != null) parts.push("Killed by signal " + result.signal);
    else if (result.exit_code != null) parts.push("Exit code " + result.exit_code);
    if (result.truncated) parts.push("output truncated");
    if (result.duration_ms != null) parts.push(formatMs(result.duration_ms));
    if (result.python) parts.push("Python " + result.python); // python-picker.js
    this.status.textContent = parts.join(" · ");
    this.status.className = "run-status " + (ok ? "ok" : "failed");
  };

  Snippet.prototype.run = async function () {
    if (this.controller) return;
    var self = this;
    this.stream.textContent = "";
    this.status.textContent = "Running…";
    this.status.className = "run-status running";
    this.output.hidden = false;
    this.setRunning(true);
    var controller = new AbortController();
    this.controller = controller;
    var started = performance.now();
    try {
      var headers = { "Content-Type": "application/json", "Accept": "text/event-stream" };
      // Signed in: every unsafe request carries the session's CSRF token.
      var token = window.snakepit && window.snakepit.csrfToken && window.snakepit.csrfToken();
      if (token) headers["X-CSRF-Token"] = token;
      var response = await fetch("/api/run", {
        method: "POST",
        headers: headers,
        body: JSON.stringify(this.withPython({ code: this.source() })),
        signal: controller.signal,
      });
      if (!response.ok) {
        var message = "The run was refused (" + response.status + ")";
        try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
        var retry = response.headers.get("Retry-After");
        if (retry) message += " Try again in " + retry + " s.";
        this.status.textContent = message;
        this.status.className = "run-status failed";
        return;
      }
      var finished = false;
      await readEvents(response, function (name, data) {
        if (name === "stdout" || name === "stderr") self.append(name, data);
        else if (name === "exit") { finished = true; self.finish(JSON.parse(data)); }
        else if (name === "error") {
          finished = true;
          self.status.textContent = JSON.parse(data).error;
          self.status.className = "run-status failed";
        }
      });
      if (!finished) throw new Error("the connection closed before the run ended");
    } catch (err) {
      if (controller.signal.aborted) {
        this.status.textContent = "Stopped after " + formatMs(Math.round(performance.now() - started));
        this.status.className = "run-status failed";
      } else {
        this.status.textContent = "Could not run: " + err.message;
        this.status.className = "run-status failed";
      }
    } finally {
      this.controller = null;
      this.setRunning(false);
    }
  };

  // The version picked with python-picker.js, if any (else the server's default).
  Snippet.prototype.withPython = function (body) {
    var chosen = this.figure.getAttribute("data-python-chosen");
    if (chosen) body.python = chosen;
    return body;
  };

  Snippet.prototype.stop = function () {
    if (this.controller) this.controller.abort();
  };

  document.querySelectorAll("figure.snippet[data-snippet]").forEach(function (figure) {
    if (figure.querySelector("form.run-form")) new Snippet(figure);
  });
})();

// Runnable snippets: Run streams output live from POST /api/run (Server-Sent Events),
// Stop aborts the request (the server then kills the run), the code is editable (Tab
// indents, Enter keeps indentation) and Reset restores it. Each snippet runs on its own.
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
    actions.appendChild(this.stopButton);
    actions.appendChild(this.resetButton);

    // Editing: the highlighted code turns into a textarea on first focus or click.
    this.code.tabIndex = 0;
    this.code.setAttribute("title", "Click to edit");
    this.code.addEventListener("focus", function () { self.edit(); });
    this.code.addEventListener("click", function () { self.edit(); });

    this.output = el("div", "run-output");
    this.output.hidden = true;
    this.output.setAttribute("role", "log");
    this.output.setAttribute("aria-live", "polite");
    this.output.setAttribute("aria-label", "Output of this snippet");
    this.stream = el("pre", "run-stream");
    this.status = el("p", "run-status");
    this.output.appendChild(this.stream);
    this.output.appendChild(this.status);
    this.figure.insertAdjacentElement("afterend", this.output);
  };

  Snippet.prototype.source = function () {
    return this.editor ? this.editor.value : this.original;
  };

  Snippet.prototype.edit = function () {
    if (this.editor) return;
    var self = this;
    var area = el("textarea", "code-editor");
    area.value = this.original;
    area.spellcheck = false;
    area.setAttribute("autocapitalize", "off");
    area.setAttribute("aria-label", "Edit the snippet's code");
    area.rows = Math.max(3, this.original.split("\n").length);
    area.addEventListener("keydown", function (e) { self.key(e); });
    area.addEventListener("input", function () {
      self.resetButton.hidden = area.value === self.original;
      self.fit();
    });
    this.editor = area;
    this.code.replaceWith(area);
    this.fit();
    area.focus();
  };

  Snippet.prototype.fit = function () {
    this.editor.style.height = "auto";
    this.editor.style.height = this.editor.scrollHeight + 2 + "px";
  };

  // Tab indents (Shift+Tab dedents) the selected lines; Enter keeps the indentation;
  // Ctrl/Cmd+Enter runs; Escape leaves the editor so Tab moves focus again.
  Snippet.prototype.key = function (e) {
    var a = this.editor, v = a.value, s = a.selectionStart, t = a.selectionEnd;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); this.run(); return; }
    if (e.key === "Escape") { a.blur(); return; }
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
    this.resetButton.hidden = true;
  };

  Snippet.prototype.append = function (kind, text) {
    var last = this.stream.lastChild;
    if (last && last.className === kind) {
      last.textContent += text;
    } else {
      this.stream.appendChild(el("span", kind, text));
    }
  };

  Snippet.prototype.setRunning = function (running) {
    this.runButton.hidden = running;
    this.stopButton.hidden = !running;
    this.figure.classList.toggle("running", running);
    if (running) this.stopButton.focus({ preventScroll: true });
    else if (document.activeElement === this.stopButton) this.runButton.focus({ preventScroll: true });
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
      var response = await fetch("/api/run", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify({ code: this.source() }),
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

  Snippet.prototype.stop = function () {
    if (this.controller) this.controller.abort();
  };

  document.querySelectorAll("figure.snippet[data-snippet]").forEach(function (figure) {
    if (figure.querySelector("form.run-form")) new Snippet(figure);
  });
})();

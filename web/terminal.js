// The shared terminal pane (issue 23; docs/terminal.md): an interactive run's output on an xterm.js
// terminal that replaces the output box, the same for the whole room (every page writes the
// `execution-output` chunks it gets), and typing into it as `run-input` when this participant may
// type (who started the run; the interviewers for a run started with the host key; everyone once
// opened with `run-open`). Ctrl-C and Ctrl-D go as `run-signal`, the terminal's size as
// `run-resize`, and `run-typing` shows who is typing.
//
// xterm.js is the gateway's /vendor/xterm/xterm.js (bundled from Debian's node-xterm): without it
// (window.Terminal missing) `available` is false and the page shows interactive runs in the plain
// output box.

import { $ } from "./common.js";

// A run-input message carries at most 4096 bytes: a paste is sent in pieces of at most 1000
// characters (4000 bytes of UTF-8).
const PIECE = 1000;

export class TerminalPane {
  constructor(interview) {
    this.interview = interview;
    this.available = typeof window.Terminal === "function";
    this.term = null;
    this.run = null; // {id, userID, name, open, done, seqs}
    this.typingTimer = null;
    this.written = "";
    if (this.available) {
      $("terminal-open").onclick = () => this.setOpen(!this.run?.open);
      $("terminal-interrupt").onclick = () => this.signal("interrupt");
      $("terminal-eof").onclick = () => this.signal("eof");
      $("terminal-close").onclick = () => this.hide();
      window.addEventListener("resize", () => this.fit());
    } else {
      $("run-mode").hidden = true; // no terminal here: runs take the stdin box
    }
  }

  /** Whether this job is the run on the pane. */
  owns(jobID) {
    return Boolean(this.run && this.run.id === jobID);
  }

  /** execution-started of an interactive run (or the POST's answer on the starter's page). */
  start(data) {
    if (!this.available || !data.job_id) return false;
    if (this.owns(data.job_id)) {
      if (data.name && !this.run.name) this.run.name = data.name;
      this.updateWho();
      return true;
    }
    this.run = { id: data.job_id, userID: data.user_id || null, name: data.name || null, open: false, done: false,
                 seqs: new Set(), mode: data.mode || "program" };
    this.written = "";
    this.sentCols = this.sentRows = null;
    this.show();
    if (!this.term) {
      this.term = new window.Terminal({ cursorBlink: true, convertEol: false, fontSize: 13, rows: 16, cols: 60,
                                        fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace" });
      this.term.open($("terminal"));
      this.term.on("data", (text) => this.typed(text));
    } else {
      this.term.reset();
    }
    $("terminal-status").textContent = "running…";
    $("terminal-status").className = "run-status";
    $("terminal-typing").textContent = "";
    this.fit();
    this.updateWho();
    if (this.mayType()) this.term.focus();
    return true;
  }

  output(data) {
    if (!this.owns(data.job_id) || this.run.done || typeof data.chunk !== "string") return;
    if (Number.isInteger(data.seq)) {
      if (this.run.seqs.has(data.seq)) return;
      this.run.seqs.add(data.seq);
    }
    this.term.write(data.chunk);
    if (this.written.length < 65536) this.written += data.chunk;
  }

  result(data) {
    if (!this.owns(data.job_id) || this.run.done) return;
    this.run.done = true;
    clearTimeout(this.typingTimer);
    $("terminal-typing").textContent = "";
    // A page that joined late has only the result: show what it missed.
    if (!this.written && data.stdout) this.term.write(data.stdout);
    const parts = [data.status || "done"];
    if (data.exit_code !== undefined && data.exit_code !== null) parts.push(`exit ${data.exit_code}`);
    if (data.signal) parts.push(`signal ${data.signal}`);
    if (data.truncated) parts.push("output truncated");
    if (data.message) parts.push(data.message);
    $("terminal-status").textContent = parts.join(" · ");
    $("terminal-status").className = `run-status ${data.status === "ok" ? "ok" : data.status === "internal_error" ? "error" : "failed"}`;
    $("terminal-section").dataset.status = data.status || "";
    this.updateWho();
  }

  typing(data) {
    if (!this.owns(data.run_id) || typeof data.name !== "string") return;
    const me = this.interview.me;
    $("terminal-typing").textContent = data.user_id === me?.id ? "You are typing…" : `${data.name} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { $("terminal-typing").textContent = ""; }, 2500);
  }

  opened(data) {
    if (!this.owns(data.run_id) || typeof data.open !== "boolean") return;
    this.run.open = data.open;
    this.updateWho();
  }

  /** The server refused terminal input (an `error` about run-input and the like). */
  refused(data) {
    if (!/^run-(input|resize|signal|open)$/.test(data.request_type || "")) return false;
    $("terminal-typing").textContent = data.detail || data.code || "refused";
    return true;
  }

  // ---- Who may type ------------------------------------------------------------------------------

  get interviewer() {
    return this.interview.me?.role === "interviewer";
  }

  mayType() {
    const run = this.run;
    if (!run || run.done) return false;
    const me = this.interview.me;
    if (run.open) return true;
    if (run.userID) return Boolean(me && me.id === run.userID);
    return this.interviewer;
  }

  updateWho() {
    const run = this.run;
    if (!run) return;
    const may = this.mayType();
    this.term?.setOption("disableStdin", !may);
    $("terminal-section").dataset.mayType = may ? "true" : "false";
    let who;
    if (run.done) who = "The run has ended.";
    else if (run.open) who = "Everyone may type.";
    else if (run.userID && this.interview.me?.id === run.userID) who = "You may type.";
    else if (run.userID) who = `Read-only: only ${run.name || "who started the run"} may type.`;
    else who = this.interviewer ? "You may type (the interviewers may)." : "Read-only: only the interviewers may type.";
    $("terminal-who").textContent = who;
    const canOpen = !run.done && (this.interviewer || (run.userID && this.interview.me?.id === run.userID));
    $("terminal-open").hidden = !canOpen;
    $("terminal-open").textContent = run.open ? "Only the starter types" : "Open to everyone";
    $("terminal-interrupt").disabled = !may;
    $("terminal-eof").disabled = !may;
  }

  // ---- Typing --------------------------------------------------------------------------------------

  typed(text) {
    if (!this.mayType()) return;
    if (text === "\x03") return this.signal("interrupt");
    if (text === "\x04") return this.signal("eof");
    for (let i = 0; i < text.length; i += PIECE) {
      this.interview.send("run-input", { run_id: this.run.id, data: text.slice(i, i + PIECE) });
    }
  }

  signal(signal) {
    if (!this.mayType()) return;
    this.interview.send("run-signal", { run_id: this.run.id, signal });
    this.term?.focus();
  }

  setOpen(open) {
    if (!this.run || this.run.done) return;
    this.interview.send("run-open", { run_id: this.run.id, open });
  }

  // ---- The pane ----------------------------------------------------------------------------------------

  show() {
    $("terminal-section").hidden = false;
    $("output").hidden = true;
  }

  /** Back to the output box (a plain run started, or the close button). */
  hide() {
    $("terminal-section").hidden = true;
    $("output").hidden = false;
  }

  /** A plain run started: back to the output box, unless the terminal's run is still live. */
  hideIfDone() {
    if (!this.run || this.run.done) this.hide();
  }

  fit() {
    if (!this.term || $("terminal-section").hidden) return;
    try {
      this.term.fit();
    } catch {
      return;
    }
    if (this.mayType() && (this.term.cols !== this.sentCols || this.term.rows !== this.sentRows)) {
      this.sentCols = this.term.cols;
      this.sentRows = this.term.rows;
      this.interview.send("run-resize", { run_id: this.run.id, cols: this.term.cols, rows: this.term.rows });
    }
  }

  /** For the browser tests: the terminal's visible text, line by line. */
  text() {
    if (!this.term) return "";
    const buffer = this.term._core.buffer;
    const lines = [];
    for (let i = 0; i < buffer.lines.length; i++) lines.push(buffer.translateBufferLineToString(i, true));
    return lines.join("\n").replace(/\n+$/, "");
  }
}

// The Replay view: an interviewer watches how the code of a session was written, from its
// timeline (GET /api/v1/sessions/{id}/timeline, README "Session playback"); once the interview
// has ended, a candidate watches it too, from the candidate's view of the same timeline (no
// integrity marks, no notes, test runs as they saw them: the server filters it). The first page
// starts playing at once; the others load behind it. The document is rebuilt in this page from
// the committed operations (ot.js, counted in Unicode scalars like the server), with each
// character colored by who typed it; runs and joins are marked on the scrubber, and a run's
// output shows when the playhead reaches it.
//
// Time on the scrubber is the session's own time, except that idle gaps longer than IDLE_MS are
// shortened to SKIPPED_GAP_MS, so a coffee break does not leave the interviewer watching nothing.

import { describeSignal } from "./integrity.js";
import { TextOperation, scalarCount, utf16Index } from "./ot.js";
import { $, api, el, safeColor, showNotice, showView, storage, translucent } from "./common.js";

const IDLE_MS = 5000;
const SKIPPED_GAP_MS = 400;
const PAGE_SIZE = 500;
const SNAPSHOT_EVERY = 200; // events between kept states, so seeking replays at most this many
const SPEEDS = [1, 4, 16, 32];
const MODES = {
  python: "python", javascript: "javascript", typescript: "text/typescript", c: "text/x-csrc",
  cpp: "text/x-c++src", java: "text/x-java", go: "go", ruby: "ruby",
};

// ---- The document at one point of the timeline ---------------------------------------------

/** Text plus who wrote each part of it: `runs` are [scalars, author id or null] in order. */
class DocumentState {
  constructor(text = "", runs = null, language = "python") {
    this.text = text;
    this.runs = runs ?? (text ? [[scalarCount(text), null]] : []);
    this.language = language;
    this.length = scalarCount(text);
    this.revision = 0;
    this.lastChange = 0; // scalar offset of the latest edit, to keep it in view
  }

  copy() {
    const state = new DocumentState(this.text, this.runs.map((r) => r.slice()), this.language);
    state.lastChange = this.lastChange;
    state.revision = this.revision;
    return state;
  }

  /** Applies committed ops (over the whole document) written by `author`. */
  apply(ops, author) {
    const op = TextOperation.fromJSON(ops, this.length);
    if (op.baseLength !== this.length) throw new Error(`an op of base length ${op.baseLength} on a text of ${this.length}`);
    this.text = op.apply(this.text);
    this.length = op.targetLength;
    const out = [];
    const push = (n, who) => {
      if (n <= 0) return;
      const last = out[out.length - 1];
      if (last && last[1] === who) last[0] += n;
      else out.push([n, who]);
    };
    let runIndex = 0, used = 0, at = 0, firstChange = -1;
    // Takes n scalars of the old runs, keeping them (retain) or dropping them (delete).
    const take = (n, keep) => {
      while (n > 0 && runIndex < this.runs.length) {
        const [length, who] = this.runs[runIndex];
        const step = Math.min(n, length - used);
        if (keep) push(step, who);
        used += step;
        n -= step;
        if (used === length) { runIndex++; used = 0; }
      }
    };
    for (const c of op.ops) {
      if (typeof c === "string") {
        if (firstChange < 0) firstChange = at;
        const n = scalarCount(c);
        push(n, author);
        at += n;
      } else if (c > 0) {
        take(c, true);
        at += c;
      } else {
        if (firstChange < 0) firstChange = at;
        take(-c, false);
      }
    }
    this.runs = out;
    if (firstChange >= 0) this.lastChange = firstChange;
  }
}

// ---- The timeline, loaded page by page -----------------------------------------------------

class Timeline {
  constructor(id, token) {
    this.id = id;
    this.token = token;
    this.events = []; // every event loaded, oldest first, each with .at (compressed ms)
    this.participants = new Map();
    this.next = 0; // after_revision of the next page; null once all are loaded
    // Where the timeline is read: the live session, or, once it has ended and been archived,
    // its record (GET /api/v1/interviews/{id}/..., the same pages and events).
    this.resource = "sessions";
    this.base = null; // {revision, text} the first event applies to
    this.checkpoint = null;
    this.revision = 0;
    this.duration = 0;
    this.lastTimestamp = null;
    this.onGrow = () => {};
  }

  path(query) {
    return `/${this.resource}/${encodeURIComponent(this.id)}/${query}`;
  }

  /** The first page: from the live session, else (gone: 410, or 404 after the gone marker
   *  lapsed) from the interview's record, which plays the same way. */
  async firstPage() {
    try {
      return await api("GET", this.path(`timeline?limit=${PAGE_SIZE}`), undefined, this.token);
    } catch (error) {
      if (error.status !== 410 && error.status !== 404) throw error;
      this.resource = "interviews";
      return await api("GET", this.path(`timeline?limit=${PAGE_SIZE}`), undefined, this.token);
    }
  }

  async loadFirst() {
    const page = await this.firstPage();
    this.checkpoint = page.events.find((e) => e.type === "checkpoint") ?? null;
    if (this.checkpoint) {
      // Older history was folded into this text: the replay starts from it (the events before
      // it, joins and runs, still show; their edits do not).
      this.base = { revision: this.checkpoint.revision, text: "" };
    } else {
      const code = await api("GET", this.path("code?revision=0"), undefined, this.token);
      this.base = { revision: 0, text: code.code ?? "" };
    }
    this.add(page);
  }

  async loadRest() {
    while (this.next !== null) {
      const page = await api("GET", this.path(`timeline?after_revision=${this.next}&limit=${PAGE_SIZE}`), undefined, this.token);
      if (page.events.length === 0 && page.next_after_revision === this.next) break; // nothing new: stop, do not spin
      this.add(page);
    }
  }

  add(page) {
    this.revision = page.revision;
    for (const p of page.participants ?? []) this.participants.set(p.id, p);
    for (const event of page.events) {
      const t = Number(event.timestamp) || this.lastTimestamp || 0;
      if (this.lastTimestamp !== null) {
        const gap = Math.max(0, t - this.lastTimestamp);
        this.duration += gap > IDLE_MS ? SKIPPED_GAP_MS : gap;
      }
      this.lastTimestamp = t;
      event.at = this.duration;
      this.events.push(event);
    }
    this.next = page.next_after_revision;
    this.onGrow();
  }

  author(id) {
    return id ? this.participants.get(id) : null;
  }
}

// ---- The view --------------------------------------------------------------------------------

class Replay {
  constructor(id, token) {
    this.timeline = new Timeline(id, token);
    this.position = 0; // compressed ms of the playhead
    this.applied = 0; // events applied to this.state
    this.state = new DocumentState();
    this.snapshots = []; // [{applied, state}] every SNAPSHOT_EVERY events
    this.playing = false;
    this.speed = 1;
    this.lastFrame = 0;
    this.shownRun = null;
    this.dirty = true;
    this.marks = [];
    this.cm = window.CodeMirror($("replay-editor"), {
      value: "", readOnly: true, lineNumbers: true, mode: MODES.python, viewportMargin: 20,
    });
    this.setUpControls();
    window.codeinterviewReplay = this; // for the browser tests: state, seek
  }

  async start() {
    const timeline = this.timeline;
    timeline.onGrow = () => this.timelineGrew();
    await timeline.loadFirst();
    this.state = new DocumentState(timeline.base.text, null, this.initialLanguage());
    this.state.revision = timeline.base.revision;
    this.snapshots = [{ applied: 0, state: this.state.copy() }];
    if (timeline.checkpoint) {
      $("replay-checkpoint").hidden = false;
      $("replay-checkpoint").textContent = `History before revision ${timeline.checkpoint.revision} was folded into a checkpoint` +
        (timeline.checkpoint.folded_ops ? ` (${timeline.checkpoint.folded_ops} earlier edits)` : "") + ": the replay starts from it.";
    }
    this.timelineGrew();
    this.render();
    this.play();
    timeline.loadRest().catch((error) => showNotice(`The rest of the timeline did not load: ${error.message}`, { error: true }));
  }

  initialLanguage() {
    const created = this.timeline.events.find((e) => e.type === "created" || e.type === "language_changed");
    return created?.language || "python";
  }

  // ---- Controls ------------------------------------------------------------------------------

  setUpControls() {
    $("replay-play").onclick = () => (this.playing ? this.pause() : this.play());
    const speeds = $("replay-speed");
    speeds.replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
    speeds.onchange = () => { this.speed = Number(speeds.value) || 1; };
    const scrubber = $("replay-scrubber");
    scrubber.oninput = () => {
      this.pause();
      this.seek(Number(scrubber.value));
    };
    document.addEventListener("keydown", (event) => {
      if (document.body.dataset.view !== "replay" || event.target.tagName === "SELECT") return;
      if (event.key === " ") { event.preventDefault(); this.playing ? this.pause() : this.play(); }
    });
  }

  play() {
    if (this.position >= this.timeline.duration && this.applied >= this.timeline.events.length) this.seek(0);
    this.playing = true;
    $("replay-play").textContent = "❚❚ Pause";
    this.lastFrame = performance.now();
    requestAnimationFrame((t) => this.frame(t));
  }

  pause() {
    this.playing = false;
    $("replay-play").textContent = "▶ Play";
  }

  frame(now) {
    if (!this.playing) return;
    const elapsed = Math.min(now - this.lastFrame, 250); // a hidden tab does not jump ahead
    this.lastFrame = now;
    this.advanceTo(this.position + elapsed * this.speed);
    if (this.applied >= this.timeline.events.length && this.timeline.next === null) this.pause();
    this.render();
    if (this.playing) requestAnimationFrame((t) => this.frame(t));
  }

  /** Moves the playhead to `position` (compressed ms), backwards through the nearest snapshot. */
  seek(position) {
    const events = this.timeline.events;
    let target = 0;
    while (target < events.length && events[target].at <= position) target++;
    if (target < this.applied) {
      let snapshot = this.snapshots[0];
      for (const s of this.snapshots) if (s.applied <= target) snapshot = s;
      this.state = snapshot.state.copy();
      this.applied = snapshot.applied;
    }
    this.position = position;
    this.applyUpTo(target);
    this.dirty = true;
    this.render();
  }

  /** Seeks to just after event `index` (a run, a revision). */
  seekToEvent(index) {
    this.pause();
    this.seek(this.timeline.events[index].at);
  }

  /** Seeks to the first point where the document is at `revision`. */
  seekToRevision(revision) {
    const index = this.timeline.events.findIndex((e) => e.type === "op" && e.revision === revision);
    if (index >= 0) this.seekToEvent(index);
    else if (revision <= (this.timeline.base?.revision ?? 0)) { this.pause(); this.seek(-1); }
  }

  advanceTo(position) {
    this.position = Math.min(position, this.timeline.duration);
    const events = this.timeline.events;
    let target = this.applied;
    while (target < events.length && events[target].at <= this.position) target++;
    this.applyUpTo(target);
  }

  applyUpTo(target) {
    const events = this.timeline.events;
    while (this.applied < target) {
      const event = events[this.applied];
      try {
        this.applyEvent(event);
      } catch (error) {
        this.pause();
        showNotice(`The replay stopped at revision ${event.revision}: ${error.message}`, { error: true, timeout: 0 });
        return;
      }
      this.applied++;
      this.dirty = true;
      if (this.applied % SNAPSHOT_EVERY === 0 && !this.snapshots.some((s) => s.applied === this.applied)) {
        this.snapshots.push({ applied: this.applied, state: this.state.copy() });
      }
    }
  }

  applyEvent(event) {
    switch (event.type) {
      case "op":
        this.state.apply(event.ops, event.user_id ?? null);
        this.state.revision = event.revision;
        break;
      case "checkpoint": {
        const language = this.state.language;
        this.state = new DocumentState(event.text ?? "", null, language);
        this.state.revision = event.revision;
        break;
      }
      case "created":
      case "language_changed":
        if (event.language) this.state.language = event.language;
        break;
      default:
        break;
    }
  }

  // ---- Drawing -------------------------------------------------------------------------------

  timelineGrew() {
    const timeline = this.timeline;
    const scrubber = $("replay-scrubber");
    scrubber.max = String(Math.max(1, Math.ceil(timeline.duration)));
    $("replay-loading").hidden = timeline.next === null;
    this.drawMarks();
    this.drawRuns();
  }

  drawMarks() {
    const timeline = this.timeline;
    const marks = $("replay-marks");
    const total = Math.max(1, timeline.duration);
    const nodes = [];
    timeline.events.forEach((event, index) => {
      let kind = null;
      if (event.type === "execution") kind = "run";
      else if (event.type === "joined" || event.type === "left") kind = event.type;
      else if (event.type === "ended") kind = "ended";
      else if (event.type === "integrity") kind = `integrity mark-integrity-${event.kind}`; // integrity.js
      if (!kind) return;
      const mark = el("button", `mark mark-${kind}`);
      mark.type = "button";
      mark.style.left = `${(event.at / total) * 100}%`;
      mark.title = describe(event, timeline);
      mark.onclick = () => this.seekToEvent(index);
      nodes.push(mark);
    });
    marks.replaceChildren(...nodes);
  }

  drawRuns() {
    const timeline = this.timeline;
    const list = $("replay-runs");
    const items = [];
    timeline.events.forEach((event, index) => {
      if (event.type !== "execution") return;
      const item = el("li");
      const button = el("button", "link", `${clock(event.timestamp)} · ${event.name || "someone"} ran ${event.language || ""}`);
      button.type = "button";
      button.onclick = () => this.seekToEvent(index);
      item.append(button, el("span", `run-status status-${event.status}`, event.status || "queued"));
      items.push(item);
    });
    if (items.length === 0) items.push(el("li", "hint", timeline.next === null ? "No runs in this session." : "No runs yet…"));
    list.replaceChildren(...items);
  }

  render() {
    const timeline = this.timeline;
    $("replay-scrubber").value = String(Math.round(this.position));
    const current = this.applied > 0 ? timeline.events[this.applied - 1] : null;
    $("replay-position").textContent = `revision ${this.state.revision} of ${timeline.revision}` +
      (current ? ` · ${clock(current.timestamp)}` : "");
    if (!this.dirty) return;
    this.dirty = false;
    const cm = this.cm;
    const state = this.state;
    cm.operation(() => {
      if (cm.getValue() !== state.text) cm.setValue(state.text);
      const mode = MODES[state.language] || null;
      if (cm.getOption("mode") !== mode) cm.setOption("mode", mode);
      for (const mark of this.marks) mark.clear();
      this.marks = [];
      let offset = 0; // UTF-16
      for (const [scalars, who] of state.runs) {
        const end = utf16Index(state.text, scalars, offset);
        const author = timeline.author(who);
        if (author) {
          this.marks.push(cm.markText(cm.posFromIndex(offset), cm.posFromIndex(end), {
            css: `background-color: ${translucent(author.color, 0.22)}`,
            attributes: { "data-author": author.id, title: author.name },
          }));
        }
        offset = end;
      }
      if (this.playing) cm.scrollIntoView(cm.posFromIndex(utf16Index(state.text, state.lastChange)), 60);
    });
    this.showPeople();
    this.showRunOutput();
  }

  showPeople() {
    const timeline = this.timeline;
    const present = new Set();
    for (let i = 0; i < this.applied; i++) {
      const event = timeline.events[i];
      if (event.type === "joined") present.add(event.user_id);
      else if (event.type === "left") present.delete(event.user_id);
    }
    const items = [];
    for (const p of timeline.participants.values()) {
      const item = el("li", present.has(p.id) ? "here" : "away");
      const swatch = el("span", "swatch");
      swatch.style.backgroundColor = safeColor(p.color);
      item.append(swatch, el("span", "name", p.name), el("span", "role", p.role || ""));
      items.push(item);
    }
    $("replay-people").replaceChildren(...items);
  }

  /** The output of the latest run before the playhead; for an interactive run, its terminal as
   *  it was at the playhead (the terminal-output events so far, with a ⌨ where someone typed). */
  showRunOutput() {
    let run = null;
    let runIndex = -1;
    for (let i = this.applied - 1; i >= 0; i--) {
      if (this.timeline.events[i].type === "execution") { run = this.timeline.events[i]; runIndex = i; break; }
    }
    const terminal = [];
    if (run) {
      // A run's terminal events come after its execution event (its time is the submission's).
      for (let i = runIndex + 1; i < this.applied; i++) {
        const event = this.timeline.events[i];
        if (event.type.startsWith("terminal-") && event.run_id === run.execution_id) terminal.push(event);
      }
    }
    const key = run ? `${run.execution_id}:${terminal.length}` : null;
    if (key === this.shownRun) return;
    this.shownRun = key;
    const box = $("replay-output");
    if (!run) { box.replaceChildren(el("div", "hint", "No run yet at this point.")); return; }
    const tests = run.kind === "test-run" && typeof run.total === "number";
    const what = tests ? `the tests (${run.passed ?? 0} of ${run.total} passed)` : run.language || "the code";
    const header = el("div", "run-header", `${run.name || "Someone"} ran ${what} at ${clock(run.timestamp)}: ${run.status || ""}`);
    const parts = [header];
    const interactive = terminal.length > 0 || this.timeline.events.some((e) => e.type.startsWith("terminal-") && e.run_id === run.execution_id);
    if (interactive) {
      const screen = el("pre", "stdout replay-terminal");
      let typing = null; // the ⌨ of the latest burst of typing: one per person per 2 s
      for (const event of terminal) {
        if (event.type === "terminal-output") {
          screen.append(document.createTextNode(plainTerminalText(event.data || "")));
        } else if (event.type === "terminal-input") {
          const who = this.timeline.author(event.user_id)?.name || "someone";
          const typed = event.data !== undefined ? event.data : "(bytes)";
          if (typing && typing.user === event.user_id && event.timestamp - typing.last <= 2000) {
            typing.text += typed;
            typing.last = event.timestamp;
          } else {
            typing = { user: event.user_id, who, text: typed, first: event.timestamp, last: event.timestamp, mark: el("span", "replay-typed", "⌨") };
            screen.append(typing.mark);
          }
          typing.mark.title = `${clock(typing.first)} · ${typing.who} typed ${JSON.stringify(typing.text)}`;
        } else if (event.type === "terminal-truncated") {
          screen.append(el("span", "hint", `\n[the record keeps no more of this run's ${event.direction === "in" ? "input" : "output"}]\n`));
        }
      }
      parts.push(screen);
      if (!terminal.length) parts.push(el("div", "hint", "(the terminal is empty at this point)"));
    } else {
      if (run.stdout) parts.push(el("pre", "stdout", run.stdout));
      if (run.stderr) parts.push(el("pre", "stderr", run.stderr));
      if (run.compile_output) parts.push(el("pre", "stderr", run.compile_output));
      if (!run.stdout && !run.stderr && !run.compile_output && !tests) parts.push(el("div", "hint", "(no output)"));
    }
    box.replaceChildren(...parts);
  }
}

/** A terminal's output as plain text: CR LF as LF, escape sequences (colors, cursor moves) left out. */
function plainTerminalText(text) {
  return text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "").replace(/\x1b[\]P^_][^\x07\x1b]*(\x07|\x1b\\)?/g, "")
    .replace(/\r\n/g, "\n").replace(/\r/g, "");
}

function clock(ms) {
  if (!ms) return "";
  return new Date(Number(ms)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function describe(event, timeline) {
  const who = event.name || timeline.author(event.user_id)?.name || "someone";
  switch (event.type) {
    case "execution": return `${clock(event.timestamp)} · ${who} ran the code: ${event.status}`;
    case "joined": return `${clock(event.timestamp)} · ${who} joined`;
    case "left": return `${clock(event.timestamp)} · ${who} left`;
    case "ended": return `${clock(event.timestamp)} · the interview ended`;
    case "integrity": return describeSignal({ ...event, name: who });
    case "terminal-input": return `${clock(event.timestamp)} · ${who} typed into the terminal`;
    case "terminal-output": return `${clock(event.timestamp)} · the terminal printed`;
    case "controls_changed": {
      const what = (event.changed || []).map((name) => `${name.replace("_", " ")} ${event[name] ? "on" : "off"}`).join(", ");
      return `${clock(event.timestamp)} · ${event.by_host ? "the host" : who} set ${what || "the room controls"}`;
    }
    default: return event.type;
  }
}

// ---- Entry -------------------------------------------------------------------------------------

/** The interviewer's token for this session: the host key from the link, or what this browser kept. */
function tokenFor(id, hostTokenFromLink) {
  if (hostTokenFromLink) return hostTokenFromLink;
  const saved = storage.load(id);
  return saved?.host_token || saved?.participant_token || null;
}

export async function showReplay(id, hostTokenFromLink) {
  showView("replay");
  document.title = "Replay · CodeInterview";
  $("replay-back").href = `/s/${encodeURIComponent(id)}${location.search}`;
  const askForKey = (message) => {
    $("replay-key-form").hidden = false;
    if (message) showNotice(message, { error: true, timeout: 0 });
    $("replay-key-form").onsubmit = (event) => {
      event.preventDefault();
      const key = $("replay-key").value.trim();
      if (!key) return;
      $("replay-key-form").hidden = true;
      $("notice").hidden = true;
      begin(key);
    };
  };
  const begin = async (token) => {
    const replay = new Replay(id, token);
    try {
      const session = await api("GET", `/sessions/${encodeURIComponent(id)}`).catch(() => null);
      if (session?.name) $("session-title").textContent = `Replay: ${session.name}`;
      await replay.start();
      if (!session && replay.timeline.resource === "interviews") {
        // Archived: the room is gone, its name is in the record.
        const record = await api("GET", `/interviews/${encodeURIComponent(id)}`, undefined, token).catch(() => null);
        if (record?.name) $("session-title").textContent = `Replay: ${record.name}`;
      }
    } catch (error) {
      $("replay-editor").replaceChildren();
      if (error.status === 401 || error.status === 403) askForKey("Only the session's interviewers can replay it while it is live (its candidates once it has ended): enter the host key from the interviewer link.");
      else if (error.status === 404) showNotice("There is no such interview, or its history has expired.", { error: true, timeout: 0 });
      else showNotice(`The replay could not start: ${error.message}`, { error: true, timeout: 0 });
    }
  };
  const token = tokenFor(id, hostTokenFromLink);
  if (token) begin(token);
  else askForKey("");
}

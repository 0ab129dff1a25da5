// Integrity signals (issue 22, part 1; docs/integrity.md): what this page reports about its own
// participant, and, on an interviewer's page, everyone's signals as a live activity strip.
//
// Reported over the WebSocket as `activity` messages (never the text itself):
//   paste   a paste into the code or the notes: its length (characters), whether its text was found
//           in this session's own code ("document") or notes ("notes") or not ("external"), and
//           where it landed (document, offset, line)
//   away    the page was hidden (visibilitychange) or the window lost focus (blur): sent at once,
//           so the interviewers' strip shows it while it lasts
//   back    it came back, with how long it was away
//   insert  one insertion of more than INSERT_THRESHOLD characters that was not a paste (typed by
//           a tool, dropped, autocompleted by an extension)
// The server stamps who and when; interviewers get everyone's (the private channel), candidates
// none. A signal is a hint for a conversation, not proof.

import { scalarCount } from "./ot.js";
import { $, api, el, safeColor } from "./common.js";

/** Characters one non-paste insertion must pass to be reported as `insert`. */
export const INSERT_THRESHOLD = 200;
/** Signals kept while the connection is down, sent when it is back (the oldest go first). */
const QUEUE_LIMIT = 50;
/** Where a change came from in CodeMirror that the person (or a tool acting as them) made. */
const TYPED_ORIGINS = new Set(["+input", "*compose", "drop", "+insert"]);

const KIND_NAMES = { paste: "paste", away: "away", back: "back", insert: "large insertion" };

/** A one-line description of a signal (the strip's and the replay's hover text). */
export function describeSignal(signal) {
  const who = signal.name || "someone";
  const at = signal.at || signal.timestamp;
  const clock = at ? new Date(Number(at)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
  const where = signal.line ? ` at line ${signal.line}${signal.document === "notes" ? " of the notes" : ""}` : "";
  let text;
  switch (signal.kind) {
    case "paste": {
      const from = signal.source === "document" ? "from the session's own code"
        : signal.source === "notes" ? "from the session's notes" : "not found in this session's code or notes";
      text = `${who} pasted ${signal.length} characters${where} (${from})`;
      break;
    }
    case "away": text = `${who} ${signal.cause === "hidden" ? "hid the page" : "left the window"}`; break;
    case "back": text = `${who} came back after ${duration(signal.duration_ms)} (${signal.cause === "hidden" ? "page hidden" : "window left"})`; break;
    case "insert": text = `${who} inserted ${signal.length} characters at once${where}, not by a paste`; break;
    default: text = `${who}: ${signal.kind}`;
  }
  return clock ? `${clock} · ${text}` : text;
}

function duration(ms) {
  const s = Math.round((Number(ms) || 0) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export class Integrity {
  /** `interview`: the page's Interview (app.js): its editors, socket, credentials and role. */
  constructor(interview) {
    this.interview = interview;
    this.queue = [];
    this.sent = []; // what this page reported (for the browser tests)
    this.signals = new Map(); // seq -> signal (interviewers)
    this.away = null; // {cause, since} while the page is hidden or the window has no focus
    this.watched = new Set();
    this.strip = null;
    this.redrawTimer = null;
    this.watch(interview.cm, "code");
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.leave("hidden");
      else this.comeBack();
    });
    window.addEventListener("blur", () => this.leave("blur"));
    window.addEventListener("focus", () => this.comeBack());
    const self = this;
    window.codeInterviewIntegrity = {
      get sent() { return self.sent.slice(); },
      get signals() { return [...self.signals.values()]; },
    };
  }

  // ---- Reporting -------------------------------------------------------------------------------

  /** Watches one editor (`document`: "code" or "notes") for pastes and large insertions. */
  watch(cm, document) {
    if (!cm || this.watched.has(cm)) return;
    this.watched.add(cm);
    cm.on("beforeChange", (cm, change) => {
      if (cm.getOption("readOnly") || change.origin === "remote" || change.origin === "setValue") return;
      const text = (change.text || []).join("\n");
      const length = scalarCount(text);
      if (length === 0) return;
      const before = cm.getValue();
      const offset = scalarCount(before, 0, cm.indexFromPos(change.from));
      const place = { document, offset, line: change.from.line + 1 };
      if (change.origin === "paste") {
        this.report({ kind: "paste", length, source: this.sourceOf(text, document, before), ...place });
      } else if (length > INSERT_THRESHOLD && TYPED_ORIGINS.has(change.origin)) {
        this.report({ kind: "insert", length, ...place });
      }
    });
  }

  /** Whether a pasted text is in this session's own code or notes (as they were before it landed). */
  sourceOf(text, document, before) {
    const needle = text.trim();
    if (!needle) return "external";
    const code = document === "code" ? before : this.interview.code?.localText ?? "";
    const notes = document === "notes" ? before : this.interview.notes?.localText ?? "";
    if (code.includes(needle)) return "document";
    if (notes.includes(needle)) return "notes";
    return "external";
  }

  leave(cause) {
    if (this.away) return;
    this.away = { cause, since: Date.now() };
    this.report({ kind: "away", cause });
  }

  comeBack() {
    if (!this.away || document.visibilityState === "hidden") return;
    const { cause, since } = this.away;
    this.away = null;
    this.report({ kind: "back", cause, duration_ms: Math.max(0, Math.min(86_400_000, Date.now() - since)) });
  }

  report(data) {
    this.sent.push(data);
    if (this.interview.joined && this.interview.send("activity", data)) return;
    this.queue.push(data);
    if (this.queue.length > QUEUE_LIMIT) this.queue.shift();
  }

  /** A welcome (first join or rejoin): send what waited; an interviewer loads the signals. */
  joined() {
    this.watch(this.interview.notes?.cm, "notes");
    const waiting = this.queue;
    this.queue = [];
    for (const data of waiting) this.report(data);
    if (this.interview.interviewer) this.load();
  }

  // ---- The interviewers' strip ---------------------------------------------------------------------

  async load() {
    this.showStrip();
    const token = this.interview.credentials?.host_token || this.interview.credentials?.participant_token;
    let after = 0; // what this page has without a gap: ask only for the rest
    while (this.signals.has(after + 1)) after++;
    try {
      const page = await api("GET", `/sessions/${encodeURIComponent(this.interview.id)}/activity?after=${after}`, undefined, token);
      for (const signal of page?.signals || []) this.signals.set(signal.seq, signal);
      this.draw();
    } catch {
      // The live frames still come; the strip shows what it has.
    }
  }

  /** A live `activity` frame (only interviewers get them). */
  receive(signal) {
    if (!signal || !Number.isInteger(signal.seq)) return;
    this.signals.set(signal.seq, signal);
    this.showStrip();
    this.draw();
  }

  showStrip() {
    if (this.strip) return;
    const sidebar = document.querySelector("#session-view .sidebar");
    if (!sidebar) return;
    const section = el("section", "activity-section");
    section.id = "activity-section";
    const heading = el("h2", null, "Activity ");
    heading.append(el("span", "hint", "only interviewers see this; a hint, not proof"));
    const list = el("ul", "activity-strip");
    list.id = "activity-strip";
    const empty = el("p", "hint", "No signals yet: pastes, the page left, large insertions show here.");
    empty.id = "activity-empty";
    section.append(heading, empty, list);
    const people = sidebar.querySelector("section");
    people ? people.after(section) : sidebar.prepend(section);
    this.strip = list;
    // The axis grows with the interview: redraw now and then.
    this.redrawTimer = setInterval(() => this.draw(), 15000);
  }

  draw() {
    if (!this.strip) return;
    const signals = [...this.signals.values()].sort((a, b) => a.seq - b.seq);
    $("activity-empty").hidden = signals.length > 0;
    const start = Number(this.interview.session?.created_at) || (signals[0]?.at ?? Date.now());
    const end = Math.max(Date.now(), ...signals.map((s) => Number(s.at) || 0));
    const span = Math.max(1, end - start);
    const people = new Map();
    for (const signal of signals) {
      let person = people.get(signal.user_id);
      if (!person) {
        person = { name: signal.name, role: signal.role, signals: [] };
        people.set(signal.user_id, person);
      }
      person.signals.push(signal);
    }
    const rows = [];
    for (const [userID, person] of people) {
      const row = el("li", "activity-row");
      row.dataset.userId = userID;
      const color = safeColor(this.interview.participants?.get(userID)?.color);
      const label = el("div", "activity-who");
      const name = el("span", "activity-name", person.name);
      name.style.borderLeftColor = color;
      const counts = {};
      for (const s of person.signals) counts[s.kind] = (counts[s.kind] || 0) + 1;
      const summary = ["paste", "away", "insert"].filter((k) => counts[k])
        .map((k) => `${counts[k]} ${KIND_NAMES[k]}${counts[k] > 1 ? (k === "insert" ? "s" : k === "paste" ? "s" : "") : ""}`).join(" · ");
      const count = el("span", "activity-counts", summary);
      count.dataset.pastes = String(counts.paste || 0);
      count.dataset.away = String(counts.away || 0);
      count.dataset.inserts = String(counts.insert || 0);
      label.append(name, count);
      const track = el("div", "activity-track");
      for (const signal of person.signals) {
        const mark = el("span", `activity-mark activity-${signal.kind}`);
        mark.dataset.kind = signal.kind;
        mark.dataset.seq = String(signal.seq);
        const at = Number(signal.at) || end;
        if (signal.kind === "back") {
          const from = Math.max(start, at - (Number(signal.duration_ms) || 0));
          mark.style.left = `${((from - start) / span) * 100}%`;
          mark.style.width = `max(3px, ${((at - from) / span) * 100}%)`;
        } else {
          mark.style.left = `${((at - start) / span) * 100}%`;
        }
        mark.title = describeSignal(signal);
        track.append(mark);
      }
      row.append(label, track);
      rows.push(row);
    }
    this.strip.replaceChildren(...rows);
  }
}

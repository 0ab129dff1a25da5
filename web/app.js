// The CodeInterview reference client: create or join a session, edit together through the
// WebSocket `op` protocol (README, "Real-time protocol"), see who is here and where their
// cursors are, run the code and watch the output arrive for everyone. No build step: this file,
// ot.js and CodeMirror 5 (served from Debian's libjs-codemirror under /vendor/codemirror/).
//
// Query parameters:
//   ?ws=host:port[,host:port...]   WebSocket endpoints to use, in order; after a drop the next one
//                                  is tried (default: the page's own host, e.g. a load balancer).
//
// Everything shown that came from a user (names, session names, output) goes into the DOM as
// text (textContent, new Option), never as HTML.

import { scalarCount, transformPosition, utf16Index } from "./ot.js";
import { SharedEditor } from "./editor.js";
import { QuestionPanel } from "./question.js";
import { showReplay } from "./replay.js";
import { Integrity } from "./integrity.js";
import { RoomControls } from "./controls.js";
import { ScorecardPanel } from "./scorecards.js";
import { TerminalPane } from "./terminal.js";
import { $, api, el, safeColor, setConnection, showNotice, showView, storage, translucent } from "./common.js";

const CodeMirror = window.CodeMirror;

const MODES = {
  python: "python",
  javascript: "javascript",
  typescript: "text/typescript",
  c: "text/x-csrc",
  cpp: "text/x-c++src",
  java: "text/x-java",
  go: "go",
  ruby: "ruby",
};
const FALLBACK_LANGUAGES = [
  ["python", "Python"], ["javascript", "JavaScript (Node.js)"], ["typescript", "TypeScript"], ["c", "C"],
  ["cpp", "C++"], ["java", "Java"], ["go", "Go"], ["ruby", "Ruby"],
].map(([id, name]) => ({ id, name, available: null }));

// ---- Languages -------------------------------------------------------------------------------

const languages = {
  list: FALLBACK_LANGUAGES,
  async refresh() {
    try {
      const data = await api("GET", "/languages");
      if (data && Array.isArray(data.languages)) this.list = data.languages;
    } catch {
      // Keep what we had; availability stays unknown.
    }
    return this.list;
  },
  find(id) {
    return this.list.find((l) => l.id === id);
  },
  fill(select, current) {
    select.replaceChildren();
    for (const language of this.list) {
      const label = language.available === false ? `${language.name} (no runner)` : language.name;
      select.append(new Option(label, language.id, false, language.id === current));
    }
    if (current) select.value = current;
  },
};

// ---- The interview ---------------------------------------------------------------------------

class Interview {
  constructor(id, { endpoints, credentials, joinAs }) {
    this.id = id;
    this.endpoints = endpoints;
    this.endpointIndex = 0;
    this.credentials = credentials; // {participant_token, host_token, name} or null
    this.joinAs = joinAs; // {name, role, host_token} for a first join by name
    this.me = null;
    this.session = null;
    this.language = "python";
    this.participants = new Map();
    this.remoteCursors = new Map();
    this.jobs = new Map();
    this.joinTimer = null;
    this.ws = null;
    this.joined = false;
    this.everJoined = false;
    this.stopped = false;
    this.attempts = 0;
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.lastHeard = 0;
    this.connectedAt = 0;
    this.cursorTimer = null;
    this.cursorDirty = false;
    this.notes = null; // the private notes' editor, made when a welcome brings notes (interviewers)
    this.interviewer = false;
    this.setUpEditor();
    this.question = new QuestionPanel({
      sessionID: id,
      token: () => this.credentials?.participant_token,
      hostToken: () => this.credentials?.host_token || null,
      interviewer: () => this.interviewer,
      languageName: (language) => languages.find(language)?.name || language,
      runnable: () => {
        const held = this.controls?.runHold();
        if (held) return held;
        const language = languages.find(this.language);
        return language && language.available === false ? `no runner offers ${language.name} right now` : null;
      },
    });
    this.controls = new RoomControls({
      interviewer: () => this.interviewer, send: (type, data) => this.send(type, data), editors: () => this.editors,
      question: this.question, me: () => this.me, joined: () => this.joined && !this.stopped,
      afterChange: () => this.updateRunAvailability(),
    });
    this.scorecards = new ScorecardPanel({
      sessionID: id,
      token: () => this.credentials?.participant_token || this.credentials?.host_token || null,
    });
    this.setUpControls();
    this.integrity = new Integrity(this); // integrity signals: reported by everyone, shown to interviewers
    this.terminal = new TerminalPane(this); // interactive runs: the room's shared terminal
    this.exposeForTests();
  }

  // ---- Editor --------------------------------------------------------------------------------

  setUpEditor() {
    const run = () => this.run();
    this.code = new SharedEditor($("editor"), {
      opType: "op",
      what: "edits",
      send: (type, data) => this.send(type, data),
      resync: (reason, options) => this.resync(reason, { ...options, editor: this.code }),
      onLocal: (op) => {
        this.moveRemoteCursors(op);
        this.scheduleCursor();
      },
      onRemote: (op) => this.moveRemoteCursors(op),
      onAck: () => {
        if (this.client.synchronized && this.cursorDirty) this.sendCursor();
      },
      onLoad: () => {
        for (const cursorState of this.remoteCursors.values()) this.clearCursorMarks(cursorState);
        this.remoteCursors.clear();
      },
      options: {
        mode: MODES.python,
        lineNumbers: true,
        indentUnit: 4,
        tabSize: 4,
        matchBrackets: true,
        extraKeys: {
          Tab: (cm) => cm.execCommand(cm.somethingSelected() ? "indentMore" : "insertSoftTab"),
          "Ctrl-Enter": run, "Cmd-Enter": run,
        },
      },
    });
    this.cm = this.code.cm;
    this.client = this.code.client;
    this.cm.on("cursorActivity", () => this.scheduleCursor());
  }

  /** The shared texts of this page: the code, and the notes for interviewers. */
  get editors() {
    return this.notes ? [this.code, this.notes] : [this.code];
  }

  /**
   * The private notes of a welcome (interviewers get `notes`, candidates do not): the first one
   * makes the pane and its editor; later ones (rejoins) keep what was typed meanwhile.
   */
  setUpNotes(notes) {
    if (!notes || typeof notes.text !== "string" || !Number.isInteger(notes.revision)) {
      $("notes-section").hidden = true;
      return;
    }
    const first = !this.notes;
    if (first) {
      $("notes-section").hidden = false; // before CodeMirror measures itself
      this.notes = new SharedEditor($("notes-editor"), {
        opType: "notes-op",
        what: "notes",
        send: (type, data) => this.send(type, data),
        resync: (reason, options) => this.resync(reason, { ...options, editor: this.notes }),
        options: { mode: null, lineWrapping: true, placeholder: "Only interviewers see these notes" },
      });
    }
    this.notes.sync(notes.text, notes.revision, { rejoin: !first, missed: notes.missed_ops, userID: this.me?.id, merge: true });
    this.notes.setEditable(true);
    this.notes.connected();
  }

  setMode(language) {
    this.language = language;
    this.cm.setOption("mode", MODES[language] || null);
    languages.fill($("language"), language);
    const repl = $("run-mode").querySelector('option[value="repl"]');
    repl.textContent = `${languages.find(language)?.name?.replace(/ \(.*\)$/, "") || language} REPL`;
    repl.disabled = !["python", "javascript", "ruby"].includes(language);
    if (repl.disabled && $("run-mode").value === "repl") $("run-mode").value = "";
    this.updateRunAvailability();
  }

  // ---- Cursors ---------------------------------------------------------------------------------

  scheduleCursor() {
    this.cursorDirty = true;
    if (this.cursorTimer) return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = null;
      this.sendCursor();
    }, 40);
  }

  /** Sends our cursor when the server's text is ours too (no edit in flight), so positions agree. */
  sendCursor() {
    if (!this.joined || !this.cursorDirty || !this.client.synchronized) return;
    this.cursorDirty = false;
    const cm = this.cm;
    const toScalars = (pos) => scalarCount(this.code.localText, 0, cm.indexFromPos(pos));
    const head = toScalars(cm.getCursor("head"));
    const anchor = toScalars(cm.getCursor("anchor"));
    const data = { position: head, revision: this.client.revision };
    if (anchor !== head) data.selection = { anchor, head };
    this.send("cursor-position", data);
  }

  remoteCursor(data) {
    if (!this.me || data.user_id === this.me.id) return;
    // An earlier frontend's line/column cursor without a position the server could compute.
    if (!Number.isInteger(data.position)) return;
    const revision = Number.isInteger(data.revision) ? data.revision : this.client.revision;
    const head = this.client.localPosition(data.position, revision);
    const anchor = data.selection ? this.client.localPosition(data.selection.anchor, revision) : head;
    let state = this.remoteCursors.get(data.user_id);
    if (!state) {
      state = { userID: data.user_id, marks: [] };
      this.remoteCursors.set(data.user_id, state);
    }
    Object.assign(state, { name: data.name, color: safeColor(data.color), head, anchor });
    this.renderCursor(state, true);
  }

  moveRemoteCursors(op) {
    for (const state of this.remoteCursors.values()) {
      state.head = transformPosition(state.head, op);
      state.anchor = transformPosition(state.anchor, op);
      this.renderCursor(state);
    }
  }

  clearCursorMarks(state) {
    for (const mark of state.marks) mark.clear();
    state.marks = [];
  }

  renderCursor(state, moved = false) {
    const cm = this.cm;
    this.clearCursorMarks(state);
    const text = this.code.localText;
    const length = scalarCount(text);
    const pos = (scalars) => cm.posFromIndex(utf16Index(text, Math.max(0, Math.min(scalars, length))));
    const head = pos(state.head);
    const widget = el("span", "remote-cursor");
    widget.dataset.userId = state.userID;
    widget.dataset.color = state.color;
    widget.style.borderLeftColor = state.color;
    const label = el("span", "remote-cursor-label", state.name);
    label.style.backgroundColor = state.color;
    widget.append(label);
    state.marks.push(cm.setBookmark(head, { widget, insertLeft: true }));
    // The name shows while that person moves, then fades so it does not hide the text under it.
    if (moved) {
      state.idle = false;
      clearTimeout(state.idleTimer);
      state.idleTimer = setTimeout(() => {
        state.idle = true;
        state.widget?.classList.add("idle");
      }, 3000);
    } else if (state.idle) {
      widget.classList.add("idle");
    }
    state.widget = widget;
    if (state.anchor !== state.head) {
      const a = pos(state.anchor);
      const [from, to] = CodeMirror.cmpPos(a, head) < 0 ? [a, head] : [head, a];
      state.marks.push(cm.markText(from, to, {
        className: "remote-selection",
        css: `background-color: ${translucent(state.color, 0.25)}`,
        attributes: { "data-user-id": state.userID },
      }));
    }
  }

  dropCursor(userID) {
    const state = this.remoteCursors.get(userID);
    if (!state) return;
    clearTimeout(state.idleTimer);
    this.clearCursorMarks(state);
    this.remoteCursors.delete(userID);
  }

  // ---- Connection ------------------------------------------------------------------------------

  endpointURL() {
    const endpoint = this.endpoints[this.endpointIndex % this.endpoints.length];
    if (/^wss?:\/\//.test(endpoint)) return `${endpoint.replace(/\/$/, "")}/ws/sessions/${encodeURIComponent(this.id)}`;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${endpoint}/ws/sessions/${encodeURIComponent(this.id)}`;
  }

  get endpointName() {
    return this.endpoints[this.endpointIndex % this.endpoints.length];
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.stopped) return;
    if (this.everJoined) setConnection("reconnecting", "reconnecting…", `Trying ${this.endpointName} (attempt ${this.attempts}).`);
    else setConnection("connecting", "connecting…");
    let ws;
    try {
      ws = new WebSocket(this.endpointURL());
    } catch (error) {
      this.connectionLost(`cannot open a WebSocket: ${error.message}`);
      return;
    }
    this.ws = ws;
    // A gateway that accepts the connection but never answers (overloaded, half dead): give up
    // on it after a while and try the next address.
    clearTimeout(this.joinTimer);
    this.joinTimer = setTimeout(() => {
      if (this.ws === ws && !this.joined) this.connectionLost("no answer from the server");
    }, 10000);
    ws.onopen = () => {
      this.lastHeard = Date.now();
      this.connectedAt = Date.now();
      ws.send(JSON.stringify({ type: "join", data: this.joinData(), timestamp: Date.now() }));
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message && typeof message.type === "string") this.receive(message.type, message.data || {});
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.connectionLost(event.reason || (event.code === 1006 ? "the connection dropped" : `closed (${event.code})`), event.code);
    };
    ws.onerror = () => { /* a close event follows */ };
  }

  joinData() {
    if (this.credentials && this.credentials.participant_token) {
      const data = { participant_token: this.credentials.participant_token };
      if (this.everJoined && !this.code.dropPending) data.revision = this.client.revision;
      return data;
    }
    const data = { name: this.joinAs.name, role: this.joinAs.role || "candidate" };
    if (this.joinAs.host_token) data.host_token = this.joinAs.host_token;
    return data;
  }

  send(type, data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type, data, timestamp: Date.now() }));
    return true;
  }

  /** The socket is gone (closed, failed, or silent too long): go offline and try again. */
  connectionLost(reason, code, { sameEndpoint = false, minDelay = 0 } = {}) {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch { /* already closed */ }
    }
    this.joined = false;
    for (const editor of this.editors) editor.disconnected();
    clearTimeout(this.joinTimer);
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.stopped) return;
    // A gateway that closed or died: the next endpoint (with one endpoint, the same again).
    if (this.endpoints.length > 1 && !sameEndpoint) this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
    const quick = code === 1012 || (this.connectedAt && Date.now() - this.connectedAt > 10000);
    const backoff = quick && this.attempts === 0 ? 50 : Math.min(5000, 250 * 2 ** Math.min(this.attempts, 5)) * (0.75 + Math.random() * 0.5);
    const delay = Math.max(backoff, minDelay);
    this.attempts += 1;
    this.connectedAt = 0;
    if (this.everJoined) {
      setConnection("reconnecting", "reconnecting…", `Connection lost: ${reason}. Next try in ${(delay / 1000).toFixed(1)} s.`);
      for (const editor of this.editors) editor.setEditable(true); // keep typing: edits are sent after the catch-up
    } else {
      setConnection("connecting", `connecting… (${reason})`);
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * Reconnects at once to catch up. By default with our revision: the server sends what we
   * missed, our pending edits are kept and sent again. With `drop`, that editor starts over
   * from the server's text (for an edit the server refused, which the local text contains but
   * the server's never will).
   */
  resync(reason, { drop = false, editor = this.code } = {}) {
    console.warn(`codeinterview: resync${drop ? " (dropping pending edits)" : ""}: ${reason}`);
    if (drop) editor.dropPending = true;
    // An edit in flight on the old connection may still be committing: give it a moment, so the
    // catch-up includes it (and it is recognized) instead of it arriving after and twice.
    const minDelay = this.editors.some((e) => e.client.outstanding && e.client.sent) ? 400 : 0;
    if (this.ws) this.connectionLost(`catching up: ${reason}`, 1012, { sameEndpoint: true, minDelay });
  }

  startHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 45000) {
        this.connectionLost("no answer from the server");
        return;
      }
      this.send("ping", { nonce: String(Date.now()) });
    }, 15000);
  }

  stop(message, { error = true } = {}) {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.joinTimer);
    for (const editor of this.editors) editor.disconnected();
    clearInterval(this.heartbeatTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* ignore */ }
    }
    this.joined = false;
    for (const editor of this.editors) editor.setEditable(false);
    $("run").disabled = true;
    this.question.stop();
    setConnection("offline", message);
    showNotice(message, { error, timeout: 0 });
  }

  /** The interview has ended: the room is read-only and every page turns into the replay (the
   * live timeline until it is archived, the record after). An interviewer's token reads the
   * interviewers' view; a candidate's the candidate's (what they saw live: no notes, no integrity
   * signals, hidden tests as they saw them), which the server lets them read once it has ended. */
  ended() {
    if (this.stopped && this.endedShown) return;
    this.endedShown = true;
    this.stop("This interview has ended.", { error: false });
    document.body.dataset.ended = "true";
    this.scorecards.open();
    const token = this.credentials?.host_token || this.credentials?.participant_token || null;
    if (token) showReplay(this.id, token);
    // The scorecard is what an interviewer writes once it has ended: it moves beside the replay.
    if (token && this.interviewer) $("replay-view").querySelector(".sidebar")?.prepend($("scorecard-section"));
  }

  // ---- Messages ----------------------------------------------------------------------------------

  receive(type, data) {
    switch (type) {
      case "welcome": return this.welcome(data);
      case "ack": return this.code.receiveAck(data);
      case "op": return this.code.receiveOp(data);
      case "cursor-position": return this.remoteCursor(data);
      case "user-joined": return this.participantUpdate(data, true);
      case "user-left": return this.participantLeft(data);
      case "language-changed":
        if (typeof data.language === "string") {
          this.setMode(data.language);
          if (this.me && data.user_id !== this.me.id && data.name) showNotice(`${data.name} switched the language to ${languages.find(data.language)?.name || data.language}`);
        }
        return;
      case "session-ended": return this.ended();
      case "session-controls": return this.controls.apply(data, { announce: true });
      case "control-result": return this.controls.apply(data);
      case "scorecard-submitted":
      case "scorecard-amended":
        return this.scorecards.changed();
      case "execution-started": return this.executionStarted(data);
      case "execution-output": return this.executionOutput(data);
      case "execution-result": return this.executionResult(data);
      case "run-typing": return this.terminal.typing(data);
      case "run-open": return this.terminal.opened(data);
      case "notes-op": return this.notes?.receiveOp(data);
      case "notes-ack": return this.notes?.receiveAck(data);
      case "question-changed": return this.question.changed(data, this.me);
      case "test-run-started": return this.question.started(data);
      case "test-case-result": return this.question.caseResult(data);
      case "test-run-result": return this.question.runResult(data);
      case "activity": return this.integrity.receive(data);
      case "error": return this.serverError(data);
      default:
        return; // pong and anything newer
    }
  }

  welcome(data) {
    clearTimeout(this.joinTimer);
    const rejoin = this.everJoined;
    this.me = data.you;
    this.session = data;
    const stored = storage.load(this.id) || {};
    this.credentials = {
      ...stored,
      ...(this.credentials || {}),
      participant_token: data.participant_token,
      name: data.you?.name,
      user_id: data.you?.id,
    };
    if (this.joinAs?.host_token && !this.credentials.host_token) this.credentials.host_token = this.joinAs.host_token;
    storage.save(this.id, this.credentials);

    this.code.sync(data.code, data.revision, {
      rejoin, missed: data.resync ? null : data.missed_ops, userID: this.me?.id,
    });
    this.everJoined = true;
    this.joined = true;
    this.attempts = 0;
    this.code.setEditable(true);
    this.setSessionInfo(data);
    this.participants.clear();
    for (const p of data.participants || []) this.participants.set(p.id, p);
    if (this.me) this.participants.set(this.me.id, { ...this.participants.get(this.me.id), ...this.me, is_online: true });
    this.renderParticipants();
    for (const userID of [...this.remoteCursors.keys()]) {
      if (!this.participants.get(userID)?.is_online) this.dropCursor(userID);
    }
    this.setMode(data.language || this.language);
    // Interviewers: the host, or a participant who joined as one (their welcome has the notes).
    this.interviewer = "notes" in data || this.me?.role === "interviewer";
    this.setUpNotes(data.notes);
    this.controls.apply(data.controls);
    if (this.interviewer) this.scorecards.enable();
    if ("question" in data) this.question.show(data.question);
    else this.question.fetch();
    this.question.enablePicker();
    if (!rejoin) this.question.restoreLatest();
    setConnection("online", `connected · ${this.endpointName}`);
    this.startHeartbeat();
    this.code.connected(); // resends what was in flight when the old connection died
    this.cursorDirty = true;
    this.sendCursor();
    this.refreshUnfinishedJobs();
    this.question.refreshUnfinished();
    this.integrity.joined();
    languages.refresh().then(() => this.setMode(this.language));
  }

  serverError(data) {
    const detail = data.detail || data.code || "error";
    const request = data.request_type || "";
    if (this.terminal.refused(data)) return;
    if (request === "activity") return; // an integrity signal not kept: nothing the person can act on
    if (request === "join" || request === "join_session") {
      switch (data.code) {
        case "forbidden":
        case "unauthorized":
          if (this.credentials?.participant_token) {
            // The stored token is not (or no longer) valid here: join afresh.
            storage.clear(this.id);
            this.stop("Your saved seat in this session is no longer valid.", { error: true });
            return showJoin(this.id, detail);
          }
          this.stop(detail);
          return showJoin(this.id, detail);
        case "invalid":
          this.stop(detail);
          return showJoin(this.id, detail);
        case "unavailable":
          return; // the server closes; we retry
        case "session_ended":
          // An interviewer back after the end (a reload) still writes their scorecard: the panel
          // asks the server, which answers 403 to a candidate's token (and the panel stays hidden).
          this.scorecards.enable();
          return this.ended();
        case "not_found":
          storage.clear(this.id);
          return this.stop("There is no such interview (the link may be wrong or it has expired).");
        case "session_full":
          return this.stop(`This interview is full: ${detail}`);
        default:
          return this.stop(detail);
      }
    }
    if (data.code === "rate_limited") {
      // Some message was refused (which one is not said): if it was the edit in flight, the
      // acknowledgement timer catches up and resends it; cursors catch up on the next move.
      showNotice("Slowing down: the server asks for fewer messages.", { timeout: 3000 });
      return;
    }
    const editor = this.editors.find((e) => e.opType === request);
    if (editor) return editor.refused(data);
    if (data.code === "session_ended") return this.ended();
    showNotice(detail, { error: true });
  }

  // ---- People ----------------------------------------------------------------------------------

  participantUpdate(data, online) {
    const id = data.user_id || data.id;
    if (!id) return;
    this.participants.set(id, { ...this.participants.get(id), ...data, id, is_online: online });
    this.renderParticipants();
  }

  participantLeft(data) {
    const id = data.user_id || data.id;
    if (!id) return;
    if (this.me && id === this.me.id) {
      if (data.removed) return this.stop("You were removed from this interview.");
      // Our old connection went offline (e.g. a gateway died); this one is still here.
      return;
    }
    this.dropCursor(id);
    if (data.removed) this.participants.delete(id);
    else this.participants.set(id, { ...this.participants.get(id), ...data, id, is_online: false });
    this.renderParticipants();
  }

  renderParticipants() {
    const list = $("participants");
    list.replaceChildren();
    const people = [...this.participants.values()].sort((a, b) => (a.joined_at || 0) - (b.joined_at || 0));
    for (const p of people) {
      const online = p.is_online !== false;
      const item = el("li", `participant ${online ? "online" : "offline"}`);
      item.dataset.userId = p.id;
      const swatch = el("span", "swatch");
      swatch.style.backgroundColor = safeColor(p.color);
      const name = el("span", "name", p.name);
      const role = el("span", "role", p.role === "interviewer" ? "interviewer" : "candidate");
      const you = this.me && p.id === this.me.id;
      const presence = el("span", "presence", you ? "you" : online ? "online" : "offline");
      item.append(swatch, name, role, presence);
      list.append(item);
    }
  }

  // ---- Session info and controls -----------------------------------------------------------------

  setSessionInfo(data) {
    const title = data.name || `Interview ${this.id.slice(0, 6)}`;
    $("session-title").textContent = title;
    document.title = `${title} · CodeInterview`;
    // The link to share is the session's join_url as the page's own server gives it (its public
    // URL, or the address this page came from): the WebSocket's gateway may be another one.
    if (!this.shareLink) {
      const sameHost = this.endpointName === location.host;
      $("share-link").value = sameHost && data.join_url ? data.join_url : `${location.origin}/s/${this.id}`;
      if (!sameHost) {
        api("GET", `/sessions/${encodeURIComponent(this.id)}`).then((session) => {
          if (session?.join_url) $("share-link").value = this.shareLink = session.join_url;
        }).catch(() => { /* keep the page's own address */ });
      } else {
        this.shareLink = $("share-link").value;
      }
    }
    const host = this.credentials?.host_token;
    $("copy-host-link").hidden = !host;
    $("end-session").hidden = !host;
    // Interviewers (the host, or anyone who joined with the host key) may replay the session.
    const interviewer = host || this.me?.role === "interviewer";
    $("replay-link").hidden = !interviewer;
    $("replay-link").href = `/s/${encodeURIComponent(this.id)}/replay${location.search}`;
  }

  setUpControls() {
    $("copy-link").onclick = () => copy($("share-link").value, "Link copied: send it to the candidate.");
    $("copy-host-link").onclick = () => {
      const host = this.credentials?.host_token;
      if (host) copy(`${$("share-link").value}#host=${encodeURIComponent(host)}`, "Interviewer link copied: share it only with co-interviewers.");
    };
    $("language").onchange = (event) => {
      const language = event.target.value;
      if (!this.send("language-change", { language })) {
        showNotice("Not connected: the language cannot change right now.", { error: true });
        event.target.value = this.language;
      }
    };
    $("run").onclick = () => this.run();
    $("clear-output").onclick = () => {
      $("output").replaceChildren();
      this.jobs.clear();
    };
    $("end-session").onclick = async () => {
      if (!confirm("End this interview for everyone?")) return;
      try {
        await api("PATCH", `/sessions/${encodeURIComponent(this.id)}`, { status: "completed" }, this.credentials?.host_token);
      } catch (error) {
        showNotice(`Could not end the session: ${error.message}`, { error: true });
      }
    };
    this.availabilityTimer = setInterval(() => languages.refresh().then(() => this.setMode(this.language)), 15000);
  }

  updateRunAvailability() {
    const language = languages.find(this.language);
    const button = $("run");
    const hint = $("run-availability");
    if (language && language.available === false) {
      button.disabled = true;
      button.title = `No runner offers ${language.name} right now`;
      hint.textContent = `Running is unavailable: no runner offers ${language.name} right now.`;
    } else {
      button.disabled = this.stopped || Boolean(this.controls?.runsBlocked);
      button.title = this.controls?.runsBlocked ? "An interviewer is holding back runs for now" : "Run the code (Ctrl-Enter)";
      hint.textContent = "";
    }
    this.question?.updateRunButton();
  }

  // ---- Running code ------------------------------------------------------------------------------

  async run() {
    if (this.stopped) return;
    const language = languages.find(this.language);
    if (language && language.available === false) {
      showNotice(`No runner offers ${language.name} right now.`, { error: true });
      return;
    }
    const button = $("run");
    button.disabled = true;
    // "" a plain run (stdin from the box), "interactive" on the shared terminal, "repl" the REPL.
    const mode = this.terminal.available ? $("run-mode").value : "";
    const body = { language: this.language, code: this.cm.getValue(), wait: false };
    if (mode) {
      body.interactive = true;
      if (mode === "repl") body.mode = "repl";
    } else {
      body.stdin = $("stdin").value;
      this.terminal.hideIfDone();
    }
    try {
      const job = await api("POST", `/sessions/${encodeURIComponent(this.id)}/execute`, body, this.credentials?.participant_token);
      if (job && job.job_id && mode) {
        this.terminal.start({ job_id: job.job_id, user_id: this.me?.id, name: this.me?.name, mode });
        if (job.result) this.terminal.result({ ...job.result, job_id: job.job_id });
      } else if (job && job.job_id) {
        const block = this.jobBlock(job.job_id, { language: job.language, name: job.name || this.me?.name });
        block.mine = true;
        if (job.result) this.executionResult({ ...job.result, job_id: job.job_id });
      }
    } catch (error) {
      const block = el("div", "run");
      block.append(el("div", "run-status error", `Could not run: ${error.message}`));
      if (mode) this.terminal.hide();
      $("output").append(block);
      block.scrollIntoView({ block: "end" });
      if (error.status === 503) languages.refresh().then(() => this.setMode(this.language));
    } finally {
      setTimeout(() => this.updateRunAvailability(), 300);
    }
  }

  jobBlock(jobID, { language, name } = {}) {
    let block = this.jobs.get(jobID);
    if (block) return block;
    const root = el("div", "run");
    root.dataset.jobId = jobID;
    const who = name ? `${name} ran` : "Running";
    const header = el("div", "run-header", `▶ ${who} ${languages.find(language)?.name || language || ""}`.trim());
    const body = el("div", "run-body");
    const status = el("div", "run-status", "running…");
    root.append(header, body, status);
    $("output").append(root);
    block = { root, body, status, seqs: new Set(), chunks: 0, done: false, mine: false };
    this.jobs.set(jobID, block);
    root.scrollIntoView({ block: "end" });
    return block;
  }

  executionStarted(data) {
    if (!data.job_id) return;
    if (data.interactive === true && this.terminal.start(data)) return;
    if (!this.jobs.has(data.job_id) && !this.terminal.owns(data.job_id)) this.terminal.hideIfDone();
    if (this.terminal.owns(data.job_id)) return;
    this.jobBlock(data.job_id, data);
  }

  executionOutput(data) {
    if (!data.job_id || typeof data.chunk !== "string") return;
    if (this.terminal.owns(data.job_id)) return this.terminal.output(data);
    const block = this.jobBlock(data.job_id, data);
    if (block.done) return;
    if (Number.isInteger(data.seq)) {
      if (block.seqs.has(data.seq)) return;
      block.seqs.add(data.seq);
    }
    block.chunks += 1;
    block.body.append(el("span", data.stream === "stderr" ? "run-stderr" : "run-stdout", data.chunk));
    block.root.scrollIntoView({ block: "end" });
  }

  executionResult(data) {
    const jobID = data.job_id;
    if (!jobID) return;
    if (this.terminal.owns(jobID)) return this.terminal.result(data);
    const block = this.jobBlock(jobID, data);
    if (block.done) return;
    block.done = true;
    // The result is authoritative: show its output whole (the streamed chunks were a preview).
    block.body.replaceChildren();
    if (data.compile_output) block.body.append(el("span", "run-stderr", data.compile_output));
    if (data.stdout) block.body.append(el("span", "run-stdout", data.stdout));
    if (data.stderr) block.body.append(el("span", "run-stderr", data.stderr));
    const parts = [data.status || "done"];
    if (data.exit_code !== undefined && data.exit_code !== null) parts.push(`exit ${data.exit_code}`);
    if (data.signal) parts.push(`signal ${data.signal}`);
    const wall = data.time_ms && typeof data.time_ms === "object" ? data.time_ms.wall : data.time_ms;
    if (Number.isFinite(wall)) parts.push(`${wall} ms`);
    if (Number.isFinite(data.memory_kb)) parts.push(`${Math.round(data.memory_kb / 1024 * 10) / 10} MiB`);
    if (data.truncated) parts.push("output truncated");
    block.status.textContent = parts.join(" · ");
    block.status.className = `run-status ${data.status === "ok" ? "ok" : data.status === "internal_error" ? "error" : "failed"}`;
    block.root.dataset.status = data.status || "";
    block.root.scrollIntoView({ block: "end" });
  }

  /** After a reconnect: results that arrived while we were away. */
  async refreshUnfinishedJobs() {
    for (const [jobID, block] of this.jobs) {
      if (block.done) continue;
      try {
        const job = await api("GET", `/executions/${encodeURIComponent(jobID)}`);
        if (job && job.result) this.executionResult({ ...job.result, job_id: jobID });
      } catch {
        // Not there (yet, or any more): the event may still come.
      }
    }
  }

  // ---- For the browser tests and the curious -------------------------------------------------------

  exposeForTests() {
    const self = this;
    window.codeInterview = {
      get text() { return self.cm.getValue(); },
      get revision() { return self.client.revision; },
      get synchronized() { return self.client.synchronized; },
      get connection() { return document.body.dataset.connection; },
      get endpoint() { return self.endpointName; },
      get me() { return self.me; },
      editor: this.cm,
      get notesText() { return self.notes ? self.notes.text : null; },
      get notesRevision() { return self.notes ? self.notes.client.revision : null; },
      get notesSynchronized() { return self.notes ? self.notes.synchronized : null; },
      get notesEditor() { return self.notes ? self.notes.cm : null; },
      get terminalText() { return self.terminal.text(); },
      get terminalRun() { return self.terminal.run ? { id: self.terminal.run.id, done: self.terminal.run.done, open: self.terminal.run.open, mayType: self.terminal.mayType() } : null; },
      get terminalAvailable() { return self.terminal.available; },
    };
  }
}

async function copy(text, message) {
  try {
    await navigator.clipboard.writeText(text);
    showNotice(message, { timeout: 3000 });
  } catch {
    const field = $("share-link");
    field.focus();
    field.select();
    showNotice("Select and copy the link by hand (the clipboard is not available here).", { timeout: 4000 });
  }
}

// ---- Pages ---------------------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
const endpoints = (params.get("ws") || location.host).split(",").map((s) => s.trim()).filter(Boolean);
let hostTokenFromLink = null;
let interview = null;

function sessionIDFromPath() {
  const match = location.pathname.match(/^\/s\/([A-Za-z0-9_-]{1,64})(\/replay)?\/?$/);
  return match ? { id: match[1], replay: Boolean(match[2]) } : null;
}

async function showLanding() {
  showView("landing");
  document.title = "CodeInterview";
  $("create-name").value = storage.lastName();
  await languages.refresh();
  languages.fill($("create-language"), "python");
  $("create-form").onsubmit = async (event) => {
    event.preventDefault();
    const name = $("create-name").value.trim();
    if (!name) return;
    const button = $("create-button");
    button.disabled = true;
    try {
      const body = { host_name: name, initial_language: $("create-language").value };
      const title = $("create-title").value.trim();
      if (title) body.session_name = title;
      const created = await api("POST", "/sessions", body);
      storage.rememberName(name);
      storage.save(created.id, {
        participant_token: created.participant_token,
        host_token: created.host_token,
        user_id: created.participant_id,
        name,
      });
      history.pushState(null, "", `/s/${encodeURIComponent(created.id)}${location.search}`);
      openSession(created.id);
    } catch (error) {
      showNotice(`Could not create the session: ${error.message}`, { error: true });
    } finally {
      button.disabled = false;
    }
  };
}

async function showJoin(id, message) {
  showView("join");
  if (message) showNotice(message, { error: true, timeout: 0 });
  $("join-name").value = $("join-name").value || storage.lastName();
  const roleSelect = $("join-role");
  const hostLabel = $("join-host-label");
  const syncRole = () => { hostLabel.hidden = roleSelect.value !== "interviewer"; };
  roleSelect.onchange = syncRole;
  if (hostTokenFromLink) {
    roleSelect.value = "interviewer";
    $("join-host-token").value = hostTokenFromLink;
  }
  syncRole();
  try {
    const session = await api("GET", `/sessions/${encodeURIComponent(id)}`);
    $("join-title").textContent = session.name || "the interview";
    document.title = `Join ${session.name || "the interview"} · CodeInterview`;
  } catch (error) {
    showNotice(error.status === 410 ? "This interview has ended." : error.status === 404
      ? "There is no such interview (the link may be wrong or it has expired)." : error.message, { error: true, timeout: 0 });
    $("join-button").disabled = error.status === 404 || error.status === 410;
  }
  $("join-form").onsubmit = (event) => {
    event.preventDefault();
    const name = $("join-name").value.trim();
    if (!name) return;
    storage.rememberName(name);
    $("notice").hidden = true;
    const role = roleSelect.value;
    const joinAs = { name, role };
    if (role === "interviewer") joinAs.host_token = $("join-host-token").value.trim() || undefined;
    startInterview(id, { credentials: null, joinAs });
  };
}

function startInterview(id, options) {
  if (interview) {
    // A second attempt on this page (e.g. after a refused join): start clean.
    interview.stop("", { error: false });
    clearInterval(interview.availabilityTimer);
    $("editor").replaceChildren();
    $("notes-editor").replaceChildren();
    $("notes-section").hidden = true;
    $("output").replaceChildren();
    $("test-run").replaceChildren();
    $("test-run-section").hidden = true;
    $("notice").hidden = true;
  }
  showView("session");
  interview = new Interview(id, { endpoints, ...options });
  languages.refresh().then(() => interview.setMode(interview.language));
  interview.connect();
}

function openSession(id) {
  const credentials = storage.load(id);
  if (credentials && credentials.participant_token) startInterview(id, { credentials, joinAs: null });
  else showJoin(id);
}

function route() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("host")) {
    hostTokenFromLink = hash.get("host");
    // Keep the key out of the address bar (and out of links copied from it).
    history.replaceState(null, "", location.pathname + location.search);
  }
  const path = sessionIDFromPath();
  if (path?.replay) showReplay(path.id, hostTokenFromLink);
  else if (path) openSession(path.id);
  else showLanding();
}

window.addEventListener("popstate", () => location.reload());
window.addEventListener("online", () => {
  if (interview && !interview.ws && !interview.stopped) interview.connect();
});

if (!CodeMirror) {
  showNotice("The editor (CodeMirror) did not load: is libjs-codemirror installed on the server?", { error: true, timeout: 0 });
} else {
  route();
}

// One collaborative text in the page: a CodeMirror 5 editor bound to an ot.js client (ot.js'
// OTClient, RevisionOrder and UndoManager). The interview page has two of them: the code (`op` /
// `ack`) and, for interviewers, the private notes (`notes-op` / `notes-ack`); each has its own
// revision, its own operation in flight and its own undo history. The page (app.js) owns the
// connection: it hands this class the document's messages and gets back what to send.
//
// CodeMirror counts UTF-16 code units; operations count Unicode scalars as the server does: every
// conversion goes through ot.js' scalarCount / utf16Index.

import { OTClient, RevisionOrder, TextOperation, UndoManager, scalarCount, utf16Index } from "./ot.js";
import { showNotice } from "./common.js";

const CodeMirror = window.CodeMirror;

export class SharedEditor {
  /**
   *   element          where CodeMirror goes
   *   options          CodeMirror options besides the ones every shared text needs
   *   opType           the message type of an edit ("op", "notes-op")
   *   send(type, data) puts a message on the wire; false when not connected
   *   resync(reason, {drop})  the page reconnects to catch up (drop: start from the server's text)
   *   onLocal(op) / onRemote(op)  after a local / a server operation reached the editor (cursors)
   *   onAck()          after an acknowledgement
   *   onLoad()         after the whole text was replaced
   *   what             what the user calls their unsent work, for notices ("edits", "notes")
   */
  constructor(element, { options = {}, opType, send, resync, onLocal = () => {}, onRemote = () => {}, onAck = () => {},
    onLoad = () => {}, what = "edits" }) {
    this.opType = opType;
    this.what = what;
    this.resync = resync;
    this.onLocal = onLocal;
    this.onRemote = onRemote;
    this.onAck = onAck;
    this.onLoad = onLoad;
    this.applyingRemote = false;
    this.localText = "";
    this.undo = new UndoManager();
    this.ackTimer = null;
    this.invalidRetries = 0;
    /** Set when the server refused an edit for good: the next welcome's text replaces ours. */
    this.dropPending = false;
    this.client = new OTClient({
      send: (revision, op) => {
        send(opType, { revision, ops: op.toJSON() });
        this.armAckTimer();
      },
      apply: (op, author) => this.applyRemote(op, author),
      minInterval: 20, // at most ~50 edits a second go out; more are composed (the server limits messages)
    });
    this.order = new RevisionOrder({
      current: () => this.client.revision,
      process: (kind, revision, payload) => this.process(kind, revision, payload),
      gap: (reason) => this.resync(reason),
    });
    const undoKeys = {
      "Ctrl-Z": () => this.undoRedo(false), "Cmd-Z": () => this.undoRedo(false),
      "Shift-Ctrl-Z": () => this.undoRedo(true), "Shift-Cmd-Z": () => this.undoRedo(true), "Ctrl-Y": () => this.undoRedo(true),
    };
    this.cm = CodeMirror(element, {
      value: "",
      lineSeparator: "\n", // a "\r" stays a character, as on the server
      undoDepth: 0, // undo is ours: it reverts only this person's edits (ot.js' undo manager)
      readOnly: "nocursor",
      ...options,
      extraKeys: { ...undoKeys, ...(options.extraKeys || {}) },
    });
    this.cm.on("changes", (cm, changes) => this.onLocalChanges(changes));
  }

  get text() {
    return this.cm.getValue();
  }

  get synchronized() {
    return this.client.synchronized;
  }

  // ---- Local edits ---------------------------------------------------------------------------

  /** CodeMirror changed the text (the user typed, pasted, ...): make it an operation. */
  onLocalChanges(changes) {
    if (this.applyingRemote) return;
    const before = this.localText;
    const after = this.cm.getValue();
    const op = operationFromChanges(before, changes, after) || operationFromDiff(before, after);
    this.localText = after;
    if (op.isNoop()) return;
    this.localOperation(op, before);
  }

  /** A local operation already in the editor: undo history, the page's hook, the server. */
  localOperation(op, before, undoable = true) {
    if (undoable) this.undo.add(op.invert(before));
    this.onLocal(op);
    this.client.applyClient(op);
  }

  undoRedo(redo) {
    if (this.cm.getOption("readOnly")) return;
    const step = redo ? this.undo.takeRedo() : this.undo.takeUndo();
    if (!step) return;
    const before = this.localText;
    this.applyToEditor(step);
    const inverse = step.invert(before);
    (redo ? this.undo.undoStack : this.undo.redoStack).push(inverse);
    this.localOperation(step, before, false);
  }

  // ---- Server operations ---------------------------------------------------------------------

  /** Applies an operation (in scalars, on the local text) to CodeMirror without echoing it. */
  applyToEditor(op) {
    const text = this.localText;
    const edits = [];
    let at = 0;
    for (const c of op.ops) {
      if (typeof c === "string") {
        edits.push({ from: at, to: at, text: c });
      } else if (c > 0) {
        at = utf16Index(text, c, at);
      } else {
        const end = utf16Index(text, -c, at);
        const last = edits[edits.length - 1];
        if (last && last.to === at && last.from === at) last.to = end; // insert-then-delete: one replace
        else edits.push({ from: at, to: end, text: "" });
        at = end;
      }
    }
    const cm = this.cm;
    this.applyingRemote = true;
    try {
      cm.operation(() => {
        for (let i = edits.length - 1; i >= 0; i--) {
          const e = edits[i];
          cm.replaceRange(e.text, cm.posFromIndex(e.from), cm.posFromIndex(e.to), "remote");
        }
      });
    } finally {
      this.applyingRemote = false;
    }
    this.localText = op.apply(text);
    if (this.localText !== cm.getValue()) {
      console.error(`codeinterview: the editor and the document disagree (${this.opType}); resynchronizing`);
      this.resync("the editor fell out of step", { drop: true });
    }
  }

  /** The server's operation, transformed to our local text by the OT client. */
  applyRemote(op) {
    this.applyToEditor(op);
    this.undo.transform(op);
    this.onRemote(op);
  }

  /** An `op` (or `notes-op`) message from someone else. */
  receiveOp(data) {
    let op;
    try {
      op = TextOperation.fromJSON(data.ops);
    } catch (error) {
      return this.resync(`unreadable ${this.opType}: ${error.message}`, { drop: true });
    }
    this.order.push("op", data.revision, { op, author: data.user_id });
  }

  /** An `ack` (or `notes-ack`): our operation in flight became `data.revision`. */
  receiveAck(data) {
    this.order.push("ack", data.revision, null);
  }

  process(kind, revision, payload) {
    if (kind === "ack") {
      clearTimeout(this.ackTimer);
      this.invalidRetries = 0;
      if (!this.client.serverAck(revision)) return this.resync(`acknowledgement ${revision} without an edit in flight`);
      this.onAck();
      return;
    }
    const result = this.client.applyServer(revision, payload.op, payload.author);
    if (result === "gap") this.resync(`missed revisions before ${revision}`);
  }

  /** An edit unanswered for long (lost on the way, or refused without a word): catch up and resend. */
  armAckTimer() {
    clearTimeout(this.ackTimer);
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      if (this.client.online && this.client.outstanding && this.client.sent) this.resync("an edit was not acknowledged");
    }, 10000);
  }

  /** The server answered our edit with an `error` (its request_type is our opType). */
  refused(data) {
    clearTimeout(this.ackTimer);
    const detail = data.detail || data.code || "error";
    switch (data.code) {
      case "conflict": // "too much concurrent editing; send the operation again"
      case "unavailable":
        setTimeout(() => this.client.retry(), 200 + Math.random() * 300);
        return;
      case "stale_revision": // our base fell out of the server's log: catch up (the server may send the whole text)
        return this.resync("the edit was too old for the server");
      case "invalid":
        // A valid edit can be refused while the server moves it over operations committed
        // before it (one stored without its trailing retain: "the operation spans N characters
        // but the document had 0 at that revision"); sent again at our newest revision it
        // usually needs no moving. A few tries, then it really is invalid.
        this.invalidRetries += 1;
        if (this.invalidRetries <= 3) {
          console.info(`codeinterview: edit refused (${detail}); sending it again (try ${this.invalidRetries})`);
          setTimeout(() => this.client.retry(), 100 * this.invalidRetries + Math.random() * 200);
          return;
        }
        if (this.invalidRetries <= 6) {
          // Catching up brings us to the newest revision, where the edit goes in unmoved.
          return this.resync(`edit refused (${detail}); catching up to send it again (try ${this.invalidRetries})`);
        }
        this.invalidRetries = 0;
        showNotice(`An edit was refused: ${detail}`, { error: true });
        return this.resync(`${this.opType} refused: ${data.code}`, { drop: true });
      default:
        // Refused for good (too large, forbidden): it is in our text and never will be in the
        // server's, so start over from the server's text.
        showNotice(`An edit was refused: ${detail}`, { error: true });
        return this.resync(`${this.opType} refused: ${data.code}`, { drop: true });
    }
  }

  // ---- Joining and rejoining -----------------------------------------------------------------

  /** Replaces the whole text (first join, or a resync). */
  load(text, revision) {
    const cursor = this.cm.indexFromPos(this.cm.getCursor());
    this.client.reset(revision, text);
    this.applyingRemote = true;
    try {
      this.cm.setValue(text);
    } finally {
      this.applyingRemote = false;
    }
    this.localText = text;
    this.undo = new UndoManager();
    this.cm.setCursor(this.cm.posFromIndex(Math.min(cursor, text.length)));
    this.onLoad();
  }

  /**
   * The welcome's text and revision. On a first join (or after a refused edit) they replace
   * ours. On a rejoin our pending edits are kept: with `missed` (the operations committed since
   * our revision) the client catches up over them; without, when the text moved on, `merge`
   * rebases our pending edits over the difference between the text we had and the new one.
   */
  sync(text, revision, { rejoin, missed = null, userID = null, merge = false }) {
    const drop = this.dropPending;
    this.dropPending = false;
    if (!rejoin || drop) {
      if (rejoin && this.client.pending()) {
        showNotice(drop
          ? `Your latest ${this.what} could not be applied and were replaced by the current text.`
          : `You were away too long: your unsent ${this.what} were replaced by the current text.`, { error: true });
      }
      return this.load(text, revision);
    }
    if (Array.isArray(missed)) {
      const caughtUp = this.client.catchUp(missed, userID);
      if (!caughtUp || this.client.revision !== revision || this.client.serverText !== text) {
        console.warn(`codeinterview: catch-up (${this.opType}) did not reach the server's text; taking it as is`);
        if (this.client.pending()) showNotice(`Your latest ${this.what} could not be merged after the reconnect and were dropped.`, { error: true });
        this.load(text, revision);
      }
      return;
    }
    if (revision === this.client.revision && text === this.client.serverText) return; // nothing missed
    if (!merge || !this.client.pending()) {
      if (this.client.pending()) showNotice(`You were away too long: your unsent ${this.what} were replaced by the current text.`, { error: true });
      return this.load(text, revision);
    }
    this.rebase(text, revision, userID);
  }

  /** Our pending edits moved over what changed on the server meanwhile (no operations given). */
  rebase(text, revision, userID) {
    const client = this.client;
    // The edit in flight was committed before the old connection died (its ack was lost) and
    // nothing else happened: that is its acknowledgement.
    const outstanding = client.outstanding;
    if (outstanding && client.everSent && revision === client.revision + 1 && outstanding.apply(client.serverText) === text) {
      client.catchUp([{ revision, ops: outstanding.toJSON(), user_id: userID }], userID);
      return;
    }
    const pending = client.pending();
    const missed = operationFromDiff(client.serverText, text);
    const [mine, theirs] = TextOperation.transform(pending, missed);
    client.reset(revision, text);
    this.applyRemote(theirs);
    client.applyClient(mine);
  }

  /** The connection is gone: whatever was in flight goes out again after the catch-up. */
  disconnected() {
    this.client.disconnected();
    clearTimeout(this.ackTimer);
    this.order.clear();
  }

  /** Joined: send what is pending. */
  connected() {
    this.client.connected();
  }

  setEditable(editable) {
    this.cm.setOption("readOnly", editable ? false : true);
  }
}

// ---- CodeMirror changes -> operations (UTF-16 -> scalars) ---------------------------------------

/** The UTF-16 index of a CodeMirror {line, ch} in text (lines split on "\n"); -1 when outside. */
function indexOfPos(text, pos) {
  let index = 0;
  for (let line = 0; line < pos.line; line++) {
    index = text.indexOf("\n", index);
    if (index < 0) return -1;
    index += 1;
  }
  return index + pos.ch;
}

/**
 * One operation for a batch of CodeMirror changes. Each change's from/to are in UTF-16 code
 * units on the text as it was before that change; they become scalar counts here. Returns null
 * when the changes do not replay to `after` (then a diff is used instead).
 */
function operationFromChanges(before, changes, after) {
  let text = before;
  let length = scalarCount(before);
  let op = null;
  for (const change of changes) {
    const from = indexOfPos(text, change.from);
    const removed = change.removed.join("\n");
    const inserted = change.text.join("\n");
    if (from < 0 || text.slice(from, from + removed.length) !== removed) return null;
    const at = scalarCount(text, 0, from);
    const removedScalars = scalarCount(removed);
    const step = TextOperation.replace(length, at, removedScalars, inserted);
    op = op ? op.compose(step) : step;
    text = text.slice(0, from) + inserted + text.slice(from + removed.length);
    length += scalarCount(inserted) - removedScalars;
  }
  return op && text === after ? op : null;
}

/** One replace covering everything between the common prefix and suffix, never splitting a surrogate pair. */
export function operationFromDiff(before, after) {
  let prefix = 0;
  const max = Math.min(before.length, after.length);
  while (prefix < max && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  if (prefix > 0 && isHighSurrogate(before.charCodeAt(prefix - 1))) prefix--;
  let suffix = 0;
  while (suffix < max - prefix && before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)) suffix++;
  if (suffix > 0 && isLowSurrogate(before.charCodeAt(before.length - suffix))) suffix--;
  const length = scalarCount(before);
  const at = scalarCount(before, 0, prefix);
  const removed = scalarCount(before, prefix, before.length - suffix);
  return TextOperation.replace(length, at, removed, after.slice(prefix, after.length - suffix));
}

const isHighSurrogate = (unit) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit) => unit >= 0xdc00 && unit <= 0xdfff;

// Operational transformation for the CodeInterview web client: ot.js' text operations and its
// client protocol (one operation in flight, the rest buffered, incoming operations transformed
// over both), with every length and position counted in Unicode scalars (code points), as the
// server does. JavaScript strings are UTF-16: an astral character (an emoji) is two code units
// but one scalar, so every conversion between the two goes through the helpers below.

// ---- Unicode scalars <-> UTF-16 -------------------------------------------------------------

const isHigh = (unit) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit) => unit >= 0xdc00 && unit <= 0xdfff;

/** Scalars in text[start, end) (UTF-16 indices); a lone surrogate counts as one, as Array.from does. */
export function scalarCount(text, start = 0, end = text.length) {
  let count = 0;
  for (let i = start; i < end; i++) {
    if (isHigh(text.charCodeAt(i)) && i + 1 < end && isLow(text.charCodeAt(i + 1))) i++;
    count++;
  }
  return count;
}

/** The UTF-16 index of the scalar at `scalars` (clamped to the text's end). */
export function utf16Index(text, scalars, from = 0) {
  let i = from;
  for (let n = 0; n < scalars && i < text.length; n++) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
  }
  return i;
}

// ---- Text operations -------------------------------------------------------------------------

const isRetain = (c) => typeof c === "number" && c > 0;
const isDelete = (c) => typeof c === "number" && c < 0;
const isInsert = (c) => typeof c === "string";

export class TextOperation {
  constructor() {
    this.ops = [];
    this.baseLength = 0; // scalars the operation applies to
    this.targetLength = 0; // scalars it produces
  }

  /** The wire form (a JSON array); `baseLength` pads a trailing retain the sender left out. */
  static fromJSON(components, baseLength) {
    if (!Array.isArray(components)) throw new Error("ops must be an array");
    const op = new TextOperation();
    for (const c of components) {
      if (isInsert(c)) op.insert(c);
      else if (Number.isInteger(c) && c > 0) op.retain(c);
      else if (Number.isInteger(c) && c < 0) op.delete(-c);
      else throw new Error(`bad op component ${JSON.stringify(c)}`);
    }
    if (baseLength !== undefined && op.baseLength < baseLength) op.retain(baseLength - op.baseLength);
    return op;
  }

  toJSON() {
    return this.ops.slice();
  }

  retain(n) {
    if (n <= 0) return this;
    this.baseLength += n;
    this.targetLength += n;
    const last = this.ops.length - 1;
    if (last >= 0 && isRetain(this.ops[last])) this.ops[last] += n;
    else this.ops.push(n);
    return this;
  }

  insert(text) {
    if (text === "") return this;
    this.targetLength += scalarCount(text);
    const ops = this.ops;
    const last = ops.length - 1;
    if (last >= 0 && isInsert(ops[last])) {
      ops[last] += text;
    } else if (last >= 0 && isDelete(ops[last])) {
      // Inserts go before deletes at the same spot, so equal operations look the same.
      if (last >= 1 && isInsert(ops[last - 1])) ops[last - 1] += text;
      else {
        ops.push(ops[last]);
        ops[last] = text;
      }
    } else {
      ops.push(text);
    }
    return this;
  }

  delete(n) {
    if (n <= 0) return this;
    this.baseLength += n;
    const last = this.ops.length - 1;
    if (last >= 0 && isDelete(this.ops[last])) this.ops[last] -= n;
    else this.ops.push(-n);
    return this;
  }

  isNoop() {
    return this.ops.every(isRetain);
  }

  /** Equal as the server would store it: trailing retains do not count. */
  equals(other) {
    const a = trimmed(this.ops);
    const b = trimmed(other.ops);
    return a.length === b.length && a.every((c, i) => c === b[i]);
  }

  /** Applies the operation to a string of exactly baseLength scalars. */
  apply(text) {
    const out = [];
    let i = 0; // UTF-16 index into text
    let scalars = 0;
    for (const c of this.ops) {
      if (isRetain(c)) {
        const end = utf16Index(text, c, i);
        out.push(text.slice(i, end));
        i = end;
        scalars += c;
      } else if (isInsert(c)) {
        out.push(c);
      } else {
        i = utf16Index(text, -c, i);
        scalars -= c;
      }
    }
    if (scalars !== this.baseLength || i !== text.length) {
      throw new Error(`the operation spans ${this.baseLength} characters but the text has ${scalarCount(text)}`);
    }
    return out.join("");
  }

  /** The operation that undoes this one, given the text it was applied to. */
  invert(text) {
    const inverse = new TextOperation();
    let i = 0;
    for (const c of this.ops) {
      if (isRetain(c)) {
        inverse.retain(c);
        i = utf16Index(text, c, i);
      } else if (isInsert(c)) {
        inverse.delete(scalarCount(c));
      } else {
        const end = utf16Index(text, -c, i);
        inverse.insert(text.slice(i, end));
        i = end;
      }
    }
    return inverse;
  }

  /** This operation followed by `other`, as one operation. */
  compose(other) {
    if (this.targetLength !== other.baseLength) {
      throw new Error("compose: the second operation's base length must equal the first's target length");
    }
    const result = new TextOperation();
    const a = this.ops;
    const b = other.ops;
    let i = 0;
    let j = 0;
    let x = a[i++];
    let y = b[j++];
    for (;;) {
      if (x === undefined && y === undefined) break;
      if (isDelete(x)) {
        result.delete(-x);
        x = a[i++];
        continue;
      }
      if (isInsert(y)) {
        result.insert(y);
        y = b[j++];
        continue;
      }
      if (x === undefined) throw new Error("compose: the first operation is too short");
      if (y === undefined) throw new Error("compose: the first operation is too long");
      if (isRetain(x) && isRetain(y)) {
        if (x > y) { result.retain(y); x -= y; y = b[j++]; }
        else if (x === y) { result.retain(x); x = a[i++]; y = b[j++]; }
        else { result.retain(x); y -= x; x = a[i++]; }
      } else if (isInsert(x) && isDelete(y)) {
        const n = scalarCount(x);
        if (n > -y) { x = x.slice(utf16Index(x, -y)); y = b[j++]; }
        else if (n === -y) { x = a[i++]; y = b[j++]; }
        else { y += n; x = a[i++]; }
      } else if (isInsert(x) && isRetain(y)) {
        const n = scalarCount(x);
        if (n > y) { const cut = utf16Index(x, y); result.insert(x.slice(0, cut)); x = x.slice(cut); y = b[j++]; }
        else if (n === y) { result.insert(x); x = a[i++]; y = b[j++]; }
        else { result.insert(x); y -= n; x = a[i++]; }
      } else if (isRetain(x) && isDelete(y)) {
        if (x > -y) { result.delete(-y); x += y; y = b[j++]; }
        else if (x === -y) { result.delete(-y); x = a[i++]; y = b[j++]; }
        else { result.delete(x); y += x; x = a[i++]; }
      } else {
        throw new Error("compose: incompatible components");
      }
    }
    return result;
  }

  /**
   * ot.js' transform: for concurrent `a` and `b` on one document, [a', b'] with
   * apply(apply(d, a), b') == apply(apply(d, b), a'). At the same position `a`'s insert goes
   * first, as on the server, which transforms the operation it is committing (`a`) over the
   * ones committed before it: so a client passes its own pending operation as `a`.
   */
  static transform(a, b) {
    if (a.baseLength !== b.baseLength) throw new Error("transform: both operations must have the same base length");
    const aPrime = new TextOperation();
    const bPrime = new TextOperation();
    const A = a.ops;
    const B = b.ops;
    let i = 0;
    let j = 0;
    let x = A[i++];
    let y = B[j++];
    for (;;) {
      if (x === undefined && y === undefined) break;
      if (isInsert(x)) {
        aPrime.insert(x);
        bPrime.retain(scalarCount(x));
        x = A[i++];
        continue;
      }
      if (isInsert(y)) {
        aPrime.retain(scalarCount(y));
        bPrime.insert(y);
        y = B[j++];
        continue;
      }
      if (x === undefined || y === undefined) throw new Error("transform: operations of different lengths");
      let n;
      if (isRetain(x) && isRetain(y)) {
        if (x > y) { n = y; x -= y; y = B[j++]; }
        else if (x === y) { n = y; x = A[i++]; y = B[j++]; }
        else { n = x; y -= x; x = A[i++]; }
        aPrime.retain(n);
        bPrime.retain(n);
      } else if (isDelete(x) && isDelete(y)) {
        if (-x > -y) { x -= y; y = B[j++]; }
        else if (x === y) { x = A[i++]; y = B[j++]; }
        else { y -= x; x = A[i++]; }
      } else if (isDelete(x) && isRetain(y)) {
        if (-x > y) { n = y; x += y; y = B[j++]; }
        else if (-x === y) { n = y; x = A[i++]; y = B[j++]; }
        else { n = -x; y += x; x = A[i++]; }
        aPrime.delete(n);
      } else if (isRetain(x) && isDelete(y)) {
        if (x > -y) { n = -y; x += y; y = B[j++]; }
        else if (x === -y) { n = x; x = A[i++]; y = B[j++]; }
        else { n = x; y += x; x = A[i++]; }
        bPrime.delete(n);
      } else {
        throw new Error("transform: incompatible components");
      }
    }
    return [aPrime, bPrime];
  }

  /** A single change: at scalar `at`, remove `removed` scalars and insert `text`, in a document of `length` scalars. */
  static replace(length, at, removed, text) {
    return new TextOperation().retain(at).delete(removed).insert(text).retain(length - at - removed);
  }
}

function trimmed(ops) {
  return ops.length && isRetain(ops[ops.length - 1]) ? ops.slice(0, -1) : ops;
}

/** Where a position (in scalars) moves when `op` is applied: ot.js' cursor transform. */
export function transformPosition(position, op) {
  let moved = position;
  let rest = position;
  for (const c of op.ops) {
    if (isRetain(c)) rest -= c;
    else if (isInsert(c)) moved += scalarCount(c);
    else {
      moved -= Math.min(rest, -c);
      rest += c;
    }
    if (rest < 0) break;
  }
  return moved;
}

// ---- The client protocol --------------------------------------------------------------------

/**
 * ot.js' client, plus what reconnecting needs. The document it tracks has two forms: the
 * server's (what revision `revision` is) and the local one (that plus `outstanding` and `buffer`).
 *
 *   outstanding  the operation sent and not acknowledged yet (or not sent yet on this connection)
 *   buffer       local operations made meanwhile, composed into one
 *
 * The host provides:
 *   send(revision, op)       put an `op` message on the wire
 *   apply(op)                apply a server operation (already transformed) to the editor
 */
export class OTClient {
  constructor({ revision = 0, text = "", send, apply, minInterval = 0 }) {
    this.revision = revision;
    this.serverText = text;
    this.outstanding = null;
    this.buffer = null;
    this.sent = false; // sent on this connection
    this.everSent = false; // sent at all: then the server may have committed it
    this.online = false;
    this.send = send;
    this.apply = apply;
    /** Milliseconds between two sends at least (the server rate-limits messages). */
    this.minInterval = minInterval;
    this.lastSentAt = 0;
    this.flushTimer = null;
    /** Recent committed operations, for moving cursors that were sent at an older revision. */
    this.history = [];
  }

  get synchronized() {
    return !this.outstanding && !this.buffer;
  }

  /** Starts over at a revision and its text (a first join, or a resync). Pending work is dropped. */
  reset(revision, text) {
    this.revision = revision;
    this.serverText = text;
    this.outstanding = null;
    this.buffer = null;
    this.sent = false;
    this.everSent = false;
    this.history = [];
  }

  /** The user changed the document. */
  applyClient(op) {
    if (!this.outstanding) {
      this.outstanding = op;
      this.sent = false;
      this.everSent = false;
      this.flush();
    } else if (!this.everSent) {
      // Not gone out yet (waiting for its turn, or offline): one operation with the new edit.
      this.outstanding = this.outstanding.compose(op);
    } else if (!this.buffer) {
      this.buffer = op;
    } else {
      this.buffer = this.buffer.compose(op);
    }
  }

  /** Sends the outstanding operation if it has not gone out on this connection. */
  flush() {
    if (!this.online || !this.outstanding || this.sent) return;
    const wait = this.lastSentAt + this.minInterval - Date.now();
    if (wait > 0) {
      if (!this.flushTimer) this.flushTimer = setTimeout(() => { this.flushTimer = null; this.flush(); }, wait);
      return;
    }
    this.sent = true;
    this.everSent = true;
    this.lastSentAt = Date.now();
    this.send(this.revision, this.outstanding);
  }

  /**
   * The server refused the operation in flight without applying it (e.g. "conflict: send the
   * operation again"): it goes out again, at our current revision.
   */
  retry() {
    if (!this.outstanding) return;
    this.sent = false;
    this.flush();
  }

  /**
   * The server committed our outstanding operation as `revision`. Returns false when that is
   * not the next revision (we missed an operation committed before ours: resync).
   */
  serverAck(revision) {
    if (!this.outstanding || revision !== this.revision + 1) return false;
    this.commit(revision, this.outstanding, null);
    this.outstanding = this.buffer;
    this.buffer = null;
    this.sent = false;
    this.everSent = false;
    this.flush();
    return true;
  }

  /**
   * Someone else's operation, committed as `revision`. Returns "applied", "duplicate" (already
   * had it) or "gap" (an earlier revision is missing: resync).
   */
  applyServer(revision, op, author) {
    if (revision <= this.revision) return "duplicate";
    if (revision !== this.revision + 1) return "gap";
    op = padded(op, this.serverText);
    this.commit(revision, op, author);
    if (this.outstanding) {
      [this.outstanding, op] = TextOperation.transform(this.outstanding, op);
      if (this.buffer) [this.buffer, op] = TextOperation.transform(this.buffer, op);
    }
    this.apply(op, author);
    return "applied";
  }

  /**
   * After a reconnect: the operations committed since our revision, oldest first (the welcome's
   * `missed_ops`). One of them may be our own outstanding operation, committed before the old
   * connection died but never acknowledged: it is recognized by its author and content (the
   * server commits exactly what we would get by transforming our operation over the ones
   * before it) and taken as the acknowledgement instead of being applied a second time.
   * Returns false on a gap.
   */
  catchUp(missed, myUserID) {
    for (const m of missed) {
      if (m.revision <= this.revision) continue;
      if (m.revision !== this.revision + 1) return false;
      const op = padded(TextOperation.fromJSON(m.ops), this.serverText);
      if (this.outstanding && this.everSent && m.user_id === myUserID && op.equals(this.outstanding)) {
        this.commit(m.revision, this.outstanding, m.user_id);
        this.outstanding = this.buffer;
        this.buffer = null;
        this.sent = false;
        this.everSent = false;
        continue;
      }
      if (this.applyServer(m.revision, op, m.user_id) === "gap") return false;
    }
    return true;
  }

  /** Goes offline: whatever was in flight has to be sent again after the catch-up. */
  disconnected() {
    this.online = false;
    this.sent = false;
  }

  /** Back online after the catch-up: the outstanding operation goes out again. */
  connected() {
    this.online = true;
    this.sent = false;
    this.flush();
  }

  /** Pending local work, as one operation on the server's text (for resends and checks). */
  pending() {
    if (this.outstanding && this.buffer) return this.outstanding.compose(this.buffer);
    return this.outstanding || this.buffer;
  }

  commit(revision, op, author) {
    this.serverText = op.apply(this.serverText);
    this.revision = revision;
    this.history.push({ revision, op, author });
    if (this.history.length > 200) this.history.shift();
  }

  /**
   * Moves a position (scalars) that was valid on the server's text at `revision` to the local
   * text now: over the operations committed since, then over our pending ones.
   */
  localPosition(position, revision) {
    if (Number.isInteger(revision) && revision < this.revision) {
      for (const entry of this.history) {
        if (entry.revision > revision) position = transformPosition(position, entry.op);
      }
    }
    if (this.outstanding) position = transformPosition(position, this.outstanding);
    if (this.buffer) position = transformPosition(position, this.buffer);
    return position;
  }
}

function padded(op, text) {
  const length = scalarCount(text);
  if (op.baseLength < length) op.retain(length - op.baseLength);
  return op;
}

// ---- Revision order ---------------------------------------------------------------------------

/**
 * Acknowledgements and other people's operations must be handled in revision order: each one
 * is the next revision. A gateway can deliver them out of order (its commit reply and its
 * pub/sub channel are two Redis connections), so one that comes early waits here for the
 * missing revision; if that does not come within `wait` ms, `gap` is called (the host then
 * reconnects and catches up from its revision).
 *
 *   current()                    the revision we have
 *   process(kind, revision, x)   handle the next revision ("ack" or "op")
 *   gap(reason)                  a revision is missing
 */
export class RevisionOrder {
  constructor({ current, process, gap, wait = 2000 }) {
    this.current = current;
    this.process = process;
    this.gap = gap;
    this.wait = wait;
    this.held = new Map();
    this.timer = null;
    this.reordered = 0;
  }

  push(kind, revision, payload) {
    const next = this.current() + 1;
    if (!Number.isInteger(revision) || revision < next) {
      // An operation we already have is dropped; an old acknowledgement cannot be placed.
      if (kind === "ack") this.gap(`acknowledgement ${revision} at revision ${next - 1}`);
      return;
    }
    if (revision > next) {
      this.reordered++;
      console.info(`codeinterview: out of order: ${kind} ${revision} arrived before revision ${next}`);
      this.held.set(revision, { kind, payload });
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          if (this.held.size) this.gap(`revision ${this.current() + 1} did not arrive`);
        }, this.wait);
      }
      return;
    }
    this.process(kind, revision, payload);
    for (let r = this.current() + 1; this.held.has(r); r = this.current() + 1) {
      const held = this.held.get(r);
      this.held.delete(r);
      this.process(held.kind, r, held.payload);
    }
    if (!this.held.size) this.clearTimer();
  }

  clear() {
    this.held.clear();
    this.clearTimer();
  }

  clearTimer() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

// ---- Undo that respects other people's edits -------------------------------------------------

/**
 * ot.js' undo manager: undoing reverts only your own edits. Each entry is the inverse of a local
 * operation; remote operations transform the stacks so the entries keep applying.
 */
export class UndoManager {
  constructor(limit = 200) {
    this.limit = limit;
    this.undoStack = [];
    this.redoStack = [];
    this.lastAt = 0;
  }

  /** A local edit; `inverse` undoes it. Quick successive edits become one undo step. */
  add(inverse, now = Date.now()) {
    const top = this.undoStack[this.undoStack.length - 1];
    if (top && now - this.lastAt < 700) this.undoStack[this.undoStack.length - 1] = inverse.compose(top);
    else {
      this.undoStack.push(inverse);
      if (this.undoStack.length > this.limit) this.undoStack.shift();
    }
    this.lastAt = now;
    this.redoStack = [];
  }

  transform(op) {
    this.undoStack = transformStack(this.undoStack, op);
    this.redoStack = transformStack(this.redoStack, op);
  }

  /** Pops the step to apply; the caller applies it and hands its inverse back with `pushRedo`/`pushUndo`. */
  takeUndo() {
    this.lastAt = 0;
    return this.undoStack.pop() || null;
  }

  takeRedo() {
    this.lastAt = 0;
    return this.redoStack.pop() || null;
  }
}

function transformStack(stack, op) {
  const out = [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const [entry, next] = TextOperation.transform(stack[i], op);
    if (!entry.isNoop()) out.push(entry);
    op = next;
  }
  return out.reverse();
}

// Room controls (issue 22, part 2): the interviewers' bar (Lock editor, Hold runs, Hide question,
// End interview) and what the controls do to a candidate's page (the editor read-only with a
// banner, Run and Run tests disabled, the question pane hidden). The server enforces every control
// (its scripts refuse a candidate's op with `error` editor_locked, a run with 403 runs_held); this
// page only shows them. State comes from the welcome (`controls`), `session-controls` frames (to
// every member: the whole state and who changed it) and `control-result` (the sender's answer).
// Changes go out as the WebSocket's `control` message.

import { $, el, showNotice } from "./common.js";

const LABELS = {
  editor_locked: ["Lock editor", "Unlock editor"],
  runs_held: ["Hold runs", "Release runs"],
  question_hidden: ["Hide question", "Reveal question"],
};

const WHAT = {
  editor_locked: ["locked the editor", "unlocked the editor"],
  runs_held: ["held back running", "released running"],
  question_hidden: ["hid the question", "revealed the question"],
};

export class RoomControls {
  /**
   * host: {interviewer(), send(type, data), editors(), question, me(), afterChange()}:
   * what this needs of the interview page.
   */
  constructor(host) {
    this.host = host;
    this.state = { editor_locked: false, runs_held: false, question_hidden: false };
    this.bar = null;
    this.banner = null;
  }

  /** Whether this page's Run and Run tests are held back (a candidate's, while runs are held). */
  get runsBlocked() {
    return this.state.runs_held && !this.host.interviewer();
  }

  /** Why Run tests is unavailable here (for the question panel), or null. */
  runHold() {
    return this.runsBlocked ? "an interviewer is holding back runs for now" : null;
  }

  /** The state after a welcome, a session-controls frame or a control-result. `announce`: say who changed what. */
  apply(data, { announce = false } = {}) {
    if (!data || typeof data !== "object") return;
    const before = { ...this.state };
    for (const name of Object.keys(this.state)) {
      if (typeof data[name] === "boolean") this.state[name] = data[name];
    }
    if (announce && Array.isArray(data.changed) && data.changed.length) {
      const mine = data.user_id && data.user_id === this.host.me()?.id;
      if (!mine) {
        const who = data.name || (data.by_host ? "The host" : "An interviewer");
        const what = data.changed.filter((name) => WHAT[name]).map((name) => WHAT[name][this.state[name] ? 0 : 1]);
        if (what.length) showNotice(`${who} ${what.join(", ")}.`, { timeout: 4000 });
      }
    }
    this.render();
    // Revealed: candidates read the question again (it was none to them while hidden).
    if (before.question_hidden && !this.state.question_hidden && !this.host.interviewer()) this.host.question.fetch();
    this.host.afterChange();
  }

  render() {
    const interviewer = this.host.interviewer();
    this.renderBar(interviewer);
    const lockedOut = this.state.editor_locked && !interviewer;
    document.body.dataset.editorLocked = lockedOut ? "true" : "false";
    const code = this.host.editors()[0];
    if (code && this.host.joined()) code.setEditable(!lockedOut);
    this.renderBanner(lockedOut);
    const pane = $("question-pane");
    if (pane) pane.hidden = this.state.question_hidden && !interviewer;
    for (const id of ["run", "run-tests"]) {
      const button = $(id);
      if (button && this.runsBlocked) {
        button.disabled = true;
        button.title = "An interviewer is holding back runs for now";
      }
    }
  }

  renderBanner(show) {
    if (!this.banner) {
      this.banner = el("div", "controls-banner");
      this.banner.id = "editor-locked-banner";
      this.banner.setAttribute("role", "status");
      const editor = $("editor");
      editor.parentNode.insertBefore(this.banner, editor);
    }
    this.banner.textContent = "An interviewer has locked the editor: you can read along; it opens again when they unlock it.";
    this.banner.hidden = !show;
  }

  renderBar(interviewer) {
    if (!interviewer) {
      if (this.bar) this.bar.hidden = true;
      return;
    }
    if (!this.bar) {
      this.bar = el("div", "controls-bar");
      this.bar.id = "room-controls";
      this.bar.setAttribute("role", "toolbar");
      this.bar.setAttribute("aria-label", "Room controls");
      this.buttons = {};
      for (const name of Object.keys(LABELS)) {
        const button = el("button", "control");
        button.type = "button";
        button.id = `control-${name.replace("_", "-")}`;
        button.onclick = () => this.change({ [name]: !this.state[name] });
        this.buttons[name] = button;
        this.bar.append(button);
      }
      const end = el("button", "control danger", "End interview");
      end.type = "button";
      end.id = "control-end";
      end.onclick = () => {
        if (!confirm("End this interview for everyone? The room becomes read-only and turns into the replay.")) return;
        this.change({ end: true });
      };
      this.bar.append(end);
      const editor = $("editor");
      editor.parentNode.insertBefore(this.bar, editor);
    }
    this.bar.hidden = false;
    for (const [name, button] of Object.entries(this.buttons)) {
      button.textContent = LABELS[name][this.state[name] ? 1 : 0];
      button.setAttribute("aria-pressed", this.state[name] ? "true" : "false");
    }
  }

  change(data) {
    if (!this.host.send("control", data)) {
      showNotice("Not connected: the room controls cannot change right now.", { error: true });
    }
  }
}

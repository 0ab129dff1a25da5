// The question panel of the interview page: the session's question (title, prompt rendered from
// Markdown by markdown.js, the tests it shows this person), the "Run tests" results filled live
// from the `test-run-started` / `test-case-result` / `test-run-result` events, and for the host
// the picker that sets a question from the deployment's library (README, "Questions and test runs").
//
// What the server sends a candidate already lacks the hidden tests' inputs and outputs. The page
// goes one step further: a candidate sees a hidden case as "Hidden test 2", never by its name
// (names like "empty input" or "10^6 elements" are hints).

import { $, api, el, showNotice } from "./common.js";
import { renderMarkdown } from "./markdown.js";

const STATUS_LABELS = {
  passed: "passed",
  failed: "wrong output",
  time_limit_exceeded: "time limit",
  memory_limit_exceeded: "memory limit",
  output_limit_exceeded: "output limit",
  runtime_error: "runtime error",
  compile_error: "compile error",
  internal_error: "internal error",
  running: "running…",
  queued: "waiting",
};

export class QuestionPanel {
  /**
   *   sessionID
   *   token()          the participant's token (what runs the tests, reads the question)
   *   hostToken()      the host token, or null (then no picker)
   *   interviewer()    whether this person may see hidden tests
   *   languageName(id) a language's name for the run's header
   *   runnable()       null when the tests can run now, else why not
   */
  constructor({ sessionID, token, hostToken, interviewer, languageName, runnable }) {
    this.sessionID = sessionID;
    this.token = token;
    this.hostToken = hostToken;
    this.interviewer = interviewer;
    this.languageName = languageName;
    this.runnable = runnable;
    this.question = null;
    this.run = null; // the run shown: {id, done, cases: Map name -> {hidden, element, label}, ...}
    this.stopped = false;
    this.libraryLoaded = false;
    this.posting = false; // our POST /test-runs is on its way
    $("run-tests").onclick = () => this.runTests();
    $("set-question").onclick = () => this.setFromLibrary();
    $("clear-question").onclick = () => this.clearQuestion();
    $("refresh-library").onclick = () => this.loadLibrary();
    $("question-library").onchange = () => this.updatePicker();
    this.show(null);
  }

  get path() {
    return `/sessions/${encodeURIComponent(this.sessionID)}`;
  }

  // ---- The question ------------------------------------------------------------------------------

  /** The question as the server gives it for this person (or null: none set). */
  show(question) {
    this.question = question && typeof question === "object" ? question : null;
    const q = this.question;
    $("question-empty").hidden = Boolean(q);
    $("question").hidden = !q;
    $("tests-section").hidden = !q;
    $("question-pane").dataset.state = q ? "set" : "empty";
    if (!q) {
      $("question-title").textContent = "";
      $("question-prompt").replaceChildren();
      $("question-tests").replaceChildren();
      $("hidden-tests").hidden = true;
      this.updateRunButton();
      return;
    }
    $("question-title").textContent = typeof q.title === "string" ? q.title : "";
    $("question-prompt").replaceChildren(renderMarkdown(typeof q.prompt === "string" ? q.prompt : ""));
    const list = $("question-tests");
    list.replaceChildren();
    const tests = Array.isArray(q.tests) ? q.tests : [];
    // Interviewers get every test; a candidate's view has the visible ones only. Filtering here
    // too keeps a hidden test off a candidate's page even from a server that sent one.
    const interviewer = this.interviewer();
    for (const test of tests) {
      if (!test || (test.hidden && !interviewer)) continue;
      list.append(this.testItem(test));
    }
    const hiddenCount = Number.isInteger(q.hidden_test_count) ? q.hidden_test_count : tests.filter((t) => t && t.hidden).length;
    const hint = $("hidden-tests");
    hint.hidden = hiddenCount === 0 || interviewer;
    hint.textContent = hiddenCount === 1 ? "1 hidden test" : `${hiddenCount} hidden tests`;
    $("tests-heading").textContent = interviewer && hiddenCount
      ? `Tests (${tests.length}, ${hiddenCount} hidden)` : `Tests (${list.children.length + (interviewer ? 0 : hiddenCount)})`;
    this.updateRunButton();
  }

  testItem(test) {
    const item = el("li", `test${test.hidden ? " hidden-test" : ""}`);
    item.dataset.name = test.name;
    const head = el("div", "test-name", test.name);
    if (test.hidden) head.append(el("span", "tag", "hidden"));
    item.append(head, ioBlock("Input", test.stdin), ioBlock("Expected output", test.expected_stdout));
    return item;
  }

  get testCount() {
    const q = this.question;
    if (!q) return 0;
    const visible = Array.isArray(q.tests) ? q.tests.filter((t) => t && !t.hidden).length : 0;
    return visible + (Number.isInteger(q.hidden_test_count) ? q.hidden_test_count : 0);
  }

  /** After a reconnect to a server whose welcome has no `question` field. */
  async fetch() {
    try {
      this.show(await api("GET", `${this.path}/question`, undefined, this.hostToken() || this.token()));
    } catch (error) {
      if (error.status === 404) this.show(null);
    }
  }

  /** `question-changed`: someone set (or cleared) the question. */
  changed(data, me) {
    this.show(data.question ?? null);
    // The last run was against the tests of the question before.
    if (this.run?.done) {
      this.run = null;
      $("test-run").replaceChildren();
      $("test-run-section").hidden = true;
    }
    if (data.name && data.user_id !== me?.id) {
      showNotice(data.question ? `${data.name} set the question: ${data.question.title}` : `${data.name} removed the question`, { timeout: 4000 });
    }
  }

  // ---- The host's picker ------------------------------------------------------------------------

  /** Shows the picker when this person holds the host token, loading the library once. */
  enablePicker() {
    const host = Boolean(this.hostToken());
    $("question-picker").hidden = !host;
    if (host && !this.libraryLoaded) this.loadLibrary();
  }

  async loadLibrary() {
    const select = $("question-library");
    const status = $("question-picker-status");
    status.textContent = "loading the library…";
    try {
      const data = await api("GET", `/questions?session_id=${encodeURIComponent(this.sessionID)}&limit=100`, undefined, this.hostToken());
      const items = Array.isArray(data?.questions) ? data.questions : [];
      const current = select.value;
      select.replaceChildren(new Option(items.length ? "Choose a question…" : "(the library is empty)", ""));
      for (const q of items) {
        if (!q || typeof q.id !== "string") continue;
        const tests = Number.isInteger(q.test_count) ? ` · ${q.test_count} test${q.test_count === 1 ? "" : "s"}` : "";
        const hidden = q.hidden_test_count ? ` (${q.hidden_test_count} hidden)` : "";
        const langs = Array.isArray(q.languages) && q.languages.length ? ` · ${q.languages.join(", ")}` : "";
        select.append(new Option(`${q.title}${tests}${hidden}${langs}`, q.id));
      }
      if ([...select.options].some((o) => o.value === current)) select.value = current;
      this.libraryLoaded = true;
      status.textContent = items.length ? "" : "An administrator adds questions with POST /api/v1/questions.";
      if (data?.next_cursor) status.textContent = "Showing the 100 newest questions.";
    } catch (error) {
      status.textContent = `Could not load the library: ${error.message}`;
    }
    this.updatePicker();
  }

  updatePicker() {
    $("set-question").disabled = this.stopped || !$("question-library").value;
    $("clear-question").hidden = !this.question;
    $("clear-question").disabled = this.stopped;
  }

  async setFromLibrary() {
    const id = $("question-library").value;
    if (!id) return;
    const button = $("set-question");
    button.disabled = true;
    $("question-picker-status").textContent = "setting the question…";
    try {
      const question = await api("PUT", `${this.path}/question`, { from: id }, this.hostToken());
      this.show(question); // the event brings the same; this is quicker for the one who clicked
      $("question-picker-status").textContent = "";
    } catch (error) {
      $("question-picker-status").textContent = `Could not set the question: ${error.message}`;
    } finally {
      this.updatePicker();
    }
  }

  async clearQuestion() {
    if (!confirm("Remove the question from this interview?")) return;
    try {
      await api("DELETE", `${this.path}/question`, undefined, this.hostToken());
      this.show(null);
    } catch (error) {
      showNotice(`Could not remove the question: ${error.message}`, { error: true });
    } finally {
      this.updatePicker();
    }
  }

  // ---- Test runs ----------------------------------------------------------------------------------

  updateRunButton() {
    const button = $("run-tests");
    const why = this.stopped ? "the interview has ended" : !this.question ? "no question is set"
      : this.testCount === 0 ? "the question has no tests" : this.runnable();
    button.hidden = !this.question;
    button.disabled = Boolean(why) || this.posting;
    button.title = why ? `Cannot run the tests: ${why}` : "Run the code against every test of the question";
    this.updatePicker();
  }

  async runTests() {
    if ($("run-tests").disabled) return;
    this.posting = true;
    this.updateRunButton();
    try {
      const run = await api("POST", `${this.path}/test-runs`, {}, this.token());
      if (run && run.id) this.started({ ...run, run_id: run.id });
    } catch (error) {
      this.run = null;
      const box = $("test-run");
      box.replaceChildren(el("div", "run-status error", `Could not run the tests: ${error.message}`));
      $("test-run-section").hidden = false;
    } finally {
      this.posting = false;
      this.updateRunButton();
    }
  }

  /** `test-run-started` (or our own POST's answer): a new run replaces the one shown. */
  started(data) {
    const id = data.run_id;
    if (typeof id !== "string") return;
    if (this.run?.id === id) {
      // The POST's answer and the event, in either order: the first one with a name wins.
      if (data.name && !this.run.who) this.run.header.textContent = this.headerText(data);
      return this.run;
    }
    const root = el("div", "test-run");
    root.dataset.runId = id;
    root.dataset.status = "running";
    const header = el("div", "test-run-header", this.headerText(data));
    const summary = el("div", "test-run-summary", "running…");
    const compile = el("pre", "compile-output");
    compile.hidden = true;
    const list = el("ol", "test-cases");
    root.append(header, summary, compile, list);
    this.run = { id, root, header, summary, compile, list, cases: new Map(), hiddenSeen: 0, done: false, who: data.name };
    for (const c of Array.isArray(data.cases) ? data.cases : []) this.caseEntry(c);
    $("test-run").replaceChildren(root);
    $("test-run-section").hidden = false;
    root.scrollIntoView({ block: "nearest" });
    return this.run;
  }

  headerText(data) {
    const language = data.language ? ` · ${this.languageName(data.language)}` : "";
    return `${data.name ? `${data.name} ran the tests` : "Test run"}${language}`;
  }

  /** The list entry of a case (made on first sight, in the run's order). */
  caseEntry(c) {
    const run = this.run;
    if (!c || typeof c.name !== "string") return null;
    let entry = run.cases.get(c.name);
    if (entry) return entry;
    const hidden = Boolean(c.hidden);
    // A candidate never sees a hidden case's name: it is numbered instead.
    const label = hidden && !this.interviewer() ? `Hidden test ${++run.hiddenSeen}` : c.name;
    const item = el("li", `test-case${hidden ? " hidden-case" : ""}`);
    item.dataset.status = "queued";
    item.dataset.hidden = String(hidden);
    if (!hidden || this.interviewer()) item.dataset.name = c.name;
    const line = el("div", "case-line");
    const badge = el("span", "badge", STATUS_LABELS.queued);
    const name = el("span", "case-name", label);
    if (hidden && this.interviewer()) name.append(el("span", "tag", "hidden"));
    const time = el("span", "case-time", "");
    line.append(badge, name, time);
    const details = el("div", "case-details");
    item.append(line, details);
    run.list.append(item);
    entry = { hidden, item, badge, time, details };
    run.cases.set(c.name, entry);
    return entry;
  }

  /** `test-case-result`: one case finished. */
  caseResult(data) {
    const result = data.case && typeof data.case === "object" ? data.case : data;
    if (!this.adopt(data.run_id)) return;
    const entry = this.caseEntry(result);
    if (entry) this.fillCase(entry, result);
  }

  /** `test-run-result` (or the run read back after a reconnect): every case, and the total. */
  runResult(data) {
    const id = data.run_id || data.id;
    if (!this.adopt(id)) return;
    const run = this.run;
    for (const c of Array.isArray(data.cases) ? data.cases : []) {
      const entry = this.caseEntry(c);
      if (entry) this.fillCase(entry, c);
    }
    if (!data.status || data.state === "queued" || data.state === "running") return; // not finished yet
    run.done = true;
    const total = Number.isInteger(data.total) ? data.total : run.cases.size;
    const passed = Number.isInteger(data.passed) ? data.passed : [...run.cases.values()].filter((e) => e.item.dataset.status === "passed").length;
    run.root.dataset.status = data.status;
    run.root.dataset.passed = String(passed);
    run.root.dataset.total = String(total);
    run.summary.textContent = data.status === "compile_error" ? `Compile error: 0/${total} passed`
      : `${passed}/${total} passed`;
    run.summary.className = `test-run-summary ${passed === total && total > 0 ? "all-passed" : "some-failed"}`;
    if (typeof data.compile_output === "string" && data.compile_output) {
      run.compile.textContent = data.compile_output;
      run.compile.hidden = false;
    }
  }

  /** Whether events of run `id` are to be shown: the one shown, or a newer one we missed the start of. */
  adopt(id) {
    if (typeof id !== "string") return false;
    if (this.run?.id === id) return true;
    if (this.run && !this.run.done) return false;
    this.started({ run_id: id });
    return true;
  }

  fillCase(entry, c) {
    const status = typeof c.status === "string" ? c.status : "queued";
    entry.item.dataset.status = status;
    entry.badge.textContent = STATUS_LABELS[status] || status.replace(/_/g, " ");
    entry.badge.className = `badge status-${status === "passed" ? "passed" : STATUS_LABELS[status] && status !== "queued" && status !== "running" ? "failed" : "pending"}`;
    const parts = [];
    const ran = status !== "compile_error" && status !== "queued" && status !== "running";
    if (ran && Number.isFinite(c.time_ms)) parts.push(`${c.time_ms} ms`);
    if (ran && Number.isFinite(c.memory_kb)) parts.push(`${Math.round(c.memory_kb / 1024 * 10) / 10} MiB`);
    entry.time.textContent = parts.join(" · ");
    entry.details.replaceChildren();
    // Details of a case that did not pass: what it was given, what it should print, what it did.
    // A candidate's view of a hidden case has none of these fields; the check keeps it so.
    if (status === "passed" || status === "compile_error" || (entry.hidden && !this.interviewer())) return;
    if (typeof c.message === "string" && c.message) entry.details.append(el("div", "case-message", c.message));
    if (typeof c.stdin === "string") entry.details.append(ioBlock("Input", c.stdin));
    if (typeof c.expected_stdout === "string") entry.details.append(ioBlock("Expected output", c.expected_stdout));
    if (typeof c.actual_stdout === "string") {
      entry.details.append(ioBlock(c.stdout_truncated ? "Actual output (cut short)" : "Actual output", c.actual_stdout));
    }
    if (c.diff !== undefined && c.diff !== null && c.diff !== "") entry.details.append(ioBlock("Difference", diffText(c.diff), "diff"));
    if (typeof c.stderr === "string" && c.stderr) entry.details.append(ioBlock("stderr", c.stderr, "stderr"));
  }

  /** On opening the page: the session's latest test run (so a reload still shows it). */
  async restoreLatest() {
    if (this.run || !this.question) return;
    try {
      const list = await api("GET", `${this.path}/test-runs?limit=1`, undefined, this.token());
      const latest = Array.isArray(list?.test_runs) ? list.test_runs[0] : null;
      if (!latest || typeof latest.id !== "string" || this.run) return;
      const run = await api("GET", `${this.path}/test-runs/${encodeURIComponent(latest.id)}`, undefined, this.token());
      if (!run || this.run) return; // a live run started meanwhile: it wins
      this.started({ ...run, run_id: run.id });
      this.runResult({ ...run, run_id: run.id });
    } catch {
      // No runs readable here: nothing to show.
    }
  }

  /** After a reconnect: the result of a run that finished while we were away. */
  async refreshUnfinished() {
    const run = this.run;
    if (!run || run.done) return;
    try {
      const data = await api("GET", `${this.path}/test-runs/${encodeURIComponent(run.id)}`, undefined, this.token());
      if (data && this.run === run) this.runResult({ ...data, run_id: run.id });
    } catch {
      // Not readable (yet, or any more): the event may still come.
    }
  }

  stop() {
    this.stopped = true;
    this.updateRunButton();
  }
}

function ioBlock(label, text, kind = "") {
  const box = el("div", `io ${kind}`.trim());
  box.append(el("div", "io-label", label));
  const value = typeof text === "string" ? text : "";
  const pre = el("pre", value ? "" : "empty", value || "(empty)");
  box.append(pre);
  return box;
}

/**
 * The runner's bounded diff as text. Its form: the first differing `line` (the case's `message`
 * says which), and the lines around it from `from_line` on, `expected` and `actual`; shown as a
 * unified diff ("-" expected, "+" actual, "  " the same). A string or a list of lines is shown
 * as it is.
 */
export function diffText(diff) {
  if (typeof diff === "string") return diff;
  if (Array.isArray(diff)) return diff.map((d) => (typeof d === "string" ? d : JSON.stringify(d))).join("\n");
  if (!diff || typeof diff !== "object") return String(diff);
  const expected = Array.isArray(diff.expected) ? diff.expected : [];
  const actual = Array.isArray(diff.actual) ? diff.actual : [];
  const from = Number.isInteger(diff.from_line) ? diff.from_line : 1;
  const out = ["(- expected, + actual)"];
  for (let k = 0; k < Math.max(expected.length, actual.length); k++) {
    const e = expected[k];
    const a = actual[k];
    const n = String(from + k).padStart(3);
    if (e === a) out.push(`  ${n}  ${e}`);
    else {
      out.push(e === undefined ? `- ${n}  (no line)` : `- ${n}  ${e}`);
      out.push(a === undefined ? `+ ${n}  (no line)` : `+ ${n}  ${a}`);
    }
  }
  if (Number.isInteger(diff.expected_lines) && Number.isInteger(diff.actual_lines) && diff.expected_lines !== diff.actual_lines) {
    out.push(`(${diff.expected_lines} lines expected, ${diff.actual_lines} printed)`);
  }
  return out.join("\n");
}

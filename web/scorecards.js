// The interviewer's scorecard panel (docs/scorecards.md): a recommendation, a rating per criterion
// of the session's rubric (with its description), free text, Save draft / Submit; after
// submitting, the other interviewers' submitted scorecards. Shown to interviewers only (a
// candidate's page never makes it: the routes would answer 403 anyway), collapsed during the
// interview and opened when it ends. Everything from users goes into the DOM as text.

import { $, api, el, showNotice } from "./common.js";

const RECOMMENDATIONS = [
  ["strong_no", "Strong no"], ["no", "No"], ["yes", "Yes"], ["strong_yes", "Strong yes"],
];

export class ScorecardPanel {
  /** options: {sessionID, token: () => string|null} */
  constructor(options) {
    this.options = options;
    this.section = $("scorecard-section");
    this.body = $("scorecard-body");
    this.enabled = false;
    this.state = { recommendation: null, ratings: {}, text: "" };
    this.rubric = [];
    this.scale = [];
    this.mine = null;
    this.loading = null;
  }

  path(suffix = "") {
    return `/sessions/${encodeURIComponent(this.options.sessionID)}/scorecards${suffix}`;
  }

  /** Interviewers only: loads the panel, shown (collapsed) once the server answered it. */
  enable() {
    if (!this.section || this.enabled) return;
    this.enabled = true;
    this.refresh();
  }

  /** The interview ended: open the panel where the interviewer sees it. */
  open() {
    if (!this.enabled || !this.section) return;
    this.section.open = true;
    this.refresh().then(() => {
      if (!this.section.hidden) this.section.scrollIntoView({ block: "nearest" });
    });
  }

  /** Someone submitted or amended (the private channel's frames): reload the others'. */
  changed() {
    if (this.enabled) this.refresh({ keepEdits: true });
  }

  async refresh({ keepEdits = false } = {}) {
    const token = this.options.token();
    if (!token) return;
    try {
      const [mine, list] = await Promise.all([api("GET", this.path("/mine"), undefined, token), api("GET", this.path(), undefined, token)]);
      this.rubric = mine.rubric || [];
      this.scale = mine.scale || [];
      this.mine = mine.scorecard;
      if (!keepEdits || !this.dirty) {
        const card = mine.scorecard || {};
        this.state = { recommendation: card.recommendation || null, ratings: { ...(card.ratings || {}) }, text: card.text || "" };
        this.dirty = false;
      }
      this.list = list;
      this.section.hidden = false;
      this.render();
    } catch (error) {
      if (error.status === 403 || error.status === 401) {
        this.section.hidden = true; // not an interviewer after all
        return;
      }
      this.renderError(error.message);
    }
  }

  async save(submit) {
    const token = this.options.token();
    const body = { recommendation: this.state.recommendation, ratings: this.state.ratings, text: this.state.text, submit };
    try {
      const answer = await api("PUT", this.path("/mine"), body, token);
      this.mine = answer.scorecard;
      this.dirty = false;
      showNotice(submit ? "Scorecard submitted" : "Draft saved", { timeout: 3000 });
      await this.refresh();
    } catch (error) {
      this.renderError(error.message);
    }
  }

  renderError(message) {
    const status = this.body.querySelector(".scorecard-status") || this.body.appendChild(el("p", "scorecard-status"));
    status.textContent = message;
    status.classList.add("error");
  }

  render() {
    const body = this.body;
    body.replaceChildren();
    const submitted = this.mine?.status === "submitted";
    const status = el("p", "scorecard-status",
      submitted ? `Submitted${this.mine.amendments ? ` · amended ${this.mine.amendments}×` : ""}`
        : this.mine ? "Draft: only you can see it" : "Not started: only you will see it until you submit");
    body.append(status);

    body.append(el("h3", null, "Recommendation"));
    const recs = el("div", "scorecard-recommendations");
    for (const [value, label] of RECOMMENDATIONS) {
      const button = el("button", `rec rec-${value}`, label);
      button.type = "button";
      button.dataset.value = value;
      button.setAttribute("aria-pressed", String(this.state.recommendation === value));
      button.addEventListener("click", () => {
        this.state.recommendation = value;
        this.dirty = true;
        this.render();
      });
      recs.append(button);
    }
    body.append(recs);

    body.append(el("h3", null, "Ratings"));
    const criteria = el("div", "scorecard-criteria");
    for (const criterion of this.rubric) {
      const row = el("div", "criterion");
      row.dataset.criterion = criterion.id;
      row.append(el("div", "criterion-name", criterion.name));
      if (criterion.description) row.append(el("div", "criterion-description", criterion.description));
      const buttons = el("div", "criterion-scale");
      for (const step of this.scale) {
        const button = el("button", "rating", `${step.value} ${step.label}`);
        button.type = "button";
        button.dataset.value = String(step.value);
        button.setAttribute("aria-pressed", String(this.state.ratings[criterion.id] === step.value));
        button.addEventListener("click", () => {
          if (this.state.ratings[criterion.id] === step.value) delete this.state.ratings[criterion.id];
          else this.state.ratings[criterion.id] = step.value;
          this.dirty = true;
          this.render();
        });
        buttons.append(button);
      }
      row.append(buttons);
      criteria.append(row);
    }
    body.append(criteria);

    const label = el("label", null, "Notes for the hiring team");
    label.htmlFor = "scorecard-text";
    const text = el("textarea", "scorecard-text");
    text.id = "scorecard-text";
    text.rows = 5;
    text.maxLength = 10000;
    text.value = this.state.text;
    text.addEventListener("input", () => {
      this.state.text = text.value;
      this.dirty = true;
    });
    body.append(label, text);

    const actions = el("div", "scorecard-actions");
    if (!submitted) {
      const draft = el("button", "secondary", "Save draft");
      draft.type = "button";
      draft.id = "scorecard-save";
      draft.addEventListener("click", () => this.save(false));
      actions.append(draft);
    }
    const submit = el("button", "primary", submitted ? "Amend submission" : "Submit");
    submit.type = "button";
    submit.id = "scorecard-submit";
    submit.disabled = !this.state.recommendation;
    submit.title = this.state.recommendation ? "" : "Choose a recommendation to submit";
    submit.addEventListener("click", () => this.save(true));
    actions.append(submit);
    body.append(actions);

    this.renderOthers();
  }

  renderOthers() {
    const list = this.list;
    if (!list) return;
    const mineID = this.mine?.author_id;
    const box = el("div", "scorecard-others");
    box.id = "scorecard-others";
    box.append(el("h3", null, "Other interviewers"));
    const others = (list.scorecards || []).filter((card) => card.author_id !== mineID);
    if (!list.unlocked) {
      const who = (list.submitted || []).filter((s) => s.author_id !== mineID).map((s) => s.author_name);
      box.append(el("p", "hint", who.length
        ? `${who.join(", ")} submitted. You see their scorecards once you submit yours.`
        : "No one else has submitted. You see the others' scorecards once you submit yours."));
    } else if (!others.length) {
      box.append(el("p", "hint", "No one else has submitted yet."));
    }
    const names = Object.fromEntries(this.rubric.map((c) => [c.id, c.name]));
    const labels = Object.fromEntries(RECOMMENDATIONS);
    for (const card of others) {
      const item = el("div", "scorecard-other");
      item.append(el("div", "other-head", `${card.author_name}: ${labels[card.recommendation] || "no recommendation"}`));
      const ratings = Object.entries(card.ratings || {}).map(([id, value]) => `${names[id] || id} ${value}/4`);
      if (ratings.length) item.append(el("div", "other-ratings", ratings.join(" · ")));
      if (card.text) item.append(el("div", "other-text", card.text));
      box.append(item);
    }
    this.body.append(box);
  }
}

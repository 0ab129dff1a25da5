// Helpers shared by the interview page (app.js) and the replay view (replay.js): the REST
// client, colors from the server, DOM building (text only, never HTML), the per-session
// credentials kept in localStorage, and the notice bar.

export const API = "/api/v1";
export const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export async function api(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, { detail: `the server cannot be reached (${error.message})` });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function safeColor(color) {
  return typeof color === "string" && /^#[0-9a-fA-F]{3,8}$/.test(color) ? color : "#8892a6";
}

export function translucent(color, alpha) {
  const hex = safeColor(color).slice(1);
  const full = hex.length === 3 ? hex.split("").map((c) => c + c).join("") : hex.slice(0, 6);
  const n = parseInt(full, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export const storage = {
  key: (id) => `codeinterview:session:${id}`,
  load(id) {
    try { return JSON.parse(localStorage.getItem(this.key(id)) || "null"); } catch { return null; }
  },
  save(id, value) {
    try { localStorage.setItem(this.key(id), JSON.stringify(value)); } catch { /* private mode: no rejoin after reload */ }
  },
  clear(id) {
    try { localStorage.removeItem(this.key(id)); } catch { /* ignore */ }
  },
  lastName() {
    try { return localStorage.getItem("codeinterview:name") || ""; } catch { return ""; }
  },
  rememberName(name) {
    try { localStorage.setItem("codeinterview:name", name); } catch { /* ignore */ }
  },
};

let noticeTimer = null;
export function showNotice(text, { error = false, timeout = 6000 } = {}) {
  const box = $("notice");
  box.textContent = text;
  box.classList.toggle("error", error);
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (timeout) noticeTimer = setTimeout(() => { box.hidden = true; }, timeout);
}

export function showView(name) {
  document.body.dataset.view = name;
  $("landing-view").hidden = name !== "landing";
  $("join-view").hidden = name !== "join";
  $("session-view").hidden = name !== "session";
  $("replay-view").hidden = name !== "replay";
}

export function setConnection(state, text, detail = "") {
  document.body.dataset.connection = state;
  $("connection").textContent = text;
  $("reconnecting-detail").textContent = detail;
}


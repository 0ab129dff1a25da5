// A small Markdown renderer for question prompts, safe by construction: it never parses HTML.
// The prompt's text goes into the page only as text nodes (so every "<", "&" and quote in it is
// shown as written: all HTML is escaped before anything else happens), and the few elements of
// the subset below are made with createElement. Links keep only http(s) URLs; anything else
// (javascript:, data:, relative paths) is shown as the link's text without a link.
//
// The subset: ATX headings (# to ######), paragraphs, *emphasis* / _emphasis_, **strong** /
// __strong__, `inline code`, fenced code blocks (``` or ~~~), bullet lists (- * +), numbered
// lists (1. or 1)), [links](https://...), backslash escapes. Anything else is plain text.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const BULLET = /^ {0,3}([-*+])[ \t]+(.*)$/;
const NUMBERED = /^ {0,3}(\d{1,9})[.)][ \t]+(.*)$/;
const BLANK = /^[ \t]*$/;
const ESCAPABLE = "\\`*_[](){}#+-.!~>|";
const MAX_NESTING = 16; // emphasis in a link in emphasis...: deeper than this is text
const MAX_LINK_LABEL = 1000; // characters a link's [label] or (target) may span

/** The prompt as a DocumentFragment of the subset's elements and text nodes. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (BLANK.test(line)) { i++; continue; }

    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1];
      const body = [];
      i++;
      while (i < lines.length && !isClosingFence(lines[i], marker)) body.push(lines[i++]);
      i++; // the closing fence (or the end of the prompt: an unclosed block runs to the end)
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (/^[A-Za-z0-9_+-]{1,32}$/.test(fence[2])) code.dataset.language = fence[2];
      code.textContent = body.join("\n");
      pre.append(code);
      fragment.append(pre);
      continue;
    }

    const heading = HEADING.exec(line);
    if (heading) {
      // The page has its own h1/h2: a prompt's "#" is a section of the question.
      const h = document.createElement(`h${Math.min(heading[1].length + 2, 6)}`);
      renderInline(heading[2] || "", h);
      fragment.append(h);
      i++;
      continue;
    }

    if (BULLET.test(line) || NUMBERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? NUMBERED : BULLET;
      const list = document.createElement(ordered ? "ol" : "ul");
      const first = ordered ? Number(NUMBERED.exec(line)[1]) : 1;
      if (ordered && first !== 1) list.start = first;
      const items = []; // each item's lines: its first, then its continuation lines
      while (i < lines.length && !BLANK.test(lines[i])) {
        const match = pattern.exec(lines[i]);
        if (match) items.push([match[2]]);
        else if (/^[ \t]+\S/.test(lines[i]) || !startsBlock(lines[i])) items[items.length - 1].push(lines[i].trim());
        else break; // another kind of list, a heading, a fence
        i++;
      }
      for (const itemLines of items) {
        const li = document.createElement("li");
        renderInline(itemLines.join("\n"), li);
        list.append(li);
      }
      fragment.append(list);
      continue;
    }

    const paragraph = [];
    while (i < lines.length && !BLANK.test(lines[i]) && (paragraph.length === 0 || !startsBlock(lines[i]))) {
      paragraph.push(lines[i].trim());
      i++;
    }
    const p = document.createElement("p");
    renderInline(paragraph.join("\n"), p);
    fragment.append(p);
  }
  return fragment;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line);
}

function isClosingFence(line, marker) {
  const trimmed = line.trim();
  return trimmed.length >= marker.length && trimmed[0] === marker[0] && new RegExp(`^\\${marker[0]}{${marker.length},}$`).test(trimmed);
}

/** A link target we keep: an absolute http(s) URL, nothing else. */
export function safeLink(url) {
  if (typeof url !== "string" || !/^https?:\/\/[^\s<>"]+$/i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/**
 * Inline Markdown of `text` appended to `parent`: code spans, links, emphasis, escapes. Linear
 * enough for any prompt the server takes (64 KiB): a delimiter that found no closer once is not
 * looked for again further on, link labels are bounded, and so is nesting.
 */
export function renderInline(text, parent, depth = 0) {
  if (depth > MAX_NESTING) {
    parent.append(document.createTextNode(text));
    return;
  }
  // Where a search for a closer of this kind failed: one starting later fails too.
  const failedFrom = new Map();
  const search = (key, from, find) => {
    if (failedFrom.has(key) && from >= failedFrom.get(key)) return -1;
    const found = find();
    if (found < 0) failedFrom.set(key, Math.min(from, failedFrom.get(key) ?? from));
    return found;
  };
  let buffer = "";
  const flush = () => {
    if (buffer) parent.append(document.createTextNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && ESCAPABLE.includes(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (text[i + n] === "`") n++;
      const close = search(`\`${n}`, i + n, () => findBacktickRun(text, i + n, n));
      if (close < 0) {
        buffer += "`".repeat(n);
        i += n;
        continue;
      }
      flush();
      let content = text.slice(i + n, close).replace(/\n/g, " ");
      if (content.length > 2 && content.startsWith(" ") && content.endsWith(" ")) content = content.slice(1, -1);
      const code = document.createElement("code");
      code.textContent = content;
      parent.append(code);
      i = close + n;
      continue;
    }
    if (c === "[") {
      const link = parseLink(text, i);
      if (link) {
        flush();
        const href = safeLink(link.url);
        if (href) {
          const a = document.createElement("a");
          a.href = href;
          a.target = "_blank";
          a.rel = "noopener noreferrer nofollow";
          renderInline(link.label, a, depth + 1);
          parent.append(a);
        } else {
          // Not a link we follow: its text stays, the target goes.
          const span = document.createElement("span");
          span.className = "unsafe-link";
          renderInline(link.label, span, depth + 1);
          parent.append(span);
        }
        i = link.end;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      const strong = text[i + 1] === c;
      const width = strong ? 2 : 1;
      const close = search(`${c}${width}`, i + width, () => findEmphasisClose(text, i + width, c, width, search));
      const leftFlanking = i + width < text.length && !/\s/.test(text[i + width]);
      // "_" inside a word (snake_case) is not emphasis.
      const intraword = c === "_" && i > 0 && /[A-Za-z0-9]/.test(text[i - 1]);
      if (close > i + width && leftFlanking && !intraword) {
        flush();
        const node = document.createElement(strong ? "strong" : "em");
        renderInline(text.slice(i + width, close), node, depth + 1);
        parent.append(node);
        i = close + width;
        continue;
      }
      buffer += text.slice(i, i + width);
      i += width;
      continue;
    }
    if (c === "\n") {
      flush();
      parent.append(document.createTextNode("\n"));
      i++;
      continue;
    }
    buffer += c;
    i++;
  }
  flush();
}

function findBacktickRun(text, from, n) {
  for (let j = text.indexOf("`", from); j >= 0; j = text.indexOf("`", j)) {
    let m = 1;
    while (text[j + m] === "`") m++;
    if (m === n) return j;
    j += m;
  }
  return -1;
}

/** The closing delimiter of emphasis opened at `from` (after the opener), skipping code spans. */
function findEmphasisClose(text, from, c, width, search) {
  for (let j = from; j < text.length; j++) {
    const ch = text[j];
    if (ch === "\\") { j++; continue; }
    if (ch === "`") {
      let n = 1;
      while (text[j + n] === "`") n++;
      const close = search(`\`${n}`, j + n, () => findBacktickRun(text, j + n, n));
      if (close >= 0) { j = close + n - 1; continue; }
      j += n - 1;
      continue;
    }
    if (ch !== c) continue;
    let run = 1;
    while (text[j + run] === c) run++;
    const rightFlanking = !/\s/.test(text[j - 1]);
    const intraword = c === "_" && /[A-Za-z0-9]/.test(text[j + run] || "");
    if (rightFlanking && !intraword && (run === width || (width === 1 && run === 3) || (width === 2 && run >= 2))) return j;
    j += run - 1; // a run of another width (the inner one of nested emphasis): skip it whole
  }
  return -1;
}

/** `[label](url "title")` at `start`: {label, url, end} or null. */
function parseLink(text, start) {
  let depth = 0;
  let j = start;
  const end = Math.min(text.length, start + MAX_LINK_LABEL);
  for (; j < end; j++) {
    if (text[j] === "\\") { j++; continue; }
    if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) break;
    else if (text[j] === "\n" && text[j + 1] === "\n") return null;
  }
  if (j >= end || text[j + 1] !== "(") return null;
  // The target ends at the ")" that balances its "(" (URLs may hold parentheses).
  let close = -1;
  for (let k = j + 2, open = 1; k < Math.min(text.length, j + 2 + MAX_LINK_LABEL) && text[k] !== "\n"; k++) {
    if (text[k] === "(") open++;
    else if (text[k] === ")" && --open === 0) { close = k; break; }
  }
  if (close < 0) return null;
  const target = text.slice(j + 2, close).trim();
  const match = /^<?([^\s>]*)>?(?:\s+"[^"]*")?$/.exec(target);
  if (!match) return null;
  return { label: text.slice(start + 1, j), url: match[1], end: close + 1 };
}

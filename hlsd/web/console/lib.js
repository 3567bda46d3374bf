// @ts-check
// What every console page shares: the admin key kept for the session and the sign-in
// form, calls to the management API, a few DOM helpers, the player (hls.js, or the
// browser's own HLS), copyable URLs and the formats of sizes, times and rates.
// Nothing here loads from another host: hls.js and tus-js-client are /web/vendor/ files.

import { describeHlsError, describeVideoError, hlsSupport } from "/web/pages.js";

const KEY = "hlsd-admin-key";

/** What the tests read: every problem shown, and page-specific state. */
export const state = /** @type {{problems: string[], [k: string]: unknown}} */ (
  /** @type {any} */ (window).__console = { problems: [] });

/** The page's argument (a stream name, an id), from the URL the server answered. */
export function arg() {
  return document.body.dataset.arg || "";
}

/** The page's content element. */
export function content() {
  return /** @type {HTMLElement} */ (document.getElementById("content"));
}

/**
 * A new element: `props` sets attributes (`class`, `href`, …), `text`, and handlers
 * (`onclick`, …); children are elements or text.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/**
 * A table that scrolls sideways on a narrow screen, reachable with the keyboard (a
 * focusable region named `label`), so its hidden columns can be scrolled to.
 * @param {string} label
 * @param {HTMLElement} table
 * @param {Record<string, unknown>} [props]
 */
export function scroller(label, table, props = {}) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label,
    ...props }, table);
}

/**
 * Shows `text` in `element` (a role="alert" element), or hides it when empty.
 * @param {HTMLElement} element
 * @param {string} text
 */
export function say(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

/**
 * Says on the page what went wrong (the page's alert), and keeps it for the tests.
 * @param {string} text
 */
export function problem(text) {
  if (text) state.problems.push(text);
  say(/** @type {HTMLElement} */ (document.getElementById("problem")), text);
}

/** An error the management API answered: its status and its message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @returns {string | null} */
export function adminKey() {
  return sessionStorage.getItem(KEY);
}

/** @returns {Record<string, string>} */
export function authHeaders() {
  const key = adminKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/**
 * Calls the management API: JSON in (`json`) or a raw body, JSON out (null for 204).
 * A refusal (401, 403) shows the sign-in form; every failure is an `ApiError` whose
 * message is the server's own.
 * @param {string} path
 * @param {{method?: string, json?: unknown, body?: BodyInit, headers?: Record<string, string>}} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const headers = { ...authHeaders(), ...(options.headers || {}) };
  /** @type {BodyInit | undefined} */
  let body = options.body;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(path, { method: options.method || "GET", headers, body });
  } catch (err) {
    throw new ApiError(0, `hlsd did not answer (${/** @type {Error} */ (err).message})`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = errorText(data) || `HTTP ${response.status}`;
    if (response.status === 401 || response.status === 403) showSignIn(message);
    throw new ApiError(response.status, message);
  }
  return data;
}

/**
 * Deletes what `path` names; one already gone (404) is what was asked for.
 * @param {string} path
 */
export async function deleteAt(path) {
  try {
    await api(path, { method: "DELETE" });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
}

/** @param {any} data @returns {string} */
function errorText(data) {
  if (!data) return "";
  if (typeof data.error === "string") return data.error;
  if (data.error && typeof data.error.message === "string") return data.error.message;
  return "";
}

/**
 * Server-sent events from a management path, read with fetch (so the admin key goes
 * in a header, which EventSource cannot send), reconnecting with backoff until
 * `signal` aborts. Each event's data is parsed as JSON.
 * @param {string} path
 * @param {(name: string, data: any) => void} onEvent
 * @param {AbortSignal} signal
 * @param {(text: string) => void} onProblem
 */
export async function follow(path, onEvent, signal, onProblem) {
  let wait = 500;
  while (!signal.aborted) {
    try {
      const response = await fetch(path, { headers: authHeaders(), signal });
      if (response.status === 401 || response.status === 403) {
        const data = await response.json().catch(() => null);
        showSignIn(errorText(data) || `HTTP ${response.status}`);
        return;
      }
      if (!response.ok || !response.body) {
        const data = await response.json().catch(() => null);
        throw new Error(errorText(data) || `HTTP ${response.status}`);
      }
      onProblem("");
      wait = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        }
      }
      throw new Error("the server ended the updates");
    } catch (err) {
      if (signal.aborted) return;
      onProblem(`Live updates interrupted (${/** @type {Error} */ (err).message}); retrying…`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}

/**
 * Replaces the page's content with the sign-in form: the admin key, kept for this
 * browser session only.
 * @param {string} reason
 */
export function showSignIn(reason) {
  if (document.getElementById("signin")) return;
  const input = /** @type {HTMLInputElement} */ (el("input", {
    type: "password", id: "admin-key", name: "key", autocomplete: "current-password",
    required: true }));
  const form = el("form", { id: "signin", class: "panel signin" },
    el("h2", { text: "Sign in" }),
    el("p", { class: "note", text: `${reason}. Give the admin key (hlsd's admin_key setting); it is kept for this browser session only.` }),
    el("label", {}, "Admin key", input),
    el("p", {}, el("button", { type: "submit", class: "primary", text: "Sign in" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value);
    location.reload();
  });
  content().replaceChildren(form);
  input.focus();
}

/** The header: the current page marked, and a sign-out button while a key is kept. */
function header() {
  for (const link of document.querySelectorAll(".bar nav a")) {
    const href = link.getAttribute("href") || "";
    const here = location.pathname;
    if (href === here || (href !== "/" && here.startsWith(href + "/"))) {
      link.setAttribute("aria-current", "page");
    }
  }
  const account = document.getElementById("account");
  if (account && adminKey()) {
    account.replaceChildren(el("button", { type: "button", text: "Sign out", onclick: () => {
      sessionStorage.removeItem(KEY);
      location.reload();
    } }));
  }
}
header();

/**
 * Plays `url` in `video`: hls.js (low-latency mode when `lowLatency`), or the
 * browser's own HLS. Why it cannot play is said with `onProblem`.
 * @param {HTMLVideoElement} video
 * @param {string} url
 * @param {{lowLatency?: boolean, onProblem?: (text: string) => void}} [options]
 * @returns {Promise<{hls: any, destroy: () => void}>}
 */
export async function play(video, url, options = {}) {
  const onProblem = options.onProblem || problem;
  const support = await hlsSupport(video);
  if (!support.canPlay) {
    onProblem(support.text);
    return { hls: null, destroy() {} };
  }
  if (support.text) onProblem(support.text);
  video.addEventListener("error", () => onProblem(describeVideoError(video)));
  const Hls = /** @type {any} */ (globalThis).Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ lowLatencyMode: Boolean(options.lowLatency) });
    hls.on(Hls.Events.ERROR, (/** @type {unknown} */ _event, /** @type {any} */ data) => {
      if (data.fatal) onProblem(describeHlsError(data));
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
    return { hls, destroy: () => hls.destroy() };
  }
  video.src = url;
  video.play().catch(() => {});
  return { hls: null, destroy: () => { video.removeAttribute("src"); video.load(); } };
}

/**
 * A labelled URL with a Copy button (absolute, as a player elsewhere needs it).
 * @param {string} label
 * @param {string} path
 */
export function copyField(label, path) {
  const url = new URL(path, location.href).href;
  return el("div", { class: "url" },
    el("span", { class: "note", text: label }),
    el("code", { text: url }), ...copyButton(url, `the ${label} URL`));
}

/**
 * A Copy button for `text` and the polite status that says whether it was copied
 * (the clipboard may be refused: then the text is there to select).
 * @param {string} text
 * @param {string} what  named in the button's accessible name: "Copy <what>"
 * @returns {[HTMLElement, HTMLElement]}
 */
export function copyButton(text, what) {
  const status = el("span", { class: "note", "aria-live": "polite" });
  const button = el("button", { type: "button", text: "Copy", "aria-label": `Copy ${what}`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = "copied";
      } catch {
        status.textContent = "select and copy it";
      }
    } });
  return [button, status];
}

/** @param {number | null | undefined} n */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** @param {number | null | undefined} bps */
export function bitrate(bps) {
  if (!bps) return "–";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

/** @param {number | null | undefined} seconds */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/**
 * A page's list kept fresh. `now()` runs `load` after any run in progress (so a change
 * made meanwhile is seen); `every(ms, what)` runs it on a timer, skipping a tick while
 * one runs (a slow server gets no pile of them), saying on the page when it fails
 * (cleared once it works again), and stopping once a refusal has put the sign-in form
 * in the page's place.
 */
export class Refresher {
  /** @param {() => Promise<void>} load */
  constructor(load) {
    this.load = load;
    /** @type {Promise<void> | null} */
    this.running = null;
  }

  /** @returns {Promise<void>} */
  now() {
    const next = (this.running || Promise.resolve()).catch(() => {}).then(this.load);
    this.running = next;
    next.finally(() => { if (this.running === next) this.running = null; }).catch(() => {});
    return next;
  }

  /** @param {number} ms @param {string} what */
  every(ms, what) {
    let failing = false;
    const timer = setInterval(() => {
      if (this.running) return;
      this.now().then(() => {
        if (failing) problem("");
        failing = false;
      }, (err) => {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          clearInterval(timer);
          return;
        }
        failing = true;
        problem(`Could not refresh ${what}: ${/** @type {Error} */ (err).message}`);
      });
    }, ms);
  }
}

/**
 * Runs a page's `main`, saying on the page why it failed.
 * @param {() => Promise<void>} main
 */
export function run(main) {
  main().catch((err) => {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
    problem(err instanceof Error ? err.message : String(err));
  });
}

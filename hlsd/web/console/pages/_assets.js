// @ts-check
// What the asset pages share (/ui/assets and /ui/assets/{id}); not a page of its own.
// An asset's state as a badge, its transcode progress as a bar, and its actions: Cancel
// and Retry as its state allows, Delete with a confirmation asked in the page.

import { api, deleteAt, el } from "/ui/static/lib.js";

/**
 * An asset as `GET /api/assets/{id}` answers.
 * @typedef {{id: string, title: string | null, state: string, progress: number,
 *   reason: string | null, source: {kind: string, ref: string | null},
 *   size: number | null, duration: number | null, access: string,
 *   created: string | null, updated: string | null,
 *   upload?: {protocol: string, url: string, content: string},
 *   subtitles: {language: string, name: string}[], rungs?: string[],
 *   playback?: {hls: string, dash: string, play: string, poster?: string,
 *     thumbnails?: string}}} Asset
 */

/** What both asset pages style alike (console.css gives buttons a display, which would
 * otherwise show a `hidden` one). */
export const STYLE = `
button[hidden], .progress[hidden], .progress progress[hidden] { display: none; }
.panel > h2:first-child { margin-top: 0; }
.progress { display: grid; gap: .15rem; min-width: 7rem; max-width: 30rem; }
.confirm { background: #2a1518; border-radius: 6px; padding: .25rem .4rem; }
`;

/** States an asset never leaves. */
export const FINAL = new Set(["ready", "failed", "cancelled"]);
/** States Cancel applies to (hlsd/assets/state.py: every unfinished one). */
const CANCELLABLE = new Set(["created", "uploaded", "queued", "processing"]);
/** States subtitles are still taken in: the manifests are written when processing starts. */
export const TAKES_SUBTITLES = new Set(["created", "uploaded", "queued"]);

/** @param {string} id */
export function assetPage(id) {
  return `/ui/assets/${encodeURIComponent(id)}`;
}

/** @param {string} id */
export function assetApi(id) {
  return `/api/assets/${encodeURIComponent(id)}`;
}

/** What an asset is called on the page. @param {Asset} a */
export function assetName(a) {
  return a.title || a.id;
}

/** @param {Asset} a */
export function stateBadge(a) {
  const kind = a.state === "ready" ? "ok" : a.state === "failed" ? "bad"
    : a.state === "cancelled" ? "warn" : "";
  return el("span", { class: `badge ${kind}`, "data-state": a.state, text: a.state });
}

/** What an unfinished state means, in words. @param {string} s */
export function stateNote(s) {
  return {
    created: "waiting for its upload",
    uploaded: "uploaded, about to be queued",
    queued: "waiting for a transcoder",
    processing: "transcoding",
  }[s] || "";
}

/**
 * The transcode progress: a bar (indeterminate while queued) and its figure, brought up
 * to date in place with `update` so a poll does not rebuild it.
 * @param {string} label what the bar is of, for screen readers
 */
export function progressView(label) {
  const bar = /** @type {HTMLProgressElement} */ (el("progress", { max: "100",
    "aria-label": label }));
  const figure = el("span", { class: "note" });
  const root = el("div", { class: "progress" }, bar, figure);
  return {
    root,
    /** @param {Asset} a */
    update(a) {
      const running = a.state === "processing";
      const waiting = a.state === "queued" || a.state === "uploaded";
      bar.hidden = !(running || waiting);
      if (running) bar.value = a.progress;
      else bar.removeAttribute("value"); // indeterminate while queued
      figure.textContent = running ? `${a.progress.toFixed(a.progress < 10 ? 1 : 0)} %`
        : a.state === "ready" ? "done"
          : waiting || a.state === "created" ? stateNote(a.state) : "–";
    },
  };
}

/**
 * Cancel, Retry and Delete for one asset. Buttons are made once and shown as the state
 * allows (`update`), so a poll never takes the focus away; Delete asks in place.
 * @param {Asset} first
 * @param {{changed: (a: Asset) => void, deleted: () => void, failed: (text: string) => void}} on
 */
export function assetActions(first, on) {
  let current = first;
  const name = () => assetName(current);
  const root = el("div", { class: "row actions" });

  /** @param {HTMLButtonElement} button @param {string} what */
  const act = async (button, what) => {
    button.disabled = true;
    try {
      on.changed(await api(`${assetApi(current.id)}/${what}`, { method: "POST" }));
      on.failed("");
    } catch (err) {
      on.failed(`Could not ${what} ${name()}: ${/** @type {Error} */ (err).message}`);
    } finally {
      button.disabled = false;
    }
  };
  const cancel = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    text: "Cancel", onclick: () => act(cancel, "cancel") }));
  const retry = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    text: "Retry", onclick: () => act(retry, "retry") }));
  const remove = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    class: "danger", text: "Delete", onclick: () => ask() }));
  const buttons = el("span", { class: "row" }, cancel, retry, remove);

  const question = el("span", { role: "group" });
  const sure = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    class: "danger", text: "Yes, delete", onclick: () => confirmed() }));
  const keep = /** @type {HTMLButtonElement} */ (el("button", { type: "button", text: "Keep",
    onclick: () => { show(buttons); remove.focus(); } }));
  const asking = el("span", { class: "row confirm" }, question, sure, keep);

  /** @param {HTMLElement} part */
  function show(part) {
    root.replaceChildren(part);
  }

  function ask() {
    question.textContent = `Delete ${name()}, its renditions and its source?`;
    sure.setAttribute("aria-label", `Yes, delete ${name()}`);
    show(asking);
    keep.focus(); // the safe answer first
  }

  async function confirmed() {
    sure.disabled = keep.disabled = true;
    try {
      await deleteAt(assetApi(current.id));
    } catch (err) {
      on.failed(`Could not delete ${name()}: ${/** @type {Error} */ (err).message}`);
      sure.disabled = keep.disabled = false;
      return;
    }
    on.failed("");
    on.deleted();
  }

  /** @param {Asset} a */
  function update(a) {
    current = a;
    cancel.hidden = !CANCELLABLE.has(a.state);
    retry.hidden = a.state !== "failed";
    cancel.setAttribute("aria-label", `Cancel ${name()}`);
    retry.setAttribute("aria-label", `Retry ${name()}`);
    remove.setAttribute("aria-label", `Delete ${name()}`);
  }

  show(buttons);
  update(first);
  return { root, update };
}

// @ts-check
// /ui/assets: upload files with tus (resumable: a dropped connection is retried, an
// offline browser carries on once back online, and picking the same file again later,
// even after closing the page, resumes its earlier upload), and the list of assets with
// their state and transcode progress, refreshed with one request while any is unfinished.

import {
  ApiError, api, authHeaders, bytes, content, duration, el, problem, run, scroller, state,
  when,
} from "/ui/static/lib.js";
import {
  STYLE as SHARED_STYLE, FINAL, assetActions, assetApi, assetName, assetPage, progressView,
  stateBadge,
} from "/ui/static/pages/_assets.js";
import { vendorProblem } from "/web/pages.js";

/** @typedef {import("/ui/static/pages/_assets.js").Asset} Asset */
/** @typedef {typeof import("tus-js-client")} Tus */
/** @typedef {import("tus-js-client").Upload} TusUpload */
/** @typedef {import("tus-js-client").PreviousUpload} PreviousUpload */
/**
 * @typedef {{tr: HTMLTableRowElement, name: HTMLAnchorElement, state: HTMLElement,
 *   progress: ReturnType<typeof progressView>, size: HTMLElement, length: HTMLElement,
 *   actions: ReturnType<typeof assetActions>, seen: string}} Row
 */

/** While something is queued or transcoding. */
const FAST_MS = 1000;
/** While assets wait for uploads only (those finishing here refresh the list at once). */
const SLOW_MS = 5000;
const LISTED = 200;
const COLUMNS = ["Asset", "State", "Transcode", "Size", "Duration", "Created", "Actions"];
/** Bytes per PATCH: what a dropped connection can cost at most. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Waits before each retry after a failed request (then the upload stops and says why). */
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];

/** @type {Map<string, Row>} */
const rows = new Map();
/** Uploads under way in this page, by asset id. @type {Set<string>} */
const uploading = new Set();
/** Finished uploads, told how their asset goes on at each refresh. @type {Map<string, (a: Asset | null) => void>} */
const following = new Map();
/** Uploads stopped because the browser went offline: resumed when it is back. */
const offline = new Set(/** @type {(() => void)[]} */ ([]));
window.addEventListener("online", () => {
  for (const resume of [...offline]) resume();
});

const list = el("div", { id: "assets" });
const uploads = el("ul", { id: "uploads", class: "uploads", "aria-label": "Uploads" });

const STYLE = `
.uploads { list-style: none; padding: 0; margin: .8rem 0 0; display: grid; gap: .6rem; }
.uploads li { display: grid; gap: .35rem; }
.uploads .name { font-weight: 600; overflow-wrap: anywhere; }
td .reason { margin: .25rem 0 0; font-size: .85rem; overflow-wrap: anywhere; max-width: 28rem; }
@media (max-width: 600px) {
  .assets-table thead { position: absolute; left: -9999px; }
  .assets-table, .assets-table tbody, .assets-table tr { display: block; }
  .assets-table tr { border-bottom: 1px solid var(--line); padding: .4rem 0; }
  .assets-table caption { display: block; text-align: left; }
  .assets-table td { display: grid; grid-template-columns: 6rem minmax(0, 1fr); gap: .5rem;
    justify-items: start; border: 0; padding: .15rem 0; }
  .assets-table td::before { content: attr(data-label); color: var(--muted); font-size: .85rem; }
}
`;

// -- uploads ----------------------------------------------------------------------------

/** @type {Promise<Tus> | null} */
let tusLoading = null;

/** tus-js-client, loaded from /web/vendor the first time a file is uploaded. @returns {Promise<Tus>} */
function loadTus() {
  if (typeof tus !== "undefined") return Promise.resolve(tus);
  tusLoading = tusLoading || new Promise((resolve, reject) => {
    const script = el("script", { src: "/web/vendor/tus.min.js" });
    script.addEventListener("load", () => {
      if (typeof tus !== "undefined") resolve(tus);
      else reject(new Error("tus-js-client loaded but did not run"));
    });
    script.addEventListener("error", async () => {
      tusLoading = null; // a later upload tries again
      script.remove();
      reject(new Error(await vendorProblem("tus.min.js", "tus-js-client did not load")));
    });
    document.head.append(script);
  });
  return tusLoading;
}

/** The chunk size: `state.uploadChunkSize` when a test set one. */
function chunkBytes() {
  const size = state.uploadChunkSize;
  return typeof size === "number" && size > 0 ? size : CHUNK_BYTES;
}

/**
 * An upload's failure in words: the server's own message when it answered.
 * @param {Error & {originalResponse?: import("tus-js-client").HttpResponse | null}} err
 */
function uploadError(err) {
  const response = err.originalResponse;
  if (!response) return "the connection failed";
  const status = response.getStatus();
  if (status === 404) {
    return "the server no longer has this upload (it expired, or its asset was deleted); pick the file again to start over";
  }
  let text = "";
  try { text = JSON.parse(response.getBody()).error || ""; } catch { text = ""; }
  return `HTTP ${status}${text ? `: ${text}` : ""}`;
}

/**
 * The earlier upload of this file that can carry on (tus keeps each upload's URL in
 * localStorage under the file's fingerprint, with its asset id): its asset must still
 * wait for that upload. Stale entries are removed.
 * @param {Tus} lib @param {TusUpload} upload
 * @returns {Promise<{asset: Asset, stored: PreviousUpload} | null>}
 */
async function previousUpload(lib, upload) {
  const stored = await upload.findPreviousUploads();
  stored.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime));
  /** @type {{asset: Asset, stored: PreviousUpload} | null} */
  let found = null;
  for (const entry of stored) {
    const id = entry.metadata && entry.metadata.asset;
    if (!found && id && entry.uploadUrl) {
      /** @type {Asset | null} */
      let asset = null;
      try {
        asset = await api(assetApi(id));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      if (asset && asset.state === "created" && asset.upload
          && new URL(asset.upload.url, location.href).href === entry.uploadUrl) {
        found = { asset, stored: entry };
        continue;
      }
    }
    await lib.defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
  }
  return found;
}

/** Uploads `file` as a new asset, or resumes its earlier upload. @param {File} file */
async function startUpload(file) {
  const bar = /** @type {HTMLProgressElement} */ (el("progress", { max: "100", value: "0",
    "aria-label": `Upload of ${file.name}` }));
  const figure = el("span", { class: "note", text: `0 of ${bytes(file.size)}` });
  const status = el("span", { role: "status", class: "status", text: "Starting…" });
  const link = el("span");
  const toggle = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    text: "Pause", hidden: true, "aria-label": `Pause the upload of ${file.name}` }));
  const item = el("li", { class: "panel upload" },
    el("div", { class: "row" }, el("span", { class: "name", text: file.name }), link),
    bar, el("div", { class: "row" }, figure),
    el("div", { class: "row" }, status, toggle));
  uploads.prepend(item);

  /** @param {string} text @param {string} [kind] */
  const tell = (text, kind = "") => {
    status.textContent = text;
    status.className = `status ${kind}`;
  };
  /** @param {number} sent @param {number} total */
  const show = (sent, total) => {
    const percent = total ? Math.min(100, (100 * sent) / total) : 0;
    bar.value = percent;
    figure.textContent = `${bytes(sent)} of ${bytes(total)} · ${Math.floor(percent)} %`;
  };

  if (!file.size) {
    tell(`${file.name} is empty: nothing to upload.`, "bad");
    return;
  }
  /** @type {Tus} */
  let lib;
  try {
    lib = await loadTus();
  } catch (err) {
    tell(`Cannot upload: ${/** @type {Error} */ (err).message}`, "bad");
    return;
  }
  if (!lib.isSupported) {
    tell("Cannot upload: this browser lacks what tus-js-client needs.", "bad");
    return;
  }

  let paused = false;
  let assetId = "";
  const resume = () => {
    offline.delete(resume);
    paused = false;
    toggle.textContent = "Pause";
    toggle.setAttribute("aria-label", `Pause the upload of ${file.name}`);
    tell("Uploading…");
    upload.start();
  };
  /** @param {string} text @param {string} [kind] */
  const stopped = (text, kind = "") => {
    paused = true;
    toggle.textContent = "Resume";
    toggle.setAttribute("aria-label", `Resume the upload of ${file.name}`);
    tell(text, kind);
  };
  toggle.addEventListener("click", () => {
    if (!paused) {
      upload.abort();
      stopped("Paused. Resume here, or later pick the same file again (even after closing this page).");
    } else {
      resume();
    }
  });

  const upload = new lib.Upload(file, {
    headers: authHeaders(),
    chunkSize: chunkBytes(),
    retryDelays: RETRY_DELAYS,
    // A finished file picked again is a new asset, not this one.
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name },
    onProgress: show,
    onChunkComplete: () => { if (!paused) tell("Uploading…"); },
    onShouldRetry(err, attempt) {
      // tus-js-client's own rule (not a 4xx other than 409 and 423, and online), said.
      const code = err.originalResponse ? err.originalResponse.getStatus() : 0;
      const again = (code < 400 || code > 499 || code === 409 || code === 423) && navigator.onLine;
      if (again) {
        const what = code ? `hlsd answered ${uploadError(err)}` : "The connection dropped";
        tell(`${what}; resuming where it stopped (try ${attempt + 1} of ${RETRY_DELAYS.length})…`, "warn");
      }
      return again;
    },
    onError(err) {
      if (!navigator.onLine) {
        offline.add(resume);
        stopped("Offline: the upload carries on where it stopped once the connection is back.", "warn");
        return;
      }
      const response = /** @type {any} */ (err).originalResponse;
      if (response && response.getStatus() === 404) {
        // Nothing left to resume: the file picked again starts a new upload.
        uploading.delete(assetId);
        toggle.hidden = true;
        tell(`The upload stopped: ${uploadError(err)}.`, "bad");
        return;
      }
      stopped(`The upload stopped: ${uploadError(err)}. Resume tries again.`, "bad");
    },
    onSuccess() {
      uploading.delete(assetId);
      toggle.hidden = true;
      show(file.size, file.size);
      tell("Uploaded.", "ok");
      following.set(assetId, (a) => {
        if (!a) tell("Uploaded; its asset has since been deleted.");
        else if (a.state === "ready") tell("Uploaded and ready: play it on its page.", "ok");
        else if (a.state === "failed") tell(`Uploaded, but it failed: ${a.reason || "no reason given"}`, "bad");
        else if (a.state === "cancelled") tell("Uploaded, then cancelled.", "warn");
        else if (a.state === "processing") tell(`Uploaded; transcoding: ${Math.floor(a.progress)} %.`, "ok");
        else tell("Uploaded; waiting for a transcoder.", "ok");
        if (!a || FINAL.has(a.state)) following.delete(a ? a.id : assetId);
      });
      refresh();
    },
  });

  try {
    const earlier = await previousUpload(lib, upload);
    /** @type {Asset} */
    let asset;
    if (earlier) {
      asset = earlier.asset;
      upload.resumeFromPreviousUpload(earlier.stored);
      tell("Resuming the earlier upload of this file…");
    } else {
      asset = await api("/api/assets", { method: "POST",
        json: { title: file.name.slice(0, 255), size: file.size } });
      if (!asset.upload) throw new Error("hlsd answered without an upload URL");
      upload.options.uploadUrl = new URL(asset.upload.url, location.href).href;
      upload.options.metadata = { filename: file.name, asset: asset.id };
      tell("Uploading…");
    }
    if (uploading.has(asset.id)) {
      tell("This file is already being uploaded above: use its Pause and Resume button.", "warn");
      return;
    }
    assetId = asset.id;
  } catch (err) {
    tell(`Cannot upload: ${/** @type {Error} */ (err).message}`, "bad");
    return;
  }
  uploading.add(assetId);
  link.replaceChildren(el("a", { href: assetPage(assetId), text: "Its page" }));
  toggle.hidden = false;
  upload.start();
  refresh();
}

function uploadForm() {
  const input = /** @type {HTMLInputElement} */ (el("input", { type: "file", id: "upload-file",
    name: "file", multiple: true, required: true }));
  const form = el("form", { id: "upload", class: "inline" },
    el("label", { for: "upload-file" }, "Video or audio files", input),
    el("button", { type: "submit", class: "primary", text: "Upload" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const file of input.files || []) startUpload(file);
    /** @type {HTMLFormElement} */ (form).reset();
  });
  return el("section", { class: "panel", "aria-labelledby": "upload-title" },
    el("h2", { id: "upload-title", text: "Upload" }),
    el("p", { class: "note", text: "Each file becomes an asset: an HLS and DASH ladder with thumbnails. An upload survives a dropped connection; a paused or interrupted one resumes when you pick the same file again." }),
    form, uploads);
}

// -- the list ---------------------------------------------------------------------------

/** @param {Asset} a */
function reasonOf(a) {
  return a.state === "failed" && a.reason
    ? el("p", { class: "reason bad", text: a.reason }) : null;
}

/** @param {Asset} a @returns {Row} */
function newRow(a) {
  const tr = /** @type {HTMLTableRowElement} */ (el("tr", { "data-id": a.id, role: "row" }));
  /** @type {Row} */
  const row = {
    tr,
    name: /** @type {HTMLAnchorElement} */ (el("a", { href: assetPage(a.id) })),
    state: el("td"),
    progress: progressView(`Transcode progress of ${assetName(a)}`),
    size: el("td"),
    length: el("td"),
    actions: assetActions(a, {
      changed: (changed) => { update(row, changed); refresh(); },
      deleted: () => { tr.remove(); rows.delete(a.id); refresh(); },
      failed: (text) => problem(text),
    }),
    seen: "",
  };
  const cells = [el("td", {}, el("div", {}, row.name, el("div", { class: "note mono", text: a.id }))),
    row.state, el("td", {}, row.progress.root), row.size, row.length,
    el("td", { text: when(a.created) }), el("td", {}, row.actions.root)];
  // Each cell names its column: on a phone the rows are stacked, a label beside each.
  // The roles keep the table a table for screen readers once CSS stacks it.
  cells.forEach((cell, n) => {
    cell.setAttribute("data-label", COLUMNS[n]);
    cell.setAttribute("role", "cell");
  });
  tr.append(...cells);
  return row;
}

/** Brings `row` up to date with `a`, touching only what changed (focus stays put). */
function update(/** @type {Row} */ row, /** @type {Asset} */ a) {
  row.name.textContent = assetName(a);
  const seen = `${a.state}\n${a.reason || ""}`;
  if (row.seen !== seen) {
    row.seen = seen;
    row.state.replaceChildren(el("div", {}, stateBadge(a), reasonOf(a)));
    row.actions.update(a);
  }
  row.progress.update(a);
  row.size.textContent = bytes(a.size);
  row.length.textContent = duration(a.duration);
}

function emptyState() {
  return el("div", { class: "empty" },
    el("p", { text: "No assets yet." }),
    el("p", {}, "Upload a video or audio file above, or import one with the API: ",
      el("code", { text: "POST /api/assets {\"url\": …}" }), " (or ",
      el("code", { text: "hlsd assets add" }), ")."),
    el("p", { class: "note", text: "An asset plays at /vod/{id}/index.m3u8 (HLS) and /vod/{id}/manifest.mpd (DASH) once ready." }));
}

/** @type {HTMLTableSectionElement | null} */
let tbody = null;
const more = el("p", { class: "note", hidden: true });

/** @param {Asset[]} shown */
function render(shown) {
  state.assets = shown;
  for (const [id, tell] of [...following]) tell(shown.find((a) => a.id === id) || null);
  for (const id of [...rows.keys()]) {
    if (!shown.some((a) => a.id === id)) rows.delete(id);
  }
  more.hidden = shown.length < LISTED;
  more.textContent = `The newest ${LISTED} are shown.`;
  if (!shown.length) {
    tbody = null;
    list.replaceChildren(emptyState());
    return;
  }
  if (!tbody) {
    tbody = /** @type {HTMLTableSectionElement} */ (el("tbody", { role: "rowgroup" }));
    list.replaceChildren(scroller("Assets",
      el("table", { class: "assets-table", role: "table" },
        el("caption", { class: "note", text: "Newest first" }),
        el("thead", { role: "rowgroup" }, el("tr", { role: "row" },
          ...COLUMNS.map((t) => el("th", { scope: "col", role: "columnheader", text: t })))),
        tbody)), more);
  }
  const ordered = shown.map((a) => {
    let row = rows.get(a.id);
    if (!row) {
      row = newRow(a);
      rows.set(a.id, row);
    }
    update(row, a);
    return row.tr;
  });
  // Rows move only when the order changed: moving the focused row would lose focus.
  const current = [...tbody.children];
  if (current.length !== ordered.length || current.some((tr, i) => tr !== ordered[i])) {
    tbody.replaceChildren(...ordered);
  }
}

let timer = 0;
let refreshing = false;
let again = false;
let listFailed = false;

/** One request for the whole list; again soon while any asset is unfinished. */
async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  clearTimeout(timer);
  let next = 0;
  try {
    const data = await api(`/api/assets?limit=${LISTED}`);
    /** @type {Asset[]} */
    const shown = data.assets;
    render(shown);
    if (listFailed) problem("");
    listFailed = false;
    const open = shown.filter((a) => !FINAL.has(a.state));
    next = open.some((a) => a.state !== "created") ? FAST_MS : open.length ? SLOW_MS : 0;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
    problem(`Could not list the assets: ${/** @type {Error} */ (err).message}`);
    listFailed = true;
    next = SLOW_MS;
  } finally {
    refreshing = false;
  }
  if (again) {
    again = false;
    refresh();
  } else if (next) {
    timer = window.setTimeout(refresh, next);
  }
}

async function main() {
  document.head.append(el("style", { text: SHARED_STYLE + STYLE }));
  content().replaceChildren(uploadForm(),
    el("section", { "aria-labelledby": "list-title" },
      el("h2", { id: "list-title", text: "Assets" }), list));
  list.replaceChildren(el("p", { class: "note", text: "Loading…" }));
  await refresh();
}

run(main);

// @ts-check
// /ui/recordings: every recording, of hlsd's own streams and of LiveMix sources alike
// (both live in one table, so /api/recordings lists both; `source_id` tells them apart),
// newest first, with Stop for the active ones and Delete. `?stream=NAME` or `?source=ID`
// narrows the list to one stream or one LiveMix source.

import {
  Refresher, api, bytes, content, deleteAt, duration, el, problem, run, scroller,
  state,
} from "/ui/static/lib.js";

/**
 * @typedef {{id: string, stream: string, source_id: string | null, alias: string | null,
 *   description: string | null, start_ts: string | null, end_ts: string | null,
 *   active: boolean, playlist: string, mp4: string}} Recording
 * @typedef {{segments: number, bytes: number, duration: number, active: boolean}} Figures
 * @typedef {{tr: HTMLTableRowElement, state: HTMLElement, length: HTMLElement,
 *   size: HTMLElement, actions: HTMLElement, active: boolean | null}} Row
 */

const REFRESH_MS = 5000;
/** Rows whose figures (size, recorded duration) are asked for, each its own request. */
const FIGURES_FOR = 100;
const FIGURES_AT_ONCE = 4;

const query = new URLSearchParams(location.search);
const onlyStream = query.get("stream");
const onlySource = query.get("source");

/** @type {Map<string, Row>} */
const rows = new Map();
/** Figures of stopped recordings never change: asked for once stopped. @type {Map<string, Figures>} */
const figures = new Map();
/** Recordings deleted from this page. @type {Set<string>} */
const deleted = new Set();
/** Source id → name, for LiveMix recordings. @type {Map<string, string>} */
const sourceNames = new Map();

const list = el("div", { id: "recordings" });
const intro = el("p", { class: "note" });

/** @param {Recording} r */
function kept(r) {
  if (onlyStream !== null) return r.stream === onlyStream;
  if (onlySource !== null) return r.source_id === onlySource;
  return true;
}

/** @param {string} id */
function page(id) {
  return `/ui/recordings/${encodeURIComponent(id)}`;
}

/** What a recording records: a stream, or a LiveMix source (named when known). @param {Recording} r */
function origin(r) {
  if (r.source_id) {
    const name = sourceNames.get(r.source_id);
    return el("span", {},
      el("span", { class: "badge", text: "LiveMix" }), " ",
      name ? el("a", { href: `/ui/recordings?source=${encodeURIComponent(r.source_id)}`, text: name })
        : el("span", { class: "mono", text: r.source_id, title: "a source since deleted" }));
  }
  return el("span", {},
    el("span", { class: "badge", text: "stream" }), " ",
    el("a", { href: `/ui/streams/${encodeURIComponent(r.stream)}`, text: r.stream }));
}

/** A moment, short: the date and the time to the second. @param {string | null} iso */
function moment(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso
    : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** How long it is: what it recorded when known, else from its start to its end. @param {Recording} r */
function length(r) {
  const f = figures.get(r.id);
  if (f) return r.active ? `${duration(f.duration)} so far` : duration(f.duration);
  if (r.active) return "recording…";
  const span = r.end_ts && r.start_ts ? (Date.parse(r.end_ts) - Date.parse(r.start_ts)) / 1000 : NaN;
  return Number.isFinite(span) ? duration(span) : "–";
}

/** @param {Recording} r */
function stateBadge(r) {
  return el("span", { class: `badge ${r.active ? "ok" : ""}`, text: r.active ? "active" : "stopped" });
}

/** @param {Recording} r @param {Row} row */
function actions(r, row) {
  const label = r.alias || r.id;
  const stop = r.active && el("button", { type: "button", text: "Stop",
    "aria-label": `Stop recording ${label}`,
    onclick: async (/** @type {Event} */ event) => {
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await api(`/api/recordings/${encodeURIComponent(r.id)}/stop`, { method: "POST" });
        problem("");
      } catch (err) {
        problem(`Could not stop ${label}: ${/** @type {Error} */ (err).message}`);
        button.disabled = false;
      }
      await refresh();
      // Stopped, the row has no Stop button: keep the keyboard user on the row.
      if (!button.isConnected) row.actions.querySelector("button")?.focus();
    } });
  const remove = el("button", { type: "button", class: "danger", text: "Delete",
    "aria-label": `Delete recording ${label}`,
    onclick: async (/** @type {Event} */ event) => {
      if (!confirm(`Delete the recording ${label} and everything it stored?`)) return;
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await deleteAt(`/api/recordings/${encodeURIComponent(r.id)}`);
        problem("");
      } catch (err) {
        problem(`Could not delete ${label}: ${/** @type {Error} */ (err).message}`);
        button.disabled = false;
        return;
      }
      deleted.add(r.id);
      row.tr.remove();
      rows.delete(r.id);
      await refresh();
    } });
  return el("div", { class: "row" }, stop, remove);
}

/** A new row for `r`. @param {Recording} r @returns {Row} */
function newRow(r) {
  const name = el("a", { href: page(r.id), text: r.alias || r.id.slice(0, 8),
    "aria-label": `Recording ${r.alias || r.id}` });
  const row = /** @type {Row} */ ({
    tr: /** @type {HTMLTableRowElement} */ (el("tr", { "data-id": r.id })),
    state: el("span"), length: el("td"), size: el("td"), actions: el("td"), active: null,
  });
  row.tr.append(
    el("td", {}, name, " ", row.state,
      el("div", { class: "note mono", text: r.id.slice(0, 8), title: r.id })),
    el("td", {}, origin(r)),
    el("td", { text: moment(r.start_ts) }),
    row.length, row.size, row.actions);
  return row;
}

/** Brings `row` up to date with `r`, touching only what changed (focus stays put). */
function update(/** @type {Row} */ row, /** @type {Recording} */ r) {
  if (row.active !== r.active) {
    row.active = r.active;
    row.state.replaceChildren(stateBadge(r));
    row.actions.replaceChildren(actions(r, row));
  }
  row.length.textContent = length(r);
  const f = figures.get(r.id);
  row.size.textContent = f ? bytes(f.bytes) : "–";
  row.size.title = f ? `${f.segments} segments` : "";
}

function emptyState() {
  if (onlyStream !== null || onlySource !== null) {
    const what = onlyStream !== null ? `the stream ${onlyStream}`
      : `the LiveMix source ${sourceNames.get(onlySource || "") || onlySource}`;
    return el("p", { class: "empty" }, `No recordings of ${what} yet. `,
      el("a", { href: "/ui/recordings", text: "Every recording" }));
  }
  return el("div", { class: "empty" },
    el("p", { text: "No recordings yet." }),
    el("p", {}, "Start one from a live stream's page (",
      el("a", { href: "/", text: "Overview" }),
      ", then the stream), or with the API: ",
      el("code", { text: "POST /api/streams/{stream}/recordings" }),
      " (a start may reach back into the last seconds of the stream); for a LiveMix source, ",
      el("code", { text: "POST /v1/source/{id}/recording" }), "."),
    el("p", { class: "note", text: "A recording replays as HLS while it grows and after it stops, and exports as an MP4." }));
}

/** @type {HTMLTableSectionElement | null} */
let tbody = null;

/** @param {Recording[]} shown */
function render(shown) {
  state.recordings = shown;
  for (const id of [...rows.keys()]) {
    if (!shown.some((r) => r.id === id)) rows.delete(id);
  }
  if (!shown.length) {
    tbody = null;
    list.replaceChildren(emptyState());
    return;
  }
  if (!tbody) {
    tbody = /** @type {HTMLTableSectionElement} */ (el("tbody"));
    list.replaceChildren(scroller("Recordings",
      el("table", {},
        el("thead", {}, el("tr", {}, ...["Recording", "Of", "Started", "Length", "Size",
          "Actions"].map((t) => el("th", { scope: "col", text: t })))),
        tbody)));
  }
  const ordered = shown.map((r) => {
    let row = rows.get(r.id);
    if (!row) {
      row = newRow(r);
      rows.set(r.id, row);
    }
    update(row, r);
    return row.tr;
  });
  // Rows move only when the order changed: moving the focused row would lose focus.
  const current = [...tbody.children];
  if (current.length !== ordered.length || current.some((tr, i) => tr !== ordered[i])) {
    tbody.replaceChildren(...ordered);
  }
}

/**
 * Asks for the figures of the recordings that lack them (active ones each time: they
 * grow), a few at once, and fills them in.
 * @param {Recording[]} shown
 */
async function fillFigures(shown) {
  const wanted = shown.slice(0, FIGURES_FOR).filter((r) => r.active || figures.get(r.id)?.active !== false);
  const work = wanted.slice();
  const worker = async () => {
    for (let r = work.shift(); r; r = work.shift()) {
      try {
        const got = await api(`/api/recordings/${encodeURIComponent(r.id)}`);
        figures.set(r.id, { segments: got.segments, bytes: got.bytes, duration: got.duration,
          active: got.active });
        const row = rows.get(r.id);
        if (row) update(row, got);
      } catch {
        // Deleted meanwhile, or a passing failure: the next refresh asks again.
      }
    }
  };
  await Promise.all(Array.from({ length: FIGURES_AT_ONCE }, worker));
}

async function loadSourceNames() {
  try {
    const data = await api("/v1/source");
    for (const s of data.sources || []) sourceNames.set(s.id, s.name);
  } catch {
    // Names are a nicety: the ids still show.
  }
}

const refresher = new Refresher(load);

/** Refreshes after any refresh in progress (so a change made meanwhile is seen). */
function refresh() {
  return refresher.now();
}

async function load() {
  const data = await api("/api/recordings");
  /** @type {Recording[]} */
  const all = data.recordings || [];
  if (all.some((r) => r.source_id && !sourceNames.has(r.source_id))) await loadSourceNames();
  // A list asked for before a delete here ended may still hold what was deleted.
  const shown = all.filter((r) => kept(r) && !deleted.has(r.id)).reverse();
  render(shown);
  await fillFigures(shown);
}

async function main() {
  if (onlyStream !== null || onlySource !== null) {
    if (onlySource !== null) await loadSourceNames();
    const what = onlyStream !== null ? `the stream ${onlyStream}`
      : `the LiveMix source ${sourceNames.get(onlySource || "") || onlySource}`;
    intro.replaceChildren(`Recordings of ${what}, newest first. `,
      el("a", { href: "/ui/recordings", text: "Every recording" }));
  } else {
    intro.textContent = "Recordings of live streams and of LiveMix sources, newest first. Open one to replay it or download it as an MP4.";
  }
  content().replaceChildren(intro, list);
  await refresh();
  // New recordings (started elsewhere) and growing ones, while the page is open.
  refresher.every(REFRESH_MS, "the list");
}

run(main);

// @ts-check
// /ui/channels/{name}: one channel. A preview player of its live stream, its schedule as
// an ordered list to edit (add, remove, reorder; a start time per item when timed), the
// timed items on a timeline, and deleting it. Edits are a draft until "Save schedule",
// which PUTs the whole schedule: a change reaches players in one piece, at the boundary
// the server picks (after the item on air, or at the next segment when cut).

import { ApiError, api, arg, bitrate, content, copyField, duration, el, play, problem, run,
  say, state, when } from "/ui/static/lib.js";
import {
  addStyles, clock, fromLocalInput, soon, sourceFields, sourceText, toLocalInput,
} from "/ui/static/pages/_channels.js";

/** @typedef {import("./_channels.js").Channel} Channel */
/** @typedef {import("./_channels.js").Source} Source */
/**
 * An item of the draft: `id` null until saved (the server names it), `duration` null
 * until the server has read the source.
 * @typedef {{key: string, id: string | null, source: Source, start: string | null,
 *   duration: number | null}} Draft
 */

const NAME = arg();
const BASE = `/api/channels/${encodeURIComponent(NAME)}`;
const POLL_MS = 5000;
const DAY_MS = 24 * 3600 * 1000;

/** The channel as the server last described it. @type {Channel} */
let channel;
/** The draft schedule. @type {"loop" | "timed"} */
let mode = "loop";
/** @type {Draft[]} */
let items = [];
let added = 0;
/** Saving or deleting: the poll leaves the draft alone meanwhile. */
let busy = false;
/** Every item seen on this page, by id: the one on air may be of a schedule that a saved
 * change is replacing (ids stay with their items across changes). @type {Map<string, Source>} */
const seen = new Map();

/** @param {Channel} described */
function remember(described) {
  for (const item of described.items) seen.set(item.id, item.source);
}

/** @param {Channel} described */
function adopt(described) {
  remember(described);
  channel = described;
  mode = described.mode;
  items = described.items.map((i) => ({ key: i.id, id: i.id, source: i.source,
    start: i.start, duration: i.duration }));
  state.channel = described;
}

/** The draft in play order (a timed schedule plays by start time). */
function ordered() {
  if (mode === "loop") return items;
  const at = (/** @type {Draft} */ i) => (i.start ? Date.parse(i.start) : Infinity);
  return [...items].sort((a, b) => at(a) - at(b));
}

/**
 * What a schedule amounts to, to tell a draft that differs from what is saved.
 * @param {string} m  @param {{id: string | null, source: Source, start: string | null}[]} list
 */
function signature(m, list) {
  return JSON.stringify([m, list.map((i) => [i.id, i.source,
    m === "timed" && i.start ? Date.parse(i.start) : null])]);
}

function dirty() {
  return signature(mode, ordered()) !== signature(channel.mode, channel.items);
}

/** The PUT body: the whole schedule, saved items keeping their ids. @param {boolean} cut */
function scheduleBody(cut) {
  return {
    mode,
    items: ordered().map((i) => ({ ...(i.id ? { id: i.id } : {}), source: i.source,
      ...(mode === "timed" ? { start: i.start } : {}) })),
    filler: channel.filler,
    cut,
  };
}

// -- the page's parts -------------------------------------------------------------

const previewHolder = el("div", { class: "player" });
const previewProblem = el("p", { id: "preview-problem", class: "alert", role: "alert",
  hidden: true });
const now = el("dl", { id: "now", class: "now" });

const modeSelect = /** @type {HTMLSelectElement} */ (el("select", { id: "mode", name: "mode" },
  el("option", { value: "loop", text: "Loop: the items in order, again and again" }),
  el("option", { value: "timed", text: "Timed: each item at its start time" })));
const modeNote = el("p", { class: "note" });
const list = el("ol", { id: "schedule", class: "schedule", "aria-labelledby": "schedule-title" });
const emptyList = el("p", { class: "empty", id: "no-items", hidden: true });
const cut = /** @type {HTMLInputElement} */ (el("input", { type: "checkbox", id: "cut" }));
const saveButton = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
  id: "save", class: "primary", text: "Save schedule" }));
const discardButton = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
  id: "discard", text: "Discard changes" }));
const saveStatus = el("p", { id: "save-status", class: "note", "aria-live": "polite" });
const saveError = el("p", { id: "save-error", class: "alert", role: "alert", hidden: true });
const addStatus = el("p", { class: "note", "aria-live": "polite" });

const timeline = el("div", { id: "timeline-box" });

/** @type {{hls: any, destroy: () => void} | null} */
let player = null;

// -- preview ----------------------------------------------------------------------

/** (Re)starts the preview: a new <video> each time, so nothing of the last one lingers. */
async function startPreview() {
  if (player) player.destroy();
  const video = /** @type {HTMLVideoElement} */ (el("video", { id: "preview", controls: true,
    muted: true, playsinline: true, "aria-label": `Preview of channel ${NAME}` }));
  video.muted = true;
  previewHolder.replaceChildren(video);
  say(previewProblem, "");
  player = await play(video, channel.playlist, { onProblem: (text) => {
    say(previewProblem, text);
    if (text) state.problems.push(text);
  } });
  state.previewLoads = Number(state.previewLoads || 0) + 1;
}

// -- what is on air -----------------------------------------------------------------

function renderNow() {
  const airing = channel.on_air;
  let onAir = "–";
  if (airing && airing.item) {
    const source = seen.get(airing.item);
    onAir = `${source ? sourceText(source) : "item"} (${airing.item}) since ${clock(airing.since)}`;
  } else if (airing) {
    onAir = "Gap: slate or filler";
  }
  /** @type {[string, string][]} */
  const rows = [["On air", onAir]];
  if (channel.pending) {
    rows.push(["Change pending", `the saved schedule takes over at ${clock(channel.pending.effective)}`]);
  }
  rows.push(["Variants", channel.variants.map((v) => `${v.resolution || "audio"} `
    + `(${bitrate(v.bandwidth)})`).join(", ") || "–"]);
  if (channel.mode === "timed") {
    rows.push(["Gaps play", channel.filler ? sourceText(channel.filler) : "slate"]);
  }
  rows.push(["Segments", `up to ${channel.target_duration} s; the playlist reaches back `
    + `${duration(channel.window)}`]);
  rows.push(["Made", when(channel.created)]);
  now.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  for (const row of list.querySelectorAll("li[data-id]")) {
    const badge = /** @type {HTMLElement | null} */ (row.querySelector(".on-air"));
    if (badge) badge.hidden = !airing || row.getAttribute("data-id") !== airing.item;
  }
}

// -- the schedule -----------------------------------------------------------------

/**
 * Redraws the list (and what follows from it), then puts the focus back where the
 * keyboard was: on `focus.action` of item `focus.key`.
 * @param {{key: string, action: string} | null} [focus]
 */
function renderSchedule(focus = null) {
  modeSelect.value = mode;
  modeNote.textContent = mode === "loop"
    ? "The items play in this order, then again from the first. Move them to reorder."
    : "Each item plays at its start; slate (or the filler) fills the gaps and follows "
      + "the last item.";
  const shown = ordered();
  const airing = channel.on_air ? channel.on_air.item : null;
  list.replaceChildren(...shown.map((item, n) => {
    const what = sourceText(item.source);
    const number = `${n + 1}.`;
    const label = `item ${n + 1} (${what})`;
    /** @param {string} action @param {string} text @param {string} aria @param {boolean} off @param {() => void} act */
    const button = (action, text, aria, off, act, cls = "") => el("button", { type: "button",
      class: cls || null, "data-action": action, text, "aria-label": aria, disabled: off,
      onclick: act });
    const controls = el("div", { class: "row" });
    if (mode === "loop") {
      controls.append(
        button("up", "Move up", `Move ${label} up`, n === 0,
          () => move(item.key, -1, "up")),
        button("down", "Move down", `Move ${label} down`, n === shown.length - 1,
          () => move(item.key, 1, "down")));
    }
    controls.append(button("remove", "Remove", `Remove ${label}`, false,
      () => remove(item.key), "danger"));
    const facts = [item.duration !== null ? duration(item.duration) : "length known once saved"];
    facts.push(item.id ? `id ${item.id}` : "not saved yet");
    const row = el("li", { "data-key": item.key, "data-id": item.id, class: item.id ? null : "new" },
      el("div", { class: "row" },
        el("span", { class: "pos", text: number }),
        el("strong", { class: "what", text: what }),
        el("span", { class: "note", text: facts.join(" · ") }),
        el("span", { class: "badge ok on-air", text: "on air", hidden: item.id === null
          || item.id !== airing }),
        item.id ? null : el("span", { class: "badge warn", text: "new" })),
      mode === "timed" ? startField(item, label) : null,
      controls);
    return row;
  }));
  emptyList.textContent = "No items. Add one below; "
    + (mode === "loop" ? "a looping schedule needs at least one."
      : "a timed schedule without items plays slate.");
  emptyList.hidden = shown.length > 0;
  renderSaveBar();
  renderTimeline();
  if (focus) {
    const row = list.querySelector(`li[data-key="${CSS.escape(focus.key)}"]`);
    /** @type {HTMLButtonElement | null} */
    let target = row ? row.querySelector(`button[data-action="${focus.action}"]`) : null;
    if (target && target.disabled) {
      target = /** @type {HTMLButtonElement | null} */ (row && row.querySelector(
        `button[data-action="${focus.action === "up" ? "down" : "up"}"]`));
    }
    (target || /** @type {HTMLElement} */ (document.getElementById("schedule-title"))).focus();
  }
}

/** @param {Draft} item @param {string} label */
function startField(item, label) {
  const input = /** @type {HTMLInputElement} */ (el("input", { type: "datetime-local", step: 1,
    "aria-label": `Start of ${label} (your local time)`,
    value: item.start ? toLocalInput(new Date(item.start)) : "" }));
  // Only the draft, the timeline and the save bar follow a change: redrawing the list
  // here would take the focus out of the field being typed in.
  input.addEventListener("change", () => {
    item.start = fromLocalInput(input.value);
    renderSaveBar();
    renderTimeline();
  });
  const ends = item.start && item.duration !== null
    ? `ends about ${clock(Date.parse(item.start) + item.duration * 1000)}` : "";
  return el("div", { class: "row" }, el("label", {}, "Start (your local time)", input),
    ends ? el("span", { class: "note", text: ends }) : null);
}

function renderSaveBar() {
  const changed = dirty();
  saveButton.disabled = busy || !changed;
  discardButton.disabled = busy || !changed;
  if (!busy) saveStatus.textContent = changed ? "Unsaved changes: players see them once saved." : "";
}

/** @param {string} key @param {number} by @param {string} action */
function move(key, by, action) {
  const at = items.findIndex((i) => i.key === key);
  const to = at + by;
  if (at < 0 || to < 0 || to >= items.length) return;
  [items[at], items[to]] = [items[to], items[at]];
  renderSchedule({ key, action });
}

/** @param {string} key */
function remove(key) {
  const shown = ordered();
  const at = shown.findIndex((i) => i.key === key);
  items = items.filter((i) => i.key !== key);
  const next = shown[at + 1] || shown[at - 1];
  renderSchedule(next ? { key: next.key, action: "remove" }
    : { key: "", action: "" });
}

/** @param {"loop" | "timed"} wanted */
function setMode(wanted) {
  if (wanted === mode) return;
  mode = wanted;
  if (mode === "timed") {
    // Items without a start are placed one after another, from a little ahead (after
    // any that have one), so the draft is a valid timed schedule to adjust.
    let next = soon().getTime();
    for (const item of items) {
      if (item.start) {
        next = Math.max(next, Date.parse(item.start) + (item.duration || 60) * 1000);
      }
    }
    for (const item of items) {
      if (!item.start) {
        item.start = new Date(next).toISOString();
        next += Math.ceil(item.duration || 60) * 1000;
      }
    }
  }
  renderSchedule();
}

async function save() {
  say(saveError, "");
  if (mode === "timed") {
    const missing = ordered().findIndex((i) => !i.start);
    if (missing >= 0) {
      say(saveError, `Not saved: item ${missing + 1} needs a start (a date and a time).`);
      return;
    }
  }
  busy = true;
  renderSaveBar();
  saveStatus.textContent = "Saving (hlsd reads new sources first)…";
  try {
    const saved = await api(BASE, { method: "PUT", json: scheduleBody(cut.checked) });
    busy = false;
    adopt(saved);
    renderSchedule();
    renderNow();
    saveStatus.textContent = saved.pending && saved.pending.effective
      ? `Saved. The new schedule takes over at ${clock(saved.pending.effective)}`
        + (cut.checked ? " (at the next segment)." : " (after the item on air).")
      : "Saved.";
    state.saves = Number(state.saves || 0) + 1;
    addStatus.textContent = "";
  } catch (err) {
    busy = false;
    renderSaveBar();
    saveStatus.textContent = "";
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
    say(saveError, `Not saved: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  await startPreview();  // from the live edge, so the new schedule is what it reaches
}

function discard() {
  adopt(channel);
  say(saveError, "");
  addStatus.textContent = "";
  renderSchedule();
  saveStatus.textContent = "Changes discarded.";
}

// -- adding an item ------------------------------------------------------------------

function addForm() {
  const source = sourceFields("add-source");
  const start = /** @type {HTMLInputElement} */ (el("input", { id: "add-start",
    type: "datetime-local", step: 1, value: toLocalInput(soon()) }));
  const startLabel = el("label", { id: "add-start-label" }, "Start (your local time)", start);
  const error = el("p", { id: "add-error", class: "alert", role: "alert", hidden: true });
  const status = addStatus;
  const form = el("form", { id: "add-item", class: "form-grid" }, source.fieldset, startLabel,
    error, el("div", { class: "row" },
      el("button", { type: "submit", text: "Add to the schedule" }), status));
  const follow = () => {
    startLabel.hidden = mode !== "timed";
    if (mode === "timed") {
      // Offered: right after the last item (when its length is known), else soon.
      const last = ordered().filter((i) => i.start).at(-1);
      const after = last && last.start && last.duration !== null
        ? Date.parse(last.start) + Math.ceil(last.duration) * 1000 : 0;
      if (!start.value || after > Date.now()) {
        start.value = toLocalInput(after > Date.now() ? new Date(after) : soon());
      }
    }
  };
  modeSelect.addEventListener("change", follow);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    say(error, "");
    status.textContent = "";
    const given = source.read();
    if (!given) {
      say(error, "Give the item's source: a library path, a URL or an id.");
      source.focus();
      return;
    }
    const at = mode === "timed" ? fromLocalInput(start.value) : null;
    if (mode === "timed" && !at) {
      say(error, "Give the item's start: a date and a time.");
      start.focus();
      return;
    }
    added += 1;
    items.push({ key: `new-${added}`, id: null, source: given, start: at, duration: null });
    renderSchedule();
    source.reset();
    follow();
    status.textContent = `Added ${sourceText(given)} to the schedule above; save it to put it on air.`;
  });
  follow();
  return form;
}

// -- the timeline ---------------------------------------------------------------------

/** @type {{from: number, to: number, marker: HTMLElement} | null} */
let drawn = null;

/** @param {number} from @param {number} to */
function axisTime(from, to) {
  const sameDay = new Date(from).toDateString() === new Date(to).toDateString();
  return (/** @type {number} */ t) => (sameDay && new Date(t).toDateString()
    === new Date().toDateString() ? clock(t) : new Date(t).toLocaleString());
}

function renderTimeline() {
  drawn = null;
  if (mode !== "timed") {
    timeline.replaceChildren(el("p", { class: "note", text: "This schedule loops, so its "
      + "items have no clock times. With the mode set to timed, each item is drawn here at "
      + "its start, over the schedule's span." }));
    return;
  }
  const nowMs = Date.now();
  const placed = ordered().filter((i) => i.start && !Number.isNaN(Date.parse(i.start)));
  let from = nowMs;
  let to = nowMs + DAY_MS;
  if (placed.length) {
    const starts = placed.map((i) => Date.parse(/** @type {string} */ (i.start)));
    const ends = placed.map((i, n) => starts[n] + (i.duration || 0) * 1000);
    from = Math.min(nowMs, ...starts);
    to = Math.max(nowMs, ...ends);
    const pad = Math.max((to - from) * 0.05, 30_000);
    from -= pad;
    to += pad;
  }
  const span = to - from;
  const at = (/** @type {number} */ t) => ((t - from) / span) * 100;
  // Blocks alternate between two lanes, so the labels of neighbours do not collide;
  // a label past the middle reads leftwards from its block's end, to stay in the bar.
  const blocks = placed.map((item, n) => {
    const begins = Date.parse(/** @type {string} */ (item.start));
    const width = item.duration !== null ? at(begins + item.duration * 1000) - at(begins) : 0;
    const what = sourceText(item.source);
    const length = item.duration !== null ? duration(item.duration) : "length not known yet";
    const label = `${item.id || "new"} · ${what} · ${clock(begins)} · ${length}`;
    const classes = ["tl-item", `lane-${n % 2}`];
    if (item.duration === null) classes.push("unknown");
    if (at(begins) > 55) classes.push("end");
    return el("div", { class: classes.join(" "), "data-key": item.key, title: label,
      style: `left:${at(begins).toFixed(3)}%;width:${width.toFixed(3)}%` },
    el("div", { class: "tl-bar" }), el("span", { class: "tl-label", text: label }));
  });
  const marker = el("div", { class: "tl-now", style: `left:${at(nowMs).toFixed(3)}%` },
    el("span", { text: "now" }));
  const shown = axisTime(from, to);
  timeline.replaceChildren(
    el("p", { class: "note", id: "timeline-caption", text: placed.length
      ? `${placed.length} timed item${placed.length === 1 ? "" : "s"}, from ${shown(from)} `
        + `to ${shown(to)}; the yellow line is now.`
      : "No timed items: the next 24 hours, all slate (or filler). Add an item with a start." }),
    el("div", { class: "timeline", id: "timeline", role: "group",
      "aria-describedby": "timeline-caption" }, ...blocks, marker),
    el("div", { class: "tl-axis", "aria-hidden": "true" },
      el("span", { text: shown(from) }), el("span", { text: shown(from + span / 2) }),
      el("span", { text: shown(to) })));
  drawn = { from, to, marker };
}

/** Moves the "now" line; past the drawn span, redraws. */
function tick() {
  if (!drawn) return;
  const nowMs = Date.now();
  if (nowMs > drawn.to) { renderTimeline(); return; }
  drawn.marker.style.left = `${(((nowMs - drawn.from) / (drawn.to - drawn.from)) * 100).toFixed(3)}%`;
}

// -- deleting ----------------------------------------------------------------------------

function deletePart() {
  const ask = /** @type {HTMLButtonElement} */ (el("button", { type: "button", id: "delete",
    class: "danger", text: "Delete channel…", "aria-expanded": "false",
    "aria-controls": "confirm-delete-box" }));
  const error = el("p", { class: "alert", role: "alert", hidden: true });
  const confirmButton = /** @type {HTMLButtonElement} */ (el("button", { type: "button",
    id: "confirm-delete", class: "danger", text: `Delete ${NAME}` }));
  const cancel = el("button", { type: "button", id: "cancel-delete", text: "Cancel" });
  const box = el("div", { id: "confirm-delete-box", class: "confirm", hidden: true },
    el("p", { text: `Delete channel “${NAME}”? It stops at once for everyone watching, `
      + "and its schedule is gone." }),
    el("div", { class: "row" }, confirmButton, cancel), error);
  const shut = () => {
    box.hidden = true;
    ask.setAttribute("aria-expanded", "false");
    ask.focus();
  };
  ask.addEventListener("click", () => {
    box.hidden = false;
    ask.setAttribute("aria-expanded", "true");
    cancel.focus();
  });
  cancel.addEventListener("click", shut);
  confirmButton.addEventListener("click", async () => {
    say(error, "");
    busy = true;
    confirmButton.disabled = true;
    try {
      await api(BASE, { method: "DELETE" });
      if (player) player.destroy();
      location.assign("/ui/channels");
    } catch (err) {
      busy = false;
      confirmButton.disabled = false;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
      say(error, `Not deleted: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  return el("div", {},
    el("p", { class: "note", text: "Players of this channel stop, and its name is free again." }),
    ask, box);
}

// -- keeping up with the server ------------------------------------------------------------

async function poll() {
  if (busy) return;
  let fresh;
  try {
    fresh = /** @type {Channel} */ (await api(BASE));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      problem(`Channel ${NAME} no longer exists (deleted elsewhere).`);
      clearInterval(polling);
    }
    return;
  }
  if (busy) return;
  const edited = dirty();
  const changed = signature(fresh.mode, fresh.items) !== signature(channel.mode, channel.items);
  remember(fresh);
  channel = fresh;
  state.channel = fresh;
  if (changed && !edited) {
    adopt(fresh);  // changed elsewhere, and nothing here to lose
    renderSchedule();
  } else if (changed) {
    renderSaveBar();
    saveStatus.textContent = "The schedule was changed elsewhere meanwhile: saving "
      + "replaces that change with this draft (Discard changes shows it).";
  }
  renderNow();
}

/** @type {ReturnType<typeof setInterval>} */
let polling;

async function main() {
  addStyles();
  try {
    adopt(await api(BASE));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      content().replaceChildren(el("p", { class: "empty" },
        `There is no channel “${NAME}”. `, el("a", { href: "/ui/channels",
          text: "See all channels, or make one" })));
    }
    throw err;
  }
  modeSelect.addEventListener("change", () => {
    setMode(modeSelect.value === "timed" ? "timed" : "loop");
  });
  saveButton.addEventListener("click", save);
  discardButton.addEventListener("click", discard);

  content().replaceChildren(el("div", { class: "stack" },
    el("div", { class: "two" },
      el("section", { class: "panel", "aria-labelledby": "preview-title" },
        el("h2", { id: "preview-title", text: "Preview" }),
        previewHolder, previewProblem,
        copyField("Playback", channel.playlist), now),
      el("section", { class: "panel", "aria-labelledby": "schedule-title" },
        el("h2", { id: "schedule-title", text: "Schedule", tabindex: "-1" }),
        el("label", {}, "Mode", modeSelect), modeNote, list, emptyList,
        el("div", { class: "row" },
          el("label", { class: "check" }, cut, "Switch at the next segment (else the "
            + "change waits for the item on air to end)")),
        el("div", { class: "row" }, saveButton, discardButton), saveStatus, saveError)),
    el("section", { class: "panel", "aria-labelledby": "timeline-title" },
      el("h2", { id: "timeline-title", text: "Timeline" }), timeline),
    el("div", { class: "two" },
      el("section", { class: "panel", "aria-labelledby": "add-title" },
        el("h2", { id: "add-title", text: "Add item" }), addForm()),
      el("section", { class: "panel", "aria-labelledby": "delete-title" },
        el("h2", { id: "delete-title", text: "Delete channel" }), deletePart()))));
  renderSchedule();
  renderNow();
  window.addEventListener("beforeunload", (event) => {
    if (!busy && dirty()) event.preventDefault();
  });
  setInterval(tick, 1000);
  polling = setInterval(() => { poll().catch(() => {}); }, POLL_MS);
  await startPreview();
}

run(main);

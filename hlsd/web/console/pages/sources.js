// @ts-check
// /ui/sources: LiveMix's video sources (its /v1/source API and envelope): each with the
// edge that reports it (`rr_target`) and that edge's clock at its last report
// (`local_time`), online or not, whether its stream is on air on this node, and its
// streaming flag as a switch (PUT /v1/source/{id}/streaming?new_state=…); a form to
// define one, Delete, its live URL and its recordings. One poll refreshes the list;
// each source's card is updated in place, so focus and a switch being turned stay put.

import {
  Refresher, api, content, copyField, deleteAt, el, problem, run, say, scroller,
  state, when,
} from "/ui/static/lib.js";

/**
 * @typedef {{id: string, name: string, segment_length: number, streaming: number,
 *   description?: string, rr_target?: string, local_time?: string, online: boolean,
 *   created_at: string | null, updated_at: string | null}} Source
 * @typedef {{section: HTMLElement, edge: HTMLElement, status: HTMLElement,
 *   air: HTMLElement, toggle: HTMLInputElement, toggleState: HTMLElement,
 *   busy: boolean, edit: number, streaming: boolean}} Card
 */

const REFRESH_MS = 4000;

/** @type {Map<string, Card>} */
const cards = new Map();
/** Switches turned so far: a poll's answer is applied only to switches not turned since it was asked for. */
let edits = 0;
/** Sources deleted from this page (a list asked for before may still hold them). @type {Set<string>} */
const deleted = new Set();
/** Stream names on air on this node (GET /api/streams). @type {Set<string>} */
let onAir = new Set();

const list = el("div", { id: "sources" });

/**
 * Shows what the server holds of `s`. The switch is left alone while it is being turned,
 * and when `since` (the edit count when the answer was asked for) predates its last turn:
 * a poll answered before a change must not undo it.
 * @param {Source} s @param {Card} card @param {number} [since]
 */
function showStatus(s, card, since = edits) {
  card.edge.replaceChildren(s.rr_target ? el("strong", { text: s.rr_target })
    : el("span", { class: "note", text: "none: no edge has reported it" }));
  if (s.rr_target) {
    card.status.replaceChildren(
      el("span", { class: `badge ${s.online ? "ok" : "bad"}`, text: s.online ? "online" : "offline" }),
      " ",
      el("span", { class: "note", text: s.local_time
        ? `last report at the edge's ${when(s.local_time)}` : "no report yet" }));
  } else {
    card.status.replaceChildren(el("span", { class: "note",
      text: "no edge (pushed to this node directly, if at all)" }));
  }
  const here = onAir.has(s.name);
  card.air.replaceChildren(el("span", { class: `badge ${here ? "ok" : ""}`,
    text: here ? "on air" : "not on air" }));
  if (!card.busy && card.edit <= since) showSwitch(card, s.streaming === 1);
}

/** @param {Card} card @param {boolean} on */
function showSwitch(card, on) {
  card.streaming = on;
  card.toggle.checked = on;
  card.toggleState.textContent = on ? "on" : "off";
}

/**
 * Sends the switch's state until the server holds what it shows (it may be turned again
 * while a request is out), then shows the server's state. The switch stays enabled, so
 * keyboard focus stays on it.
 * @param {Card} card @param {Source} s
 */
async function setStreaming(card, s) {
  card.edit = ++edits;
  if (card.busy) return;  // the loop below sends the latest state
  card.busy = true;
  card.toggle.setAttribute("aria-busy", "true");
  const path = `/v1/source/${encodeURIComponent(s.id)}`;
  /** @type {boolean | null} */
  let held = null;
  try {
    for (;;) {
      const wanted = card.toggle.checked;
      card.toggleState.textContent = wanted ? "turning on…" : "turning off…";
      await api(`${path}/streaming?new_state=${wanted}`, { method: "PUT" });
      // What the server now holds, not what was asked for.
      held = (await api(path)).source.streaming === 1;
      if (held === card.toggle.checked) break;
    }
    problem("");
  } catch (err) {
    problem(`Could not turn streaming ${card.toggle.checked ? "on" : "off"} for ${s.name}: ${/** @type {Error} */ (err).message}`);
  } finally {
    card.busy = false;
    card.toggle.removeAttribute("aria-busy");
    card.edit = ++edits;
    showSwitch(card, held === null ? card.streaming : held);
  }
}

/** @param {Source} s @returns {Card} */
function newCard(s) {
  const id = encodeURIComponent(s.id);
  const toggle = /** @type {HTMLInputElement} */ (el("input", { type: "checkbox", role: "switch",
    "aria-describedby": `streaming-note-${s.id}` }));
  const card = /** @type {Card} */ ({
    section: el("section", { class: "panel source", "data-id": s.id, "aria-label": `Source ${s.name}` }),
    edge: el("td"), status: el("td"), air: el("td"), toggle,
    toggleState: el("span", { "aria-hidden": "true" }), busy: false, edit: 0,
    streaming: s.streaming === 1,
  });
  toggle.addEventListener("change", () => setStreaming(card, s));
  const remove = el("button", { type: "button", class: "danger", text: "Delete",
    "aria-label": `Delete source ${s.name}`,
    onclick: async (/** @type {Event} */ event) => {
      if (!confirm(`Delete the source ${s.name}? Its recordings stay.`)) return;
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await deleteAt(`/v1/source/${id}`);
        problem("");
      } catch (err) {
        problem(`Could not delete ${s.name}: ${/** @type {Error} */ (err).message}`);
        button.disabled = false;
        return;
      }
      deleted.add(s.id);
      card.section.remove();
      cards.delete(s.id);
      await refresh();
    } });
  card.section.append(
    el("h3", {}, el("a", { href: `/ui/streams/${encodeURIComponent(s.name)}`, text: s.name,
      title: "its live stream" })),
    s.description ? el("p", { class: "note", text: s.description }) : "",
    el("p", { class: "row" },
      el("label", { class: "switch" }, toggle, el("span", {}, "Streaming ", card.toggleState)),
      el("span", { class: "note", id: `streaming-note-${s.id}`,
        text: "While on, pushes to it are taken and it plays at its live URLs; an edge forwards it." })),
    scroller(`Details of ${s.name}`, el("table", {}, el("tbody", {},
      el("tr", {}, el("th", { scope: "row", text: "ID" }), el("td", {}, el("code", { text: s.id }))),
      el("tr", {}, el("th", { scope: "row", text: "Segment length" }),
        el("td", { text: `${s.segment_length} s` })),
      el("tr", {}, el("th", { scope: "row", text: "Edge" }), card.edge),
      el("tr", {}, el("th", { scope: "row", text: "Status" }), card.status),
      el("tr", {}, el("th", { scope: "row", text: "This node" }), card.air)))),
    copyField("Live (LiveMix)", `/v1/vod/live/${id}/vid.m3u8`),
    copyField("Live (hlsd)", `/live/${encodeURIComponent(s.name)}/index.m3u8`),
    el("p", { class: "row" },
      el("a", { href: `/ui/recordings?source=${id}`, text: "Recordings",
        "aria-label": `Recordings of ${s.name}` }),
      remove));
  // The switch's accessible name, whatever its visible state text says.
  toggle.setAttribute("aria-label", `Streaming for ${s.name}`);
  return card;
}

function emptyState() {
  return el("div", { class: "empty" },
    el("p", { text: "No sources yet." }),
    el("p", {}, "A source is LiveMix's name for a camera feed: define one here (its name is also its stream's name, played at ",
      el("code", { text: "/live/<name>/" }), "), turn streaming on, and let the camera's ffmpeg post its playlists to ",
      el("code", { text: "POST /v1/playlist" }), " with the header ",
      el("code", { text: "Video-Source-Name: <name>" }), ", on this node or on an edge."),
    el("p", {}, "An edge runs on the camera's network and dials out to this node: ",
      el("code", { text: `hlsd edge --control ${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/edge --key KEY` }),
      ", with KEY in this node's ", el("code", { text: "livemix.edge_keys" }),
      ". It forwards the sources whose streaming is on; the edge holding a source, and whether it still reports, show here."));
}

/** @param {Source[]} sources @param {number} since */
function render(sources, since) {
  state.sources = sources;
  for (const id of [...cards.keys()]) {
    if (!sources.some((s) => s.id === id)) {
      cards.get(id)?.section.remove();
      cards.delete(id);
    }
  }
  if (!sources.length) {
    list.replaceChildren(emptyState());
    return;
  }
  const ordered = sources.map((s) => {
    let card = cards.get(s.id);
    if (!card) {
      card = newCard(s);
      cards.set(s.id, card);
    }
    showStatus(s, card, since);
    return card.section;
  });
  const current = [...list.children];
  if (current.length !== ordered.length || current.some((c, i) => c !== ordered[i])) {
    list.replaceChildren(...ordered);
  }
}

const refresher = new Refresher(load);

/** Refreshes after any refresh in progress (so a change made meanwhile is seen). */
function refresh() {
  return refresher.now();
}

async function load() {
  const since = edits;
  const [sources, streams] = await Promise.all([
    api("/v1/source"),
    api("/api/streams").catch(() => null),  // "on air" is a nicety
  ]);
  if (streams) onAir = new Set((streams.streams || []).map((/** @type {{name: string}} */ s) => s.name));
  /** @type {Source[]} */
  const all = (sources.sources || []).filter((/** @type {Source} */ s) => !deleted.has(s.id));
  all.sort((a, b) => a.name.localeCompare(b.name));
  render(all, since);
  state.polls = Number(state.polls || 0) + 1;
}

function form() {
  const name = /** @type {HTMLInputElement} */ (el("input", { name: "name", id: "source-name",
    required: true, maxlength: 128, autocomplete: "off", spellcheck: "false",
    "aria-describedby": "source-name-note" }));
  const length = /** @type {HTMLInputElement} */ (el("input", { name: "segment_len", id: "source-segment",
    type: "number", min: 1, max: 3600, step: 1, value: 2, required: true }));
  const description = /** @type {HTMLInputElement} */ (el("input", { name: "description",
    id: "source-description", maxlength: 4096, autocomplete: "off" }));
  const error = el("p", { class: "alert", role: "alert", id: "source-error", hidden: true });
  const done = el("p", { class: "note", role: "status", "aria-live": "polite" });
  const submit = /** @type {HTMLButtonElement} */ (el("button", { type: "submit", class: "primary",
    text: "Create source" }));
  const node = el("form", { class: "inline", id: "new-source", "aria-labelledby": "new-source-title" },
    el("label", { for: "source-name" }, "Name", name),
    el("label", { for: "source-segment" }, "Segment length (s)", length),
    el("label", { for: "source-description" }, "Description (optional)", description),
    submit);
  const section = el("section", { class: "panel" },
    el("h2", { id: "new-source-title", text: "New source" }),
    node,
    el("p", { class: "note", id: "source-name-note",
      text: "The name is a stream id: letters, digits and _ . ~ - (up to 128, starting with a letter or digit). A new source starts with streaming off." }),
    error, done);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(error, "");
    done.textContent = "";
    submit.disabled = true;
    /** @type {Record<string, unknown>} */
    const body = { name: name.value.trim(), segment_len: Number(length.value) };
    if (description.value.trim()) body.description = description.value.trim();
    try {
      const created = (await api("/v1/source", { method: "POST", json: body })).source;
      done.textContent = `Source ${created.name} created.`;
      name.value = "";
      description.value = "";
      await refresh();
      cards.get(created.id)?.toggle.focus();
    } catch (err) {
      const text = `Could not create the source: ${/** @type {Error} */ (err).message}`;
      state.problems.push(text);
      say(error, text);
      name.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return section;
}

async function main() {
  content().replaceChildren(
    el("p", { class: "note", text: "LiveMix video sources. Their streams also play at /live/<name>/; recordings of a source are listed with every recording." }),
    form(),
    el("h2", { text: "Sources" }),
    list);
  await refresh();
  refresher.every(REFRESH_MS, "the sources");
}

run(main);

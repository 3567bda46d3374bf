// @ts-check
// /: the node at a glance. Its live streams as cards (a thumbnail of the newest segment,
// bitrate, viewers, how it is published, its variants), the node's health and each
// backend's state, and its recent warnings and errors; all from one server-sent event
// stream (/api/console/events) that says when anything changes: no polling, and no
// request per stream but its thumbnail when its newest segment changes.

import {
  authHeaders, bitrate, content, copyButton, el, follow, problem, run, scroller, state,
  when,
} from "/ui/static/lib.js";

/**
 * @typedef {{name: string, segments: number, bandwidth: number, bitrate: number,
 *   resolution: string | null, newest: string | null}} Variant
 * @typedef {{name: string, state: string, publisher: string, spectators: number,
 *   playlist: string, variants: Variant[], bitrate: number, viewers: number,
 *   played_recently: boolean, held_requests: number, newest: string | null}} Stream
 * @typedef {{state: string, since: string}} Backend
 * @typedef {{status: string, version: string, backends: Record<string, Backend>,
 *   edge?: Record<string, unknown>}} Node
 * @typedef {{time: string, level: string, logger: string, message: string}} LogEntry
 * @typedef {{streams: Stream[], node: Node, errors: LogEntry[],
 *   publish: {key_required: boolean}}} Snapshot
 * @typedef {{card: HTMLElement, img: HTMLImageElement, caption: HTMLElement,
 *   figures: HTMLElement, variants: HTMLElement, badge: HTMLElement,
 *   shown: string | null, loading: boolean, url: string | null}} Card
 */

/** How each publisher kind is named on its badge. @type {Record<string, string>} */
const PROTOCOLS = {
  http: "HTTP push", livemix: "LiveMix", websocket: "WebSocket", relay: "Relay",
  channel: "Channel", rtmp: "RTMP", srt: "SRT", "http-ts": "HTTP MPEG-TS", edge: "Edge",
};

const STYLE = `
.cards { margin-top: .2rem; }
.card { display: grid; gap: .45rem; align-content: start; }
.card h3 { margin: 0; font-size: 1.05rem; overflow-wrap: anywhere; }
.card .figures { gap: .3rem .8rem; font-size: .92rem; }
.card .variants { margin: 0; font-size: .85rem; }
.thumb-box { position: relative; }
.thumb-box .note { position: absolute; inset: auto .5rem .4rem; font-size: .8rem; margin: 0; }
.health .row { gap: .4rem .8rem; }
.command { align-items: flex-start; }
.log { list-style: none; margin: 0; display: grid; gap: .5rem; }
.log li { border-bottom: 1px solid var(--line); padding-bottom: .45rem; }
.log li:last-child { border-bottom: 0; padding-bottom: 0; }
.log .row { gap: .3rem .7rem; font-size: .88rem; }
.log .message { margin: .25rem 0 0; overflow-wrap: anywhere; }
.ended { margin: .6rem 0 0; }
`;

/** @type {Map<string, Card>} */
const cards = new Map();
const streamsBox = el("div", { id: "streams" });
const endedBox = el("p", { id: "ended", class: "note ended", hidden: true });
const healthBox = el("div", { id: "health", class: "panel health" },
  el("p", { class: "note", text: "Waiting for the node's first report…" }));
const errorsBox = el("div", { id: "errors" });
const updated = el("p", { id: "updated", class: "note" });

/** What the tests read. */
const view = /** @type {{events: number, streams: string[], thumbnails: Record<string, string>}} */ (
  state.overview = { events: 0, streams: [], thumbnails: {} });

/** @param {string} name */
function streamPath(name) {
  return `/ui/streams/${encodeURIComponent(name)}`;
}

// -- streams ----------------------------------------------------------------------------

/** @param {Stream} stream @returns {Card} */
function newCard(stream) {
  const img = /** @type {HTMLImageElement} */ (el("img", {
    class: "thumb", alt: `Latest picture of ${stream.name}`, width: 320, height: 180 }));
  const caption = el("p", { class: "note", text: "Loading a picture…" });
  const figures = el("div", { class: "row figures" });
  const variants = el("p", { class: "note variants" });
  const badge = el("span", { class: "badge" });
  const card = el("article", { class: "panel card", "data-stream": stream.name },
    el("div", { class: "thumb-box" }, img, caption),
    el("h3", {}, el("a", { href: streamPath(stream.name), text: stream.name })),
    el("div", { class: "row" }, badge), figures, variants);
  return { card, img, caption, figures, variants, badge, shown: null, loading: false,
    url: null };
}

/** @param {Card} entry @param {Stream} stream */
function fillCard(entry, stream) {
  entry.badge.textContent = PROTOCOLS[stream.publisher] || stream.publisher;
  entry.badge.title = `published over ${entry.badge.textContent}`;
  const viewers = `${stream.viewers} websocket viewer${stream.viewers === 1 ? "" : "s"}`;
  entry.figures.replaceChildren(
    el("span", { text: bitrate(stream.bitrate), title: "over its newest segments" }),
    el("span", { text: viewers }),
    // HTTP players hold no connection to count: a playlist asked for lately says someone
    // watches, and held Low-Latency requests are about one per LL-HLS player.
    el("span", { class: stream.played_recently ? "ok" : "note",
      text: stream.played_recently
        ? `HLS players watching${stream.held_requests ? ` (about ${stream.held_requests} low-latency)` : ""}`
        : "no HLS player lately" }));
  const variants = stream.variants.filter((v) => v.segments > 0);
  entry.variants.textContent = variants.length > 1 || (variants[0] && variants[0].name)
    ? `Variants: ${variants.map((v) => [v.name || "main", v.resolution, bitrate(v.bitrate)]
      .filter(Boolean).join(" · ")).join(", ")}`
    : `One variant${variants[0] && variants[0].resolution ? `, ${variants[0].resolution}` : ""}`;
  if (stream.newest && stream.newest !== entry.shown && !entry.loading) {
    loadThumbnail(stream.name, entry, stream.newest);
  }
}

/**
 * The picture of the stream's newest segment, fetched with the admin key (so not an
 * <img src>) into an object URL; the one it replaces is released.
 * @param {string} name @param {Card} entry @param {string} newest
 */
async function loadThumbnail(name, entry, newest) {
  entry.loading = true;
  try {
    const response = await fetch(`/api/streams/${encodeURIComponent(name)}/thumbnail.jpg`,
      { headers: authHeaders(), cache: "no-store", signal: AbortSignal.timeout(20_000) });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      entry.caption.textContent = `No picture: ${(data && data.error) || `HTTP ${response.status}`}`;
      entry.caption.hidden = false;
      entry.shown = newest; // asked again when the next segment comes
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    await new Promise((resolve) => {
      entry.img.addEventListener("load", resolve, { once: true });
      entry.img.addEventListener("error", resolve, { once: true });
      entry.img.src = url;
    });
    if (entry.url) URL.revokeObjectURL(entry.url);
    entry.url = url;
    entry.shown = newest;
    entry.caption.hidden = true;
    view.thumbnails[name] = newest;
  } catch (err) {
    entry.caption.textContent = `No picture: ${/** @type {Error} */ (err).message}`;
    entry.caption.hidden = false;
  } finally {
    entry.loading = false;
    if (!cards.has(name) && entry.url) URL.revokeObjectURL(entry.url);
  }
}

/** @param {Stream[]} streams @param {Snapshot["publish"]} publish */
function showStreams(streams, publish) {
  const live = streams.filter((s) => s.state === "live");
  for (const [name, entry] of cards) {
    if (!live.some((s) => s.name === name)) {
      cards.delete(name);
      if (entry.url && !entry.loading) URL.revokeObjectURL(entry.url);
    }
  }
  if (!live.length) {
    streamsBox.replaceChildren(emptyState(publish));
  } else {
    const grid = el("div", { class: "grid cards" });
    for (const stream of live) {
      let entry = cards.get(stream.name);
      if (!entry) {
        entry = newCard(stream);
        cards.set(stream.name, entry);
      }
      fillCard(entry, stream);
      grid.append(entry.card); // moves a card kept from before: its picture stays
    }
    streamsBox.replaceChildren(grid);
  }
  const ended = streams.filter((s) => s.state !== "live");
  endedBox.hidden = !ended.length;
  endedBox.replaceChildren("Recently ended: ", ...ended.flatMap((s, i) => [
    i ? ", " : "", el("a", { href: streamPath(s.name), text: s.name })]));
  view.streams = live.map((s) => s.name);
}

/** How to publish a first stream, with this node's own address. @param {Snapshot["publish"]} publish */
function emptyState(publish) {
  const key = publish.key_required ? ' -headers "Authorization: Bearer $PUBLISH_KEY"' : "";
  const command = "ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -g 50 -c:a aac "
    + `-f hls -hls_time 2 -method PUT${key} ${location.origin}/ingest/cam1/index.m3u8`;
  return el("div", { class: "empty" },
    el("p", { text: "No live streams yet. Publish one with ffmpeg (any name in place of cam1):" }),
    el("div", { class: "url command" }, el("code", { id: "publish-command", text: command }),
      ...copyButton(command, "the ffmpeg command")),
    el("p", { class: "note", text: publish.key_required
      ? "PUBLISH_KEY is one of the node's live.publish_keys. RTMP, SRT, WebSocket and LiveMix publishers work too (see the README)."
      : "No publish key is set, so this node takes pushes from its own host only (set live.publish_keys to publish from elsewhere). RTMP, SRT, WebSocket and LiveMix publishers work too (see the README)." }));
}

// -- node -------------------------------------------------------------------------------

/** @param {string} value */
function stateClass(value) {
  if (["ok", "up", "connected"].includes(value)) return "ok";
  if (["degraded", "down", "disconnected"].includes(value)) return "bad";
  return "warn";
}

/** @param {Node} node */
function showHealth(node) {
  const rows = Object.entries(node.backends).map(([name, backend]) => el("tr", {},
    el("th", { scope: "row", text: name }),
    el("td", {}, el("span", { class: `badge ${stateClass(backend.state)}`, text: backend.state })),
    el("td", { text: `since ${when(backend.since)}` })));
  const edge = node.edge;
  if (edge && typeof edge === "object") {
    const linkState = String(edge.state || "unknown");
    rows.push(el("tr", {},
      el("th", { scope: "row", text: `control link${edge.control ? ` (${edge.control})` : ""}` }),
      el("td", {}, el("span", { class: `badge ${stateClass(linkState)}`, text: linkState })),
      el("td", { text: edge.since ? `since ${when(String(edge.since))}` : "" })));
  }
  healthBox.replaceChildren(
    el("div", { class: "row" },
      el("span", { text: "Node" }),
      el("span", { id: "node-status", class: `badge ${stateClass(node.status)}`, text: node.status }),
      el("span", { class: "note", text: `hlsd ${node.version}` })),
    rows.length
      ? scroller("Backends", el("table", { "aria-label": "Backends" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Backend" }),
          el("th", { scope: "col", text: "State" }), el("th", { scope: "col", text: "Changed" }))),
        el("tbody", {}, ...rows)))
      : el("p", { class: "note", text: "No backends to watch." }));
}

/** A log time: the time of day when it is today's, else the date too. @param {string} iso */
function logTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toDateString() === new Date().toDateString()
    ? date.toLocaleTimeString() : date.toLocaleString();
}

/** @param {LogEntry[]} entries */
function showErrors(entries) {
  if (!entries.length) {
    errorsBox.replaceChildren(el("p", { class: "empty",
      text: "No warnings or errors since hlsd started." }));
    return;
  }
  // Newest first; every part of an entry is text (a message may quote a client).
  const items = [...entries].reverse().map((entry) => el("li", {},
    el("div", { class: "row" },
      el("span", { class: `badge ${entry.level === "WARNING" ? "warn" : "bad"}`,
        text: entry.level.toLowerCase() }),
      el("time", { class: "note", datetime: entry.time, text: logTime(entry.time) }),
      el("span", { class: "note mono", text: entry.logger })),
    el("p", { class: "message", text: entry.message })));
  errorsBox.replaceChildren(el("ul", { class: "panel log",
    "aria-label": "Recent warnings and errors, newest first" }, ...items));
}

// -- the page ---------------------------------------------------------------------------

/** @param {Snapshot} snapshot */
function show(snapshot) {
  view.events += 1;
  showStreams(snapshot.streams, snapshot.publish);
  showHealth(snapshot.node);
  showErrors(snapshot.errors);
  updated.textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
}

async function main() {
  document.head.append(el("style", { text: STYLE }));
  content().replaceChildren(
    el("section", { "aria-labelledby": "streams-title" },
      el("h2", { id: "streams-title", text: "Live streams" }), streamsBox, endedBox),
    el("section", { "aria-labelledby": "health-title" },
      el("h2", { id: "health-title", text: "Health" }), healthBox),
    el("section", { "aria-labelledby": "errors-title" },
      el("h2", { id: "errors-title", text: "Recent warnings and errors" }), errorsBox),
    updated);
  streamsBox.replaceChildren(el("p", { class: "note", text: "Connecting…" }));
  const stop = new AbortController();
  window.addEventListener("pagehide", () => stop.abort());
  await follow("/api/console/events", (name, data) => {
    if (name === "overview") show(/** @type {Snapshot} */ (data));
  }, stop.signal, (text) => {
    problem(text);
    if (text) updated.textContent = "Not live: the updates are interrupted.";
  });
}

run(main);

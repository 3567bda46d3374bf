// @ts-check
// The stream page, /ui/streams/{name}: the live stream played (hls.js, low-latency mode
// when it has parts), its variants, a graph of each variant's measured bitrate, who
// watches it, its recordings (start, stop), playback tokens and its URLs.
//
// The data comes from one poll of GET /api/streams/{name} every 2 s. A stream that is
// not on air says so in place of the player, and the poll goes on: the player starts
// as soon as the stream comes on air, and stops when it goes off.

import {
  ApiError, api, arg, bitrate, content, copyButton, copyField, el, play, problem, run,
  scroller, state, when,
} from "/ui/static/lib.js";
import { BitrateGraph } from "/ui/static/pages/_bitrate.js";

const POLL_MS = 2000;
/** Polls between two reads of the recordings (30 s): the page also reads them at once
 * after its own start or stop, and when the stream goes on or off air. */
const RECORDINGS_EVERY = 15;
/** The bitrate graph keeps the last five minutes of segments. */
const GRAPH_SPAN_S = 300;
/** The life of the token the page's own player gets on a token-gated node; a new one
 * is minted when the player is restarted. */
const PLAYER_TOKEN_TTL_S = 6 * 3600;
/** A player stopped by a fatal error is restarted after this, then twice as late each
 * time it fails again (a publisher that restarted, an expired token). */
const RESTART_FIRST_MS = 4000;
const RESTART_MAX_MS = 60_000;
const TTLS = /** @type {const} */ ([
  [600, "10 minutes"], [3600, "1 hour"], [6 * 3600, "6 hours"], [86_400, "1 day"],
  [7 * 86_400, "7 days"]]);

/**
 * @typedef {{sequence: number, at: string, bitrate: number}} Rate
 * @typedef {{name: string, segments: number, offered: boolean, media_sequence: number,
 *   target_duration: number | null, part_target: number | null, bandwidth: number,
 *   resolution: string | null, segment_rates?: Rate[]}} Variant
 * @typedef {{name: string, state: string, publisher: string, spectators: number,
 *   readers: number, held_requests: number, played_recently: boolean, parts: boolean,
 *   access: string, playlist: string, variants: Variant[]}} StreamInfo
 * @typedef {{id: string, stream: string, alias: string | null, start_ts: string | null,
 *   end_ts: string | null, active: boolean, playlist: string, mp4: string}} Recording
 * @typedef {{hls: any, destroy: () => void}} Player
 */

const name = arg();
const streamPath = `/api/streams/${encodeURIComponent(name)}`;
const livePath = `/live/${encodeURIComponent(name)}/index.m3u8`;

/** What the tests read. */
const page = /** @type {{stream: StreamInfo | null, offAir: string,
 *   samples: Record<string, number>, recordings: Recording[], token: string}} */ ({
  stream: null, offAir: "", samples: {}, recordings: [], token: "" });
state.page = page;

// -- what the page says went wrong --------------------------------------------------

/** @type {Map<string, string>} */
const issues = new Map();

/**
 * Sets (or, with "", clears) what went wrong with one part of the page; the page's
 * alert shows them all, and is only written when what it says changes.
 * @param {string} part
 * @param {string} text
 */
function issue(part, text) {
  const before = [...issues.values()].join(" ");
  if (text) issues.set(part, text); else issues.delete(part);
  const after = [...issues.values()].join(" ");
  if (after !== before) problem(after);
}

/** @param {unknown} err */
function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/** @param {unknown} err A refusal that put up the sign-in form: nothing else to say. */
function signIn(err) {
  return err instanceof ApiError && (err.status === 401 || err.status === 403);
}

// -- the page's parts ---------------------------------------------------------------

/**
 * @param {string} id
 * @param {string} title
 * @param {...(Node | string | null)} children
 */
function panel(id, title, ...children) {
  return el("section", { class: "panel", id, "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title`, text: title }), ...children);
}

/**
 * A labelled value with a Copy button (a token: text, not a URL).
 * @param {string} label
 * @param {string} text
 */
function copyText(label, text) {
  return el("div", { class: "url" },
    el("span", { class: "note", text: label }),
    el("code", { text }), ...copyButton(text, `the ${label.toLowerCase()}`));
}

const badges = el("p", { class: "row", id: "badges" });
const offAir = el("p", { class: "alert", id: "off-air", role: "status", hidden: true });
const publishHelp = el("p", { class: "note", id: "publish-help", hidden: true },
  "Publish it under this name: HTTP push (ffmpeg -f hls -method PUT) to ",
  el("code", { text: `/ingest/${encodeURIComponent(name)}/index.m3u8` }),
  ", one continuous MPEG-TS upload to ",
  el("code", { text: `/ingest/${encodeURIComponent(name)}.ts` }),
  ", RTMP, SRT or a websocket PUSH.");
const waiting = el("p", { class: "note", id: "waiting", hidden: true });
const screen = el("div", { id: "screen" });
const viewers = el("tbody");
const variantRows = el("tbody");
const variantsEmpty = el("p", { class: "empty", hidden: true,
  text: "No variants: nothing has been published under this name here." });
const variantsTable = scroller("Variants",
  el("table", {},
    el("thead", {}, el("tr", {}, ...["Variant", "Resolution", "Bandwidth", "Measured",
      "Segments", "Target", "Part target"].map((h) => el("th", { scope: "col", text: h })))),
    variantRows), { id: "variants-table" });
const graph = new BitrateGraph(GRAPH_SPAN_S);
const recordingControl = el("div", { id: "recording-control" });
const recordingList = el("div", { id: "recording-list" });
const accessNote = el("p", { class: "note", id: "access-note", hidden: true });
const tokenOut = el("div", { id: "token-out", "aria-live": "polite" });

// -- the player ---------------------------------------------------------------------

/** @type {Player | null} */
let player = null;
let playerParts = false;
let failedAt = 0;
let restartAfter = RESTART_FIRST_MS;

/** Whether the stream has something to play: a variant on offer with segments. */
function playable(/** @type {StreamInfo} */ info) {
  return info.state === "live" && info.variants.some((v) => v.offered && v.segments > 0);
}

/**
 * Plays the stream in a new <video> (the old one goes with its listeners): with a
 * token of its own when the node gates live playback.
 * @param {StreamInfo} info
 */
async function startPlayer(info) {
  stopPlayer();
  let url = info.playlist || livePath;
  if (info.access === "token") {
    const minted = await api(`${streamPath}/token`, { method: "POST",
      json: { ttl: PLAYER_TOKEN_TTL_S } });
    url += `?token=${encodeURIComponent(minted.token)}`;
  }
  const element = /** @type {HTMLVideoElement} */ (el("video", {
    id: "video", controls: true, muted: true, playsinline: true,
    "aria-label": `Live stream ${name}` }));
  element.muted = true;  // autoplay needs it, whatever the attribute did
  element.addEventListener("playing", () => {
    restartAfter = RESTART_FIRST_MS;
    issue("player", "");
  });
  screen.replaceChildren(element);
  playerParts = info.parts;
  failedAt = 0;
  // Stopped for good: an error, or the end of a stream whose publisher came back
  // between two polls. The next poll after `restartAfter` starts it again.
  for (const stopped of ["error", "ended"]) {
    element.addEventListener(stopped, () => { failedAt = failedAt || Date.now(); });
  }
  player = await play(element, url, {
    lowLatency: info.parts, onProblem: (text) => issue("player", text) });
  if (player.hls && Hls) {
    player.hls.on(Hls.Events.ERROR, (/** @type {unknown} */ _event, /** @type {any} */ data) => {
      if (data.fatal) failedAt = failedAt || Date.now();
    });
  }
}

function stopPlayer() {
  if (player) player.destroy();
  player = null;
  screen.replaceChildren();
}

/**
 * Starts, restarts or stops the player for what the poll found.
 * @param {StreamInfo | null} info
 */
async function steer(info) {
  if (!info || !playable(info)) {
    if (player) stopPlayer();
    issue("player", "");
    return;
  }
  const stuck = failedAt && Date.now() - failedAt >= restartAfter;
  if (!player || playerParts !== info.parts || stuck) {
    if (stuck) restartAfter = Math.min(restartAfter * 2, RESTART_MAX_MS);
    await startPlayer(info);
  }
}

// -- what the poll shows ------------------------------------------------------------

/**
 * @param {string} text
 * @param {string} kind ok, warn or bad
 */
function badge(text, kind = "") {
  return el("span", { class: `badge ${kind}`.trim(), text });
}

/** @param {StreamInfo | null} info */
function showStatus(info) {
  if (!info) {
    badges.replaceChildren(badge("not on air", "bad"));
    return;
  }
  badges.replaceChildren(
    info.state === "live" ? badge("live", "ok") : badge("ended", "warn"),
    badge(`publisher: ${info.publisher}`),
    badge(info.parts ? "LL-HLS (parts)" : "classic HLS"),
    badge(info.access === "token" ? "playback: token" : "playback: public"));
}

/**
 * Says why there is nothing to play, in place of the player; "" when there is.
 * @param {string} text
 */
function sayOffAir(text) {
  page.offAir = text;
  offAir.textContent = text;
  offAir.hidden = !text;
  publishHelp.hidden = !text;
}

/** @param {StreamInfo} info */
function showViewers(info) {
  /** @type {[string, string][]} */
  const rows = [
    ["Websocket spectators", `${info.spectators} (relays to other nodes included)`],
    ["HTTP players", info.played_recently
      ? "watching: a playlist was asked for in the last 10 s (this page's player counts)"
      : "none asked for a playlist in the last 10 s"],
    ["Readers", `${info.readers} (spectators, relays and recordings)`],
  ];
  if (info.parts) {
    rows.push(["LL-HLS requests held", `${info.held_requests} (about one per LL-HLS player)`]);
  }
  viewers.replaceChildren(...rows.map(([label, value]) =>
    el("tr", {}, el("th", { scope: "row", text: label }), el("td", { text: value }))));
}

/** @param {Variant} v */
function variantName(v) {
  return v.name || "(single variant)";
}

/** @param {Variant[]} variants */
function showVariants(variants) {
  variantsEmpty.hidden = variants.length > 0;
  variantsTable.hidden = !variants.length;
  variantRows.replaceChildren(...variants.map((v) => {
    const rates = v.segment_rates || [];
    const newest = rates.length ? rates[rates.length - 1].bitrate : null;
    return el("tr", {},
      el("th", { scope: "row" }, variantName(v), " ",
        v.offered ? null : badge("not offered", "warn")),
      el("td", { text: v.resolution || "–" }),
      el("td", { text: bitrate(v.bandwidth) }),
      el("td", { text: bitrate(newest) }),
      el("td", { text: String(v.segments) }),
      el("td", { text: v.target_duration ? `${v.target_duration} s` : "–" }),
      el("td", { text: v.part_target ? `${v.part_target} s` : "–" }));
  }));
}

// -- recordings ---------------------------------------------------------------------

let recordingsRead = false;

async function readRecordings() {
  try {
    const data = await api(`${streamPath}/recordings`);
    page.recordings = /** @type {Recording[]} */ (data.recordings)
      .sort((a, b) => String(b.start_ts).localeCompare(String(a.start_ts)));
    recordingsRead = true;
    issue("recordings", "");
    showRecordings();
  } catch (err) {
    if (!signIn(err)) issue("recordings", `Could not list the recordings: ${messageOf(err)}.`);
  }
}

/** @param {Recording} r */
function recordingLink(r) {
  return el("a", { href: `/ui/recordings/${encodeURIComponent(r.id)}`,
    text: r.alias ? `${r.alias} (${r.id})` : r.id });
}

/**
 * Runs a recording action from `button`, then reads the recordings again and puts the
 * focus on what replaced the button.
 * @param {HTMLButtonElement} button
 * @param {() => Promise<unknown>} action
 * @param {string} what
 */
async function act(button, action, what) {
  button.disabled = true;
  try {
    await action();
    issue("recording", "");
  } catch (err) {
    if (!signIn(err)) issue("recording", `Could not ${what}: ${messageOf(err)}.`);
  }
  await readRecordings();
  const next = /** @type {HTMLElement | null} */ (recordingControl.querySelector("button"));
  if (next) next.focus();
}

function showRecordings() {
  const active = page.recordings.filter((r) => r.active);
  if (active.length) {
    recordingControl.replaceChildren(...active.map((r) => {
      const stop = /** @type {HTMLButtonElement} */ (el("button", {
        type: "button", class: "danger", text: "Stop recording",
        "aria-label": `Stop recording ${r.alias || r.id}` }));
      stop.addEventListener("click", () => act(stop, () => api(
        `/api/recordings/${encodeURIComponent(r.id)}/stop`, { method: "POST" }),
      "stop the recording"));
      return el("p", { class: "row" }, badge("recording", "bad"),
        el("span", {}, "since ", when(r.start_ts), ": "), recordingLink(r), stop);
    }));
  } else {
    const alias = /** @type {HTMLInputElement} */ (el("input", { id: "recording-alias",
      name: "alias", maxlength: "255", placeholder: "optional" }));
    const start = /** @type {HTMLButtonElement} */ (el("button", { type: "submit",
      class: "primary", text: "Start recording" }));
    const form = el("form", { class: "inline", id: "start-recording" },
      el("label", {}, "Name", alias), start);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const json = alias.value.trim() ? { alias: alias.value.trim() } : {};
      act(start, () => api(`${streamPath}/recordings`, { method: "POST", json }),
        "start a recording");
    });
    recordingControl.replaceChildren(form);
  }
  if (!page.recordings.length) {
    recordingList.replaceChildren(el("p", { class: "empty",
      text: "No recordings of this stream yet. Start one above: it records from now until you stop it." }));
    return;
  }
  const shown = page.recordings.slice(0, 5);
  recordingList.replaceChildren(
    el("ul", { style: "padding-left: 1.1rem" }, ...shown.map((r) => el("li", {},
      el("p", { class: "row" }, recordingLink(r),
        el("span", { class: "note", text: r.active
          ? `since ${when(r.start_ts)}` : `${when(r.start_ts)} to ${when(r.end_ts)}` })),
      copyField("Recording HLS", r.playlist),
      copyField("Recording MP4", r.mp4)))),
    el("p", {}, el("a", { href: "/ui/recordings",
      text: page.recordings.length > shown.length
        ? `All ${page.recordings.length} recordings` : "All recordings" })));
}

// -- playback tokens ----------------------------------------------------------------

/** @param {string | undefined} access */
function showAccess(access) {
  if (access === "public") {
    accessNote.textContent = "Live playback on this node is public (live.access: public): "
      + "players need no token. A token matters only once live.access is token.";
  } else if (access === "token") {
    accessNote.textContent = "Live playback on this node needs a token (live.access: token): "
      + "give players the tokenised URL.";
  }
  accessNote.hidden = !access;
}

function tokenForm() {
  const ttl = /** @type {HTMLSelectElement} */ (el("select", { id: "token-ttl", name: "ttl" },
    ...TTLS.map(([seconds, label]) => el("option", { value: String(seconds), text: label,
      selected: seconds === 3600 }))));
  const mint = /** @type {HTMLButtonElement} */ (el("button", { type: "submit",
    class: "primary", text: "Mint a playback token" }));
  const form = el("form", { class: "inline", id: "mint-token" },
    el("label", {}, "Valid for", ttl), mint);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mint.disabled = true;
    try {
      const minted = await api(`${streamPath}/token`, { method: "POST",
        json: { ttl: Number(ttl.value) } });
      page.token = minted.token;
      showAccess(minted.access);
      tokenOut.replaceChildren(
        copyText("Token", minted.token),
        copyField("Tokenised HLS", `${livePath}?token=${encodeURIComponent(minted.token)}`),
        el("p", { class: "note", text: `Valid until ${new Date(minted.expires * 1000).toLocaleString()}, for this stream only.` }));
      issue("token", "");
    } catch (err) {
      if (!signIn(err)) issue("token", `Could not mint a token: ${messageOf(err)}.`);
    } finally {
      mint.disabled = false;
    }
  });
  return form;
}

// -- the poll -----------------------------------------------------------------------

let wasOnAir = /** @type {boolean | null} */ (null);
let polls = 0;
let channelChecked = false;

/** @param {StreamInfo} info */
function onAir(info) {
  page.stream = info;
  showStatus(info);
  showViewers(info);
  showVariants(info.variants);
  page.samples = graph.collect(info.variants);
  graph.draw();
  showAccess(info.access);
  if (info.state !== "live") {
    sayOffAir(`Not live: “${name}” ended (its publisher stopped or went quiet). `
      + "This page checks every 2 s and plays it when it comes back on air.");
  } else {
    sayOffAir("");
  }
  waiting.hidden = info.state !== "live" || playable(info);
  waiting.textContent = "On air, waiting for its first segment…";
}

/** @param {string} reason the server's */
async function notOnAir(reason) {
  page.stream = null;
  showStatus(null);
  sayOffAir(`Not live: ${reason} (nothing publishes it here now). `
    + "This page checks every 2 s and plays it as soon as it comes on air.");
  waiting.hidden = true;
  viewers.replaceChildren(el("tr", {}, el("td", { colspan: "2", class: "note",
    text: "Nobody: the stream is not on air." })));
  showVariants([]);
  graph.draw();
  if (!channelChecked) {
    channelChecked = true;
    try {
      await api(`/api/channels/${encodeURIComponent(name)}`);
      publishHelp.replaceChildren(`“${name}” is a channel, not a published stream: `,
        el("a", { href: `/ui/channels/${encodeURIComponent(name)}`, text: "its page" }),
        " plays it.");
    } catch { /* not a channel (or no channels here): the publishing help stands */ }
  }
}

async function poll() {
  /** @type {StreamInfo | null} */
  let info = null;
  try {
    info = await api(streamPath);
    issue("poll", "");
  } catch (err) {
    if (signIn(err)) return;  // the sign-in form replaced the page: no more polls
    if (err instanceof ApiError && err.status === 404) {
      issue("poll", "");
      await notOnAir(err.message);
    } else {
      issue("poll", `Could not read the stream from hlsd (${messageOf(err)}); trying again every 2 s.`);
      setTimeout(tick, POLL_MS);
      return;
    }
  }
  if (info) onAir(info);
  const live = Boolean(info && info.state === "live");
  if (wasOnAir !== live || !recordingsRead || ++polls % RECORDINGS_EVERY === 0) {
    await readRecordings();
  }
  wasOnAir = live;
  try {
    await steer(info);
  } catch (err) {
    if (signIn(err)) return;
    issue("player", `Cannot play: ${messageOf(err)}.`);
    failedAt = failedAt || Date.now();
  }
  setTimeout(tick, POLL_MS);
}

function tick() {
  poll().catch((err) => {
    issue("poll", `The page stopped updating: ${messageOf(err)}. Reload it.`);
  });
}

/**
 * Panels side by side while they fit, one above the other on a phone: `grow` is each
 * one's share of a wide row, `basis` the width below which it takes a row of its own.
 * @param {[HTMLElement, number, string][]} items
 */
function side(items) {
  for (const [item, grow, basis] of items) {
    item.style.flex = `${grow} 1 min(100%, ${basis})`;
    item.style.minWidth = "0";
  }
  return el("div", { class: "row", style: "align-items: stretch; gap: 1rem" },
    ...items.map(([item]) => item));
}

async function main() {
  document.title = `${name} · hlsd`;
  content().replaceChildren(
    side([
      [panel("player", "Player", badges, offAir, publishHelp, waiting, screen), 3, "30rem"],
      [panel("viewers", "Viewers", scroller("Viewers",
        el("table", {}, viewers))), 1, "16rem"]]),
    panel("variants", "Variants", variantsEmpty, variantsTable),
    panel("bitrate", "Bitrate", el("p", { class: "note",
      text: "Each segment's size over its duration, per variant, over the last five minutes." }),
    graph.element, graph.legend),
    side([
      [panel("recording", "Recording", recordingControl, recordingList), 1, "24rem"],
      [panel("token", "Playback token", accessNote, tokenForm(), tokenOut), 1, "24rem"]]),
    panel("urls", "URLs",
      copyField("HLS", livePath),
      copyField("Websocket spectate page", `/web/spectate?stream=${encodeURIComponent(name)}`),
      el("p", { class: "note", text: "The recordings' URLs are listed with each recording." })));
  for (const block of content().children) {
    /** @type {HTMLElement} */ (block).style.marginBottom = "1rem";
  }
  let resized = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = window.setTimeout(() => graph.draw(), 150);
  });
  await poll();
}

run(main);

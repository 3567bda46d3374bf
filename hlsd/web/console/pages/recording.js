// @ts-check
// /ui/recordings/{id}: one recording: what it records and its figures, a replay player,
// its MP4 export to download, the URLs a player elsewhere needs, Stop while it records,
// Delete. Replay and export are public by default; with `recording.access: token` they
// need a token bound to the recording, minted here with the admin key
// (POST /api/recordings/{id}/token) and carried as `?token=` (the playlists then carry
// it in their URIs, and a download link can carry it too).

import {
  ApiError, api, arg, bytes, content, copyField, deleteAt, duration, el, play, problem,
  run, say, scroller, state, when,
} from "/ui/static/lib.js";

/**
 * @typedef {{id: string, stream: string, source_id: string | null, alias: string | null,
 *   description: string | null, start_ts: string | null, end_ts: string | null,
 *   active: boolean, playlist: string, mp4: string, segments: number, bytes: number,
 *   duration: number}} Details
 */

const REFRESH_MS = 3000;
const TOKEN_TTL = 4 * 3600;

const id = arg();
const base = `/recordings/${encodeURIComponent(id)}`;
const apiPath = `/api/recordings/${encodeURIComponent(id)}`;

/** `?token=…` when replay is gated, else "". */
let tokenQuery = "";
/** @type {{hls: any, destroy: () => void} | null} */
let player = null;
/** While the player is being started (refreshes may overlap). */
let starting = false;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

const facts = el("tbody");
const buttons = el("p", { class: "row" });
const video = /** @type {HTMLVideoElement} */ (el("video", { id: "video", controls: true,
  playsinline: true, "aria-label": "Replay of the recording" }));
const replayNote = el("p", { class: "note", role: "status", "aria-live": "polite" });
const playerProblem = el("p", { class: "alert", role: "alert", hidden: true });
const download = el("p", { class: "row" });
const urls = el("div");
const size = el("span", { class: "note" });
const problems = (/** @type {string} */ text) => {
  if (text) state.problems.push(text);
  say(playerProblem, text);
};

/** @param {Details} r */
function origin(r) {
  const stream = el("a", { href: `/ui/streams/${encodeURIComponent(r.stream)}`, text: r.stream });
  if (!r.source_id) return el("span", {}, "the stream ", stream);
  return el("span", {}, "the LiveMix source ",
    el("a", { href: `/ui/recordings?source=${encodeURIComponent(r.source_id)}`,
      class: "mono", text: r.source_id, title: "its recordings" }),
    " (stream ", stream, ")");
}

/** @param {Details} r */
function showFacts(r) {
  const length = r.active ? `${duration(r.duration)} so far`
    : duration(r.duration);
  /** @type {[string, Node | string][]} */
  const pairs = [
    ["Of", origin(r)],
    ["Alias", r.alias || "–"],
    ["State", el("span", { class: `badge ${r.active ? "ok" : ""}`,
      text: r.active ? "active: recording" : "stopped" })],
    ["Started", when(r.start_ts)],
    ["Ended", r.active ? "–" : when(r.end_ts)],
    ["Recorded", length],
    ["Segments", String(r.segments)],
    ["Size", bytes(r.bytes)],
    ["ID", el("code", { text: r.id })],
  ];
  if (r.description) pairs.splice(2, 0, ["Description", r.description]);
  facts.replaceChildren(...pairs.map(([term, value]) =>
    el("tr", {}, el("th", { scope: "row", text: term }), el("td", {}, value))));
}

/** @param {Details} r */
function showButtons(r) {
  const label = r.alias || r.id;
  const stop = r.active && el("button", { type: "button", id: "stop", text: "Stop recording",
    onclick: async (/** @type {Event} */ event) => {
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await api(`${apiPath}/stop`, { method: "POST" });
        problem("");
      } catch (err) {
        problem(`Could not stop the recording: ${/** @type {Error} */ (err).message}`);
        button.disabled = false;
      }
      await refresh();
      // The Stop button is gone once stopped: keep the keyboard user in the same place.
      if (!button.isConnected) document.getElementById("delete")?.focus();
    } });
  const remove = el("button", { type: "button", id: "delete", class: "danger",
    text: "Delete recording",
    onclick: async (/** @type {Event} */ event) => {
      if (!confirm(`Delete the recording ${label} and everything it stored?`)) return;
      const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
      button.disabled = true;
      try {
        await deleteAt(apiPath);
      } catch (err) {
        problem(`Could not delete the recording: ${/** @type {Error} */ (err).message}`);
        button.disabled = false;
        return;
      }
      stopAll();
      location.assign("/ui/recordings");
    } });
  buttons.replaceChildren(...[stop, remove].filter((b) => b instanceof Node), el("a", { href: "/ui/recordings", text: "All recordings" }));
}

/** @param {Details} r */
function showDownloads(r) {
  if (!r.segments) {
    download.replaceChildren(el("span", { class: "note",
      text: "No MP4 yet: the recording has no segments." }));
  } else {
    const name = `${(r.alias || r.id).replace(/[^A-Za-z0-9_.-]+/g, "_")}.mp4`;
    download.replaceChildren(
      el("a", { class: "button", id: "download", href: `${base}.mp4${tokenQuery}`,
        download: name, text: r.active ? "Download MP4 (so far)" : "Download MP4" }),
      size);
  }
  urls.replaceChildren(
    copyField("HLS replay", `${base}/index.m3u8${tokenQuery}`),
    copyField("MP4", `${base}.mp4${tokenQuery}`));
  if (r.source_id) {
    urls.append(copyField("LiveMix replay",
      `/v1/vod/recording/${encodeURIComponent(id)}/vid.m3u8${tokenQuery}`));
  }
  if (tokenQuery) {
    urls.append(el("p", { class: "note",
      text: `Replay needs a token here (recording.access: token): these URLs carry one valid for ${TOKEN_TTL / 3600} hours.` }));
  }
}

/**
 * Whether the replay playlist answers, minting a token first if replay is gated;
 * the server's reason when it does not.
 * @returns {Promise<{ok: boolean, status: number, reason: string}>}
 */
async function probe() {
  const ask = async () => {
    const response = await fetch(`${base}/index.m3u8${tokenQuery}`, { cache: "no-store" });
    let reason = "";
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      reason = (data && typeof data.error === "string" && data.error) || `HTTP ${response.status}`;
    }
    return { ok: response.ok, status: response.status, reason };
  };
  let answer = await ask();
  if (!tokenQuery && (answer.status === 401 || answer.status === 403)) {
    const minted = await api(`${apiPath}/token`, { method: "POST", json: { ttl: TOKEN_TTL } });
    tokenQuery = `?token=${encodeURIComponent(minted.token)}`;
    answer = await ask();
  }
  return answer;
}

/** Starts the player once there is something to replay, else says why not. @param {Details} r */
async function replay(r) {
  if (player || starting) return;
  if (!r.segments) {
    replayNote.textContent = r.active
      ? "Nothing recorded yet: the replay starts here once the first segment is stored (the stream may not be on air)."
      : "Nothing to replay: no segment was recorded while this recording ran (the stream was not on air).";
    return;
  }
  starting = true;
  try {
    const answer = await probe();
    if (!answer.ok) {
      problems(`Cannot replay: ${answer.reason}.`);
      return;
    }
    replayNote.textContent = r.active
      ? "The recording is still growing: the player follows its end; seek back to watch it from the start."
      : "";
    problems("");
    player = await play(video, `${base}/index.m3u8${tokenQuery}`, { onProblem: problems });
    state.player = player;
  } finally {
    starting = false;
  }
}

function stopAll() {
  clearInterval(timer);
  timer = undefined;
  if (player) player.destroy();
  player = null;
}

/** The recording is gone (deleted here or elsewhere): the page says so. */
function gone() {
  stopAll();
  state.gone = true;
  content().replaceChildren(el("div", { class: "empty" },
    el("p", { text: `No recording ${id}: it was deleted, or the id is wrong.` }),
    el("p", {}, el("a", { href: "/ui/recordings", text: "All recordings" }))));
}

let wasActive = true;
/** What the buttons and the download part were last built for. */
let buttonsFor = "";
let downloadsFor = "";

async function refresh() {
  /** @type {Details} */
  let r;
  try {
    r = await api(apiPath);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      gone();
      return;
    }
    throw err;
  }
  state.recording = r;
  if (r.alias) {
    const title = `Recording ${r.alias}`;
    const heading = document.getElementById("title");
    if (heading && heading.textContent !== title) heading.textContent = title;
    document.title = `${title} · hlsd`;
  }
  showFacts(r);
  // Rebuilt only when what they hold changes, so keyboard focus stays where it is.
  if (String(r.active) !== buttonsFor) showButtons(r);
  buttonsFor = String(r.active);
  await replay(r);
  const downloads = `${r.active}|${r.segments > 0}|${tokenQuery}`;
  if (downloads !== downloadsFor) showDownloads(r);
  downloadsFor = downloads;
  say(size, r.segments ? `${bytes(r.bytes)} of segments, joined into one MP4 when asked for` : "");
  if (!r.active) {
    // Stopped: nothing changes any more.
    clearInterval(timer);
    timer = undefined;
    if (wasActive && player) replayNote.textContent = "";
  }
  wasActive = r.active;
}

async function main() {
  if (!id) {
    problem("No recording named in the address.");
    return;
  }
  content().replaceChildren(
    el("section", { class: "panel", "aria-labelledby": "replay-title" },
      el("h2", { id: "replay-title", text: "Replay" }),
      playerProblem, video, replayNote),
    el("section", { "aria-labelledby": "details-title" },
      el("h2", { id: "details-title", text: "Details" }),
      scroller("Details", el("table", {}, facts)), buttons),
    el("section", { "aria-labelledby": "export-title" },
      el("h2", { id: "export-title", text: "Download and URLs" }), download, urls));
  await refresh();
  if (state.gone) return;
  const r = /** @type {Details} */ (state.recording);
  if (r.active) {
    // Growing: its figures, and the player's start once there is a first segment.
    timer = setInterval(() => {
      refresh().catch((err) => {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) stopAll();
        else problem(`Could not refresh: ${/** @type {Error} */ (err).message}`);
      });
    }, REFRESH_MS);
  }
}

run(main);

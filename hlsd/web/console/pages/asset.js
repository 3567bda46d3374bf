// @ts-check
// /ui/assets/{id}: one asset. Its state and transcode progress (refreshed until it is
// final; a failed one says why), Cancel / Retry / Delete, and once ready a player with a
// quality selector, thumbnails from the sprite while scrubbing, and the HLS, DASH and
// /play URLs; subtitles can be added until its processing starts.

import {
  ApiError, api, arg, bitrate, bytes, content, copyField, duration, el, play, problem, run,
  state, when,
} from "/ui/static/lib.js";
import {
  STYLE as SHARED_STYLE, FINAL, TAKES_SUBTITLES, assetActions, assetApi, assetName,
  progressView, stateBadge,
} from "/ui/static/pages/_assets.js";

/** @typedef {import("/ui/static/pages/_assets.js").Asset} Asset */
/** One thumbnail: a stretch of time and its tile in the sprite. */
/** @typedef {{start: number, end: number, url: string, x: number, y: number, w: number, h: number}} Cue */

const id = arg();
const FAST_MS = 1000;
/** While the asset waits for an upload that may take long. */
const SLOW_MS = 3000;

const STYLE = `
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .6rem 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.scrub-wrap { position: relative; margin: .6rem 0 .4rem; padding-top: .2rem; }
.scrub { position: relative; height: 1.6rem; background: #0d1014; border: 1px solid var(--line);
  border-radius: 6px; cursor: pointer; touch-action: none; }
.scrub-fill { position: absolute; left: 0; top: 0; bottom: 0; background: #1f4f7a; border-radius: 6px 0 0 6px; pointer-events: none; }
.scrub-at { position: absolute; top: -2px; bottom: -2px; width: 2px; background: var(--accent); pointer-events: none; }
.scrub-preview { position: absolute; bottom: 2.1rem; display: grid; gap: .1rem; justify-items: center;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .25rem; z-index: 2; pointer-events: none; }
.scrub-preview[hidden] { display: none; }
.scrub-tile { background-repeat: no-repeat; border-radius: 3px; }
.player-controls { margin: .4rem 0; }
`;

// -- the page's parts, made once and brought up to date --------------------------------

const badge = el("span");
const note = el("span", { class: "note" });
const progress = progressView("Transcode progress");
const failure = el("p", { id: "failure", class: "alert", role: "alert", hidden: true });
const facts = el("dl", { class: "facts" });
const actionsSlot = el("div");
const playerSection = el("section", { id: "player", "aria-labelledby": "player-title",
  hidden: true });
const subtitlesList = el("ul", { id: "subtitles" });
const subtitlesForm = el("div");

/** @type {ReturnType<typeof assetActions> | null} */
let actions = null;
let playerBuilt = false;

/** @param {Asset} a */
function factsOf(a) {
  /** @type {[string, string][]} */
  const pairs = [
    ["Id", a.id],
    ["Size", bytes(a.size)],
    ["Duration", duration(a.duration)],
    ["Renditions", a.rungs && a.rungs.length ? a.rungs.join(", ") : "–"],
    ["Source", a.source.ref ? `${a.source.kind}: ${a.source.ref}` : a.source.kind],
    ["Playback", a.access === "token" ? "needs a token" : "public"],
    ["Created", when(a.created)],
    ["Updated", when(a.updated)],
  ];
  return pairs.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]);
}

/** @param {Asset} a */
function show(a) {
  state.asset = a;
  const title = /** @type {HTMLElement} */ (document.getElementById("title"));
  title.textContent = assetName(a);
  document.title = `${assetName(a)} · hlsd`;
  badge.replaceChildren(stateBadge(a));
  note.textContent = a.state === "cancelled"
    ? "it will not be processed; Delete frees its space" : "";
  progress.update(a);
  progress.root.hidden = FINAL.has(a.state);
  failure.textContent = a.state === "failed"
    ? `Failed: ${a.reason || "hlsd gave no reason"}. Retry runs it again from its source.` : "";
  failure.hidden = !failure.textContent;
  facts.replaceChildren(...factsOf(a));
  if (!actions) {
    actions = assetActions(a, {
      changed: (changed) => { show(changed); refresh(); },
      deleted: () => { location.href = "/ui/assets"; },
      failed: (text) => problem(text),
    });
    actionsSlot.replaceChildren(actions.root);
  }
  actions.update(a);
  showSubtitles(a);
  if (a.state === "ready" && a.playback && !playerBuilt) {
    playerBuilt = true;
    buildPlayer(a, a.playback).catch((err) => problem(`Cannot play: ${err.message}`));
  }
}

// -- subtitles --------------------------------------------------------------------------

const language = /** @type {HTMLInputElement} */ (el("input", { id: "subtitle-language",
  name: "language", required: true, maxlength: "35", size: "8", placeholder: "en",
  pattern: "[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", autocomplete: "off" }));
const trackName = /** @type {HTMLInputElement} */ (el("input", { id: "subtitle-name",
  name: "name", maxlength: "100", placeholder: "English" }));
const subtitleFile = /** @type {HTMLInputElement} */ (el("input", { id: "subtitle-file",
  name: "file", type: "file", required: true, accept: ".vtt,.srt,text/vtt,application/x-subrip" }));
const subtitleStatus = el("p", { role: "status", class: "note" });
const subtitleForm = el("form", { id: "subtitle-form", class: "inline" },
  el("label", { for: "subtitle-language" }, "Language (en, pt-BR, …)", language),
  el("label", { for: "subtitle-name" }, "Name shown (optional)", trackName),
  el("label", { for: "subtitle-file" }, "WebVTT or SRT file", subtitleFile),
  el("button", { type: "submit", text: "Add subtitles" }));
subtitleForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = subtitleFile.files && subtitleFile.files[0];
  if (!file) return;
  const lang = language.value.trim();
  const name = trackName.value.trim();
  const srt = /\.srt$/i.test(file.name);
  const submit = /** @type {HTMLButtonElement} */ (subtitleForm.querySelector("button"));
  submit.disabled = true;
  subtitleStatus.textContent = `Sending ${file.name}…`;
  subtitleStatus.className = "note";
  try {
    const path = `${assetApi(id)}/subtitles/${encodeURIComponent(lang)}`
      + (name ? `?name=${encodeURIComponent(name)}` : "");
    const changed = await api(path, { method: "PUT", body: file,
      headers: { "content-type": srt ? "application/x-subrip" : "text/vtt" } });
    subtitleStatus.textContent = `Added subtitles ${lang}${name ? ` (${name})` : ""}.`;
    subtitleStatus.className = "ok";
    /** @type {HTMLFormElement} */ (subtitleForm).reset();
    show(changed);
  } catch (err) {
    subtitleStatus.textContent = `Could not add them: ${/** @type {Error} */ (err).message}`;
    subtitleStatus.className = "bad";
  } finally {
    submit.disabled = false;
  }
});

/** @param {Asset} a */
function showSubtitles(a) {
  const shown = a.subtitles.map((s) => s.language + "\n" + s.name).join("\n");
  if (subtitlesList.dataset.shown !== shown || !subtitlesList.childElementCount) {
    subtitlesList.dataset.shown = shown;
    subtitlesList.replaceChildren(...(a.subtitles.length
      ? a.subtitles.map((s) => el("li", { "data-language": s.language },
        el("code", { text: s.language }), " ", s.name))
      : [el("li", { class: "note", text: "None." })]));
  }
  const open = TAKES_SUBTITLES.has(a.state);
  if (open && subtitlesForm.firstChild !== subtitleForm) {
    subtitlesForm.replaceChildren(subtitleForm, subtitleStatus);
  } else if (!open) {
    const why = a.state === "ready"
      ? "Subtitles are given before processing starts: this asset's manifests are published and never change."
      : a.state === "processing" ? "Subtitles are given before processing starts; this one is transcoding."
        : "Subtitles are given while an asset waits for its upload or its turn.";
    if (subtitlesForm.textContent !== why) {
      subtitlesForm.replaceChildren(el("p", { class: "note", text: why }), subtitleStatus);
    }
  }
}

// -- the player -------------------------------------------------------------------------

/** @param {any} level */
function levelName(level) {
  if (!level) return "–";
  const size = level.height ? `${level.height}p` : level.name || "audio";
  return level.bitrate ? `${size} · ${bitrate(level.bitrate)}` : size;
}

/**
 * A ready asset's player: hls.js with a quality selector (Auto and each level) and a
 * subtitles selector, the scrub bar's thumbnails, and the URLs to copy.
 * @param {Asset} a
 * @param {NonNullable<Asset["playback"]>} urls
 */
async function buildPlayer(a, urls) {
  let query = "";
  /** @type {HTMLElement | null} */
  let gated = null;
  if (a.access === "token") {
    // Each URL carries a token: playlists hand it on to every URI in them.
    const made = await api(`${assetApi(a.id)}/token`, { method: "POST", json: { ttl: 86400 } });
    query = `?token=${encodeURIComponent(made.token)}`;
    gated = el("p", { class: "note", text: `Playback needs a token: these URLs carry one, valid until ${when(new Date(made.expires * 1000).toISOString())}.` });
  }
  const video = /** @type {HTMLVideoElement} */ (el("video", { id: "video", controls: true,
    playsinline: true, preload: "metadata",
    poster: urls.poster ? urls.poster + query : undefined }));
  const quality = /** @type {HTMLSelectElement} */ (el("select", { id: "quality", disabled: true },
    el("option", { value: "-1", text: "Auto" })));
  const subtitles = /** @type {HTMLSelectElement} */ (el("select", { id: "subtitle-track",
    disabled: true }, el("option", { value: "-1", text: "Off" })));
  const playing = el("span", { class: "note", id: "playing", role: "status" });
  const scrub = el("div", { class: "scrub-wrap" });

  playerSection.replaceChildren(
    el("h2", { id: "player-title", text: "Play" }),
    video,
    el("div", { class: "row player-controls" },
      el("label", { for: "quality" }, "Quality", quality),
      el("label", { for: "subtitle-track" }, "Subtitles", subtitles),
      playing),
    scrub,
    gated || "",
    copyField("HLS", urls.hls + query),
    copyField("DASH", urls.dash + query),
    copyField("Player", urls.play + query),
    el("p", { class: "note", text: "The player URL sends each client to the HLS or the DASH it plays best." }));
  playerSection.hidden = false;

  if (urls.thumbnails) {
    scrubBar(scrub, video, new URL(urls.thumbnails, location.href), query, a.duration)
      .catch((err) => scrub.replaceChildren(el("p", { class: "note",
        text: `No thumbnails: ${err.message}` })));
  } else {
    scrub.replaceChildren(el("p", { class: "note", text: "No thumbnails: this asset has no picture." }));
  }

  const player = await play(video, urls.hls + query);
  const hls = player.hls;
  state.player = hls;
  if (!hls) {
    playing.textContent = "Quality is chosen by the browser's own player.";
    return;
  }
  const Hls = /** @type {any} */ (globalThis).Hls;
  const showPlaying = () => {
    const level = hls.levels[hls.currentLevel];
    playing.textContent = level ? `Playing ${levelName(level)}${hls.autoLevelEnabled ? " (auto)" : ""}` : "";
  };
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    quality.replaceChildren(el("option", { value: "-1", text: "Auto" }),
      ...hls.levels.map((/** @type {any} */ level, /** @type {number} */ n) =>
        el("option", { value: String(n), text: levelName(level) })));
    quality.disabled = hls.levels.length < 2;
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, showPlaying);
  quality.addEventListener("change", () => {
    hls.currentLevel = Number(quality.value); // -1: back to automatic
    showPlaying();
  });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
    subtitles.replaceChildren(el("option", { value: "-1", text: "Off" }),
      ...hls.subtitleTracks.map((/** @type {any} */ track, /** @type {number} */ n) =>
        el("option", { value: String(n), text: track.name || track.lang || `track ${n + 1}` })));
    subtitles.disabled = !hls.subtitleTracks.length;
  });
  subtitles.addEventListener("change", () => {
    const n = Number(subtitles.value);
    hls.subtitleDisplay = n >= 0;
    hls.subtitleTrack = n;
  });
}

// -- thumbnails while scrubbing ---------------------------------------------------------

/** @param {string} text */
function seconds(text) {
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/**
 * The cues of a thumbnails WebVTT (`start --> end`, then `sprite.jpg#xywh=x,y,w,h`),
 * their sprite URLs resolved against `base`; a sprite on another host is not used.
 * @param {string} text @param {URL} base @param {string} query
 * @returns {Cue[]}
 */
function parseThumbnails(text, base, query) {
  /** @type {Cue[]} */
  const cues = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n");
    const at = lines.findIndex((line) => line.includes("-->"));
    if (at < 0 || at + 1 >= lines.length) continue;
    const [start, end] = lines[at].split("-->").map((t) => seconds(t.trim().split(/\s/)[0]));
    const target = lines[at + 1].trim();
    const match = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(target);
    if (!match || !Number.isFinite(start) || !Number.isFinite(end)) continue;
    const url = new URL(match[1], base);
    if (url.origin !== location.origin) continue;
    const [x, y, w, h] = match.slice(2).map(Number);
    cues.push({ start, end, url: url.pathname + (url.search || query), x, y, w, h });
  }
  return cues;
}

/**
 * The scrub bar under the video: the pointer over it (or the keyboard, once it has the
 * focus: arrows, Page Up/Down, Home, End) shows the sprite's tile for that time; a click
 * or Enter plays from there.
 * @param {HTMLElement} slot @param {HTMLVideoElement} video @param {URL} vtt
 * @param {string} query @param {number | null} known the asset's duration
 */
async function scrubBar(slot, video, vtt, query, known) {
  const response = await fetch(vtt.pathname + query);
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${vtt.pathname}`);
  const cues = parseThumbnails(await response.text(), vtt, query);
  if (!cues.length) throw new Error("the thumbnails file lists none");
  state.cues = cues;
  const total = () => known || (Number.isFinite(video.duration) ? video.duration : 0)
    || cues[cues.length - 1].end;
  const tile = el("div", { class: "scrub-tile", id: "scrub-tile" });
  const label = el("span", { class: "mono" });
  const preview = el("div", { class: "scrub-preview", id: "scrub-preview", hidden: true },
    tile, label);
  const fill = el("div", { class: "scrub-fill" });
  const at = el("div", { class: "scrub-at", hidden: true });
  const bar = el("div", { class: "scrub", id: "scrub", role: "slider", tabindex: "0",
    "aria-label": "Thumbnails: move along the video (Enter plays from there)",
    "aria-valuemin": "0", "aria-valuemax": String(Math.round(total())),
    "aria-valuenow": "0", "aria-valuetext": duration(0) }, fill, at);
  slot.replaceChildren(preview, bar);
  let time = 0;

  /** @param {number} t */
  const showAt = (t) => {
    const length = total();
    time = Math.max(0, Math.min(t, length));
    const cue = cues.find((c) => time >= c.start && time < c.end) || cues[cues.length - 1];
    tile.style.width = `${cue.w}px`;
    tile.style.height = `${cue.h}px`;
    tile.style.backgroundImage = `url(${JSON.stringify(cue.url)})`;
    tile.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    label.textContent = duration(time);
    // In percent of the bar, so a resize keeps it in place; the preview is shifted by
    // as much of its own width, so it never passes either end.
    const percent = length ? (100 * time) / length : 0;
    preview.hidden = false;
    preview.style.left = `${percent}%`;
    preview.style.transform = `translateX(-${percent}%)`;
    at.hidden = false;
    at.style.left = `${percent}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(time)));
    bar.setAttribute("aria-valuetext", duration(time));
  };
  const hide = () => {
    if (document.activeElement === bar) return;
    preview.hidden = true;
    at.hidden = true;
  };
  /** @param {PointerEvent | MouseEvent} event */
  const timeOf = (event) => {
    const box = bar.getBoundingClientRect();
    return box.width ? ((event.clientX - box.left) / box.width) * total() : 0;
  };
  const seek = () => {
    video.currentTime = time;
    video.play().catch(() => {});
  };
  bar.addEventListener("pointermove", (event) => showAt(timeOf(event)));
  bar.addEventListener("pointerleave", hide);
  bar.addEventListener("click", (event) => { showAt(timeOf(event)); seek(); });
  bar.addEventListener("focus", () => showAt(video.currentTime || 0));
  bar.addEventListener("blur", () => { preview.hidden = true; at.hidden = true; });
  bar.addEventListener("keydown", (event) => {
    const length = total();
    const step = Math.max(1, length / 100);
    /** @type {Record<string, number>} */
    const moves = { ArrowRight: step, ArrowUp: step, ArrowLeft: -step, ArrowDown: -step,
      PageUp: length / 10, PageDown: -length / 10 };
    if (event.key in moves) showAt(time + moves[event.key]);
    else if (event.key === "Home") showAt(0);
    else if (event.key === "End") showAt(length);
    else if (event.key === "Enter" || event.key === " ") seek();
    else return;
    event.preventDefault();
  });
  video.addEventListener("timeupdate", () => {
    const length = total();
    fill.style.width = length ? `${Math.min(100, (100 * video.currentTime) / length)}%` : "0";
  });
}

// -- refreshing -------------------------------------------------------------------------

let timer = 0;

async function refresh() {
  clearTimeout(timer);
  /** @type {Asset} */
  let a;
  try {
    a = await api(assetApi(id));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      gone();
      return;
    }
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
    problem(`Could not read the asset: ${/** @type {Error} */ (err).message}`);
    timer = window.setTimeout(refresh, SLOW_MS);
    return;
  }
  show(a);
  if (!FINAL.has(a.state)) timer = window.setTimeout(refresh, a.state === "created" ? SLOW_MS : FAST_MS);
}

function gone() {
  content().replaceChildren(el("div", { class: "empty" },
    el("p", { text: `No asset ${id}: it was deleted, or never existed.` }),
    el("p", {}, el("a", { href: "/ui/assets", text: "Every asset" }))));
}

async function main() {
  document.head.append(el("style", { text: SHARED_STYLE + STYLE }));
  if (!id) {
    gone();
    return;
  }
  content().replaceChildren(
    el("section", { class: "panel", "aria-labelledby": "status-title" },
      el("h2", { id: "status-title", text: "State" }),
      el("div", { class: "row" }, badge, note),
      progress.root, failure, facts, actionsSlot),
    playerSection,
    el("section", { "aria-labelledby": "subtitles-title" },
      el("h2", { id: "subtitles-title", text: "Subtitles" }),
      subtitlesList, subtitlesForm),
    el("p", {}, el("a", { href: "/ui/assets", text: "Every asset" })));
  await refresh();
}

run(main);

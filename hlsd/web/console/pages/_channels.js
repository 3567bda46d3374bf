// @ts-check
// What the two channel pages share (this module is no page of its own): the kinds of
// source a channel item may have and how one is shown, the fields that give a source,
// clock times to and from <input type="datetime-local">, and the pages' own styles.

import { api, el } from "/ui/static/lib.js";

/**
 * A source as the channel API gives and takes it: exactly one of these keys.
 * @typedef {Partial<Record<"url" | "library" | "upstream" | "file" | "asset", string>>} Source
 */

/**
 * An item as the API describes it.
 * @typedef {{id: string, source: Source, start: string | null, duration: number}} Item
 */

/**
 * A channel as `GET /api/channels/{name}` describes it.
 * @typedef {{
 *   name: string, playlist: string, mode: "loop" | "timed", items: Item[],
 *   filler: Source | null, target_duration: number, window: number,
 *   variants: {bandwidth: number, codecs: string | null, resolution: string | null}[],
 *   created: string | null, pending: {effective: string | null} | null,
 *   on_air: {item: string | null, media_sequence: number, since: string | null} | null
 * }} Channel
 */

/** The kinds offered in the forms ({"file"} is what a library media file becomes). */
export const KINDS = [
  { kind: "library", name: "Library file or HLS VOD", field: "Path in the library",
    placeholder: "films/trailer.mp4",
    hint: "A media file (MP4, MKV, …), packaged on the fly, or an HLS VOD's playlist "
      + "(promo/master.m3u8), under the library folder (channels.library, by default "
      + "data_dir/library)." },
  { kind: "url", name: "HLS VOD at a URL", field: "Playlist URL",
    placeholder: "https://media.example/vod/master.m3u8",
    hint: "A finished HLS VOD on another server. Addresses on this machine or a private "
      + "network are refused unless the fetch.allow setting lists them." },
  { kind: "asset", name: "Asset", field: "Asset id", placeholder: "",
    hint: "A ready asset (see Assets): its whole bitrate ladder." },
  { kind: "upstream", name: "Upstream id", field: "Upstream id", placeholder: "",
    hint: "An id fetched from the upstream (the url.video setting) and packaged on the fly." },
];

const SHOWN = /** @type {Record<string, string>} */ ({
  file: "File", library: "HLS VOD", url: "URL", asset: "Asset", upstream: "Upstream",
});

/**
 * The source's kind and reference.
 * @param {Source} source
 * @returns {{kind: string, ref: string}}
 */
export function sourceParts(source) {
  const [kind, ref] = Object.entries(source)[0] || ["", ""];
  return { kind, ref: String(ref) };
}

/**
 * A source in words: "File films/a.mp4".
 * @param {Source} source
 */
export function sourceText(source) {
  const { kind, ref } = sourceParts(source);
  return `${SHOWN[kind] || kind} ${ref}`;
}

/**
 * The fields that give a source: its kind, and the path, URL or id (the label and the
 * hint follow the kind). Ready assets are offered as suggestions when the API lists any.
 * @param {string} prefix  ids of the elements start with it
 */
export function sourceFields(prefix) {
  const kind = /** @type {HTMLSelectElement} */ (el("select", { id: `${prefix}-kind`,
    name: "kind" }, ...KINDS.map((k) => el("option", { value: k.kind, text: k.name }))));
  const hint = el("span", { class: "note", id: `${prefix}-hint` });
  const listId = `${prefix}-assets`;
  const ref = /** @type {HTMLInputElement} */ (el("input", { id: `${prefix}-ref`, name: "ref",
    autocomplete: "off", spellcheck: "false", size: 40, "aria-describedby": `${prefix}-hint` }));
  const refName = el("span", {});
  const suggestions = el("datalist", { id: listId });
  const follow = () => {
    const chosen = KINDS.find((k) => k.kind === kind.value) || KINDS[0];
    refName.textContent = chosen.field;
    hint.textContent = chosen.hint;
    ref.placeholder = chosen.placeholder;
    if (chosen.kind === "asset") ref.setAttribute("list", listId);
    else ref.removeAttribute("list");
  };
  kind.addEventListener("change", follow);
  follow();
  const fieldset = el("fieldset", { class: "source" },
    el("legend", { text: "Source" }),
    el("div", { class: "row" },
      el("label", {}, "Kind", kind),
      el("label", { class: "grow" }, refName, ref)),
    hint, suggestions);
  // Suggestions only: an API without assets (or a refusal) leaves the field as it is.
  api("/api/assets?state=ready&limit=200").then((data) => {
    for (const asset of (data && data.assets) || []) {
      suggestions.append(el("option", { value: asset.id, text: asset.title || asset.id }));
    }
  }).catch(() => {});
  return {
    fieldset,
    /** The source given, or null when its reference is empty. @returns {Source | null} */
    read() {
      const value = ref.value.trim();
      if (!value) return null;
      // As the server files it: a library path that is no playlist is a media file.
      if (kind.value === "library" && !value.toLowerCase().endsWith(".m3u8")) {
        return { file: value };
      }
      return { [kind.value]: value };
    },
    reset() { ref.value = ""; },
    focus() { ref.focus(); },
  };
}

/** @param {number} n */
const two = (n) => String(n).padStart(2, "0");

/**
 * `date` as a datetime-local input's value (local time, to the second).
 * @param {Date} date
 */
export function toLocalInput(date) {
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`
    + `T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/**
 * A datetime-local input's value as an ISO time (UTC), or null when it is none.
 * @param {string} value
 */
export function fromLocalInput(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** A start a little ahead, on a whole minute: what a new timed item is offered. */
export function soon() {
  const date = new Date(Date.now() + 2 * 60_000);
  date.setSeconds(0, 0);
  return date;
}

/**
 * A clock time in the viewer's zone, to the second.
 * @param {string | number | Date | null | undefined} value
 */
export function clock(value) {
  if (value === null || value === undefined) return "–";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleTimeString();
}

const STYLE = `
[hidden] { display: none !important; }
.panel > h2:first-child { margin-top: .1rem; }
fieldset.source { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem;
  margin: 0; display: grid; gap: .4rem; min-width: 0; }
fieldset.source legend { color: var(--muted); font-size: .9rem; padding: 0 .3rem; }
label.grow { flex: 1 1 16rem; } label.grow input { width: 100%; }
.form-grid { display: grid; gap: .7rem; max-width: 46rem; grid-template-columns: minmax(0, 1fr); }
.form-grid > label { min-width: 0; }
.form-grid > label input, .form-grid > label select { width: 100%; max-width: 24rem; }
.source select { max-width: 100%; }
label.check { flex-direction: row; align-items: center; gap: .4rem; }
.schedule { list-style: none; padding: 0; margin: .4rem 0; display: grid; gap: .5rem; }
.schedule > li { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .7rem;
  display: grid; gap: .4rem; }
.schedule > li.new { border-style: dashed; border-color: var(--accent); }
.schedule .pos { color: var(--muted); }
.schedule .what { overflow-wrap: anywhere; }
.timeline { position: relative; height: 5.6rem; background: #0d1014; border: 1px solid var(--line);
  border-radius: 6px; overflow: hidden; margin: .5rem 0 .2rem; }
.tl-item { position: absolute; height: 2.4rem; min-width: 5px; color: var(--text); }
.tl-item.lane-0 { top: .3rem; } .tl-item.lane-1 { top: 2.9rem; }
.tl-bar { height: .8rem; background: #2d6aa0; border: 1px solid #6cb8ff; border-radius: 3px; }
.tl-item.unknown .tl-bar { background: #26303b; border-style: dashed; }
.tl-label { position: absolute; top: .95rem; left: 0; font-size: .75rem; line-height: 1.2;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: min(24rem, 60vw);
  background: #0d1014cc; padding: 0 .2rem; }
.tl-item.end .tl-label { left: auto; right: 0; text-align: right; }
.tl-now { position: absolute; top: 0; bottom: 0; width: 2px; background: var(--warn); }
.tl-now span { position: absolute; bottom: 0; left: 4px; font-size: .72rem; color: var(--warn); }
.tl-axis { display: flex; justify-content: space-between; gap: .5rem; font-size: .8rem;
  color: var(--muted); }
.player video { max-height: 50vh; }
dl.now { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .2rem .8rem;
  margin: .6rem 0 0; }
dl.now dt { color: var(--muted); } dl.now dd { margin: 0; overflow-wrap: anywhere; }
.confirm { border: 1px solid var(--bad); border-radius: 6px; padding: .6rem .8rem; margin-top: .6rem; }
.stack { display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr); }
.stack > *, .two > * { min-width: 0; }
.two { display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr); }
@media (max-width: 600px) { .wide-only { display: none; } }
@media (min-width: 960px) { .two { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 6fr);
  gap: 1rem; align-items: start; } }
`;

/** Adds the channel pages' styles to the document (once). */
export function addStyles() {
  if (document.getElementById("channel-styles")) return;
  document.head.append(el("style", { id: "channel-styles", text: STYLE }));
}

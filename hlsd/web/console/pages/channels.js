// @ts-check
// /ui/channels: every channel (its schedule in short, what is on air now, a link to its
// page), and the form that makes a new one from a name and its first item.

import { ApiError, api, content, el, run, say, scroller, state } from "/ui/static/lib.js";
import {
  addStyles, clock, fromLocalInput, soon, sourceFields, sourceText, toLocalInput,
} from "/ui/static/pages/_channels.js";

/** @typedef {import("./_channels.js").Channel} Channel */

/**
 * What a channel is playing now, in words.
 * @param {Channel} channel
 */
function onAir(channel) {
  const airing = channel.on_air;
  if (!airing) return "–";
  if (!airing.item) return "Gap (slate or filler)";
  const item = channel.items.find((i) => i.id === airing.item);
  // An item missing from the schedule is one a saved change is replacing.
  const what = item ? sourceText(item.source) : "item";
  return `${what} (${airing.item}) since ${clock(airing.since)}`;
}

/** @param {Channel[]} channels */
function listing(channels) {
  if (!channels.length) {
    return el("div", { class: "empty", id: "no-channels" },
      el("p", { text: "No channels yet." }),
      el("p", { text: "A channel is a schedule of VOD sources (media files and HLS VODs "
        + "in the library, HLS VODs at a URL, ready assets) that hlsd plays as one live "
        + "stream at /live/NAME/index.m3u8: its items in a loop, or each at a set time. "
        + "Make one with the form below; its page then edits the schedule and previews it." }));
  }
  const rows = channels.map((c) => el("tr", { "data-channel": c.name },
    el("td", {}, el("a", { href: `/ui/channels/${encodeURIComponent(c.name)}`, text: c.name })),
    el("td", { text: c.mode === "timed" ? "timed" : "loop" }),
    el("td", { text: String(c.items.length) }),
    el("td", { class: "on-air", text: onAir(c) }),
    el("td", { class: "wide-only",
      text: c.variants.map((v) => v.resolution || "audio").join(", ") || "–" }),
    el("td", { class: "wide-only" }, el("code", { text: c.playlist }))));
  // Narrow screens leave out the variants and the playlist: the channel's page has them.
  const head = [["Channel", ""], ["Mode", ""], ["Items", ""], ["On air now", ""],
    ["Variants", "wide-only"], ["Playlist", "wide-only"]];
  return scroller("Channels", el("table", { id: "channels" },
    el("thead", {}, el("tr", {}, ...head.map(([h, cls]) => el("th", { scope: "col",
      class: cls || null, text: h })))),
    el("tbody", {}, ...rows)));
}

/** The "New channel" form: a name, the mode, and the first item. */
function newChannelForm() {
  const name = /** @type {HTMLInputElement} */ (el("input", { id: "new-name", name: "name",
    autocomplete: "off", spellcheck: "false", maxlength: 64, "aria-describedby": "new-name-hint" }));
  const mode = /** @type {HTMLSelectElement} */ (el("select", { id: "new-mode", name: "mode" },
    el("option", { value: "loop", text: "Loop: play the items in order, again and again" }),
    el("option", { value: "timed", text: "Timed: play each item at its start time" })));
  const start = /** @type {HTMLInputElement} */ (el("input", { id: "new-start", name: "start",
    type: "datetime-local", step: 1, value: toLocalInput(soon()) }));
  const startLabel = el("label", { hidden: true }, "Start of the first item (your local time)",
    start);
  const source = sourceFields("new-source");
  const error = el("p", { id: "new-error", class: "alert", role: "alert", hidden: true });
  const status = el("p", { class: "note", "aria-live": "polite" });
  const submit = /** @type {HTMLButtonElement} */ (el("button", { type: "submit",
    class: "primary", text: "Create channel" }));
  mode.addEventListener("change", () => { startLabel.hidden = mode.value !== "timed"; });

  const form = el("form", { id: "new-channel", class: "form-grid" },
    el("label", {}, "Name", name),
    el("span", { class: "note", id: "new-name-hint", text: "1 to 64 letters, digits, '_', "
      + "'-' or '.'. It is the stream's name: the channel plays at /live/NAME/index.m3u8." }),
    el("label", {}, "Mode", mode),
    el("p", { class: "note", style: "margin: 0", text: "The first item (add more on the "
      + "channel's page):" }),
    source.fieldset, startLabel, error,
    el("div", { class: "row" }, submit, status));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(error, "");
    const given = source.read();
    if (!given) {
      say(error, "Give the first item's source: a library path, a URL or an id.");
      source.focus();
      return;
    }
    /** @type {Record<string, unknown>} */
    const item = { source: given };
    if (mode.value === "timed") {
      const at = fromLocalInput(start.value);
      if (!at) {
        say(error, "Give the first item's start: a date and a time.");
        start.focus();
        return;
      }
      item.start = at;
    }
    submit.disabled = true;
    status.textContent = "Creating (hlsd reads the source first)…";
    try {
      const made = await api("/api/channels", { method: "POST",
        json: { name: name.value.trim(), mode: mode.value, items: [item] } });
      status.textContent = "Created.";
      location.assign(`/ui/channels/${encodeURIComponent(made.name)}`);
    } catch (err) {
      status.textContent = "";
      submit.disabled = false;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
      say(error, `Not created: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  return form;
}

async function main() {
  addStyles();
  const list = el("div", { id: "channel-list" }, el("p", { class: "note", text: "Loading…" }));
  content().replaceChildren(el("div", { class: "stack" },
    el("section", { class: "panel", "aria-labelledby": "list-title" },
      el("h2", { id: "list-title", text: "All channels" }), list),
    el("section", { class: "panel", "aria-labelledby": "new-title" },
      el("h2", { id: "new-title", text: "New channel" }), newChannelForm())));
  const data = await api("/api/channels");
  const channels = /** @type {Channel[]} */ (data.channels);
  state.channels = channels.map((c) => c.name);
  list.replaceChildren(listing(channels));
}

run(main);

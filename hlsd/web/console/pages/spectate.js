// @ts-check
// Watching a stream over the websocket CDN protocol (hls-websocket-cdn's PULL), with the
// package hlsd serves at /web/client/: ?stream=…&token=…&delay=… start it at once.
import { HlsWebSocket } from "/web/client/hlsd-ws-client.js";
import { describeVideoError, hlsSupport } from "/web/pages.js";
import { content, el, say } from "/ui/static/lib.js";

const params = new URLSearchParams(location.search);
const wsPath = document.body.dataset.wsPath || "/ws";
/** @type {{errors: string[], ended: boolean, closed: boolean, problem: string, player?: HlsWebSocket}} */
const state = { errors: [], ended: false, closed: false, problem: "" };
/** @type {any} */ (window).__spectate = state;

/** @param {string} name @param {string} label @param {Record<string, unknown>} props */
function field(name, label, props) {
  const input = /** @type {HTMLInputElement} */ (el("input", { name, id: `f-${name}`, ...props }));
  input.value = params.get(name) || input.value;
  return { input, label: el("label", { for: `f-${name}` }, label, input) };
}
const stream = field("stream", "Stream id", { required: true, autocomplete: "off" });
const token = field("token", "PULL token (when pull_secret is set)", { autocomplete: "off" });
const delay = field("delay", "Seconds behind live", { type: "number", min: "1", step: "0.5",
  value: "4" });
const button = el("button", { type: "submit", class: "primary", text: "Watch" });
const form = el("form", { id: "form", class: "inline" }, stream.label, token.label, delay.label,
  button);
const message = el("p", { id: "message", class: "alert", role: "alert", hidden: true });
const video = /** @type {HTMLVideoElement} */ (el("video", { id: "video", controls: true,
  muted: true, autoplay: true, playsinline: true }));
const status = el("p", { id: "status", class: "mono note", "aria-live": "off" });
content().replaceChildren(
  el("p", { class: "note", text: "Streams pushed over the websocket protocol, played through it (the same stream plays as HLS on its own page)." }),
  form, message, video, status);

/** @type {HlsWebSocket | null} */
let player = null;

/** @param {string} text */
function problem(text) {
  state.errors.push(text);
  say(message, text);
}

function watch() {
  if (player) player.destroy();
  say(message, "");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}${wsPath}`;
  const streamId = stream.input.value;
  const watching = new HlsWebSocket({
    cdnServerUrl: url, streamId, authToken: token.input.value,
    delay: parseFloat(delay.input.value) || 4,
  });
  watching.addEventListener("error", (e) => problem(`Cannot play: ${e.message || e}`));
  watching.addEventListener("ended", () => { state.ended = true; say(message, "The stream ended."); });
  watching.addEventListener("close", () => { state.closed = true; });
  watching.addEventListener("reconnect", ({ delay: wait, closedByServer, received }) => {
    const seconds = Math.round(wait / 100) / 10;
    say(message, closedByServer && !received
      ? `Nothing to play: “${streamId}” is not live here (yet). Trying again in ${seconds} s.`
      : `Lost the connection to ${url}. Trying again in ${seconds} s.`);
  });
  watching.attachMedia(video);
  watching.start();
  player = state.player = watching;
}

video.addEventListener("error", () => { if (player) problem(describeVideoError(video)); });
video.addEventListener("playing", () => {
  if (!(message.textContent || "").startsWith("Cannot play")) say(message, "");
});
form.addEventListener("submit", (event) => { event.preventDefault(); watch(); });

const support = await hlsSupport();
if (!support.canPlay) {
  state.problem = support.text;
  say(message, state.problem);
  button.setAttribute("disabled", "");
} else if (params.get("stream")) {
  watch();
}
setInterval(() => {
  if (!player) return;
  const buffered = video.buffered.length ? video.buffered.end(video.buffered.length - 1) : 0;
  status.textContent = `played ${video.currentTime.toFixed(1)}s · behind live ${(buffered - video.currentTime).toFixed(1)}s · fragments ${player.received}`;
}, 500);

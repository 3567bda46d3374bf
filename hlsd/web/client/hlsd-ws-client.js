// Plays a stream pulled over the hls-websocket-cdn protocol in a <video>.
//
// One websocket brings MPEG-TS fragments (`F:duration=…` then a binary frame). They are
// kept in memory, a bounded window of them, and served to hls.js by a custom loader as a
// live media playlist, so hls.js does the TS → fMP4 transmuxing and the MSE buffering,
// and keeps the caller's latency target (liveSyncDuration / liveMaxLatencyDuration).

const HEARTBEAT_MS = 30000;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 10000;
// A name hls.js resolves fragment URIs against; the loader answers them from memory.
const PLAYLIST_URL = "https://hlsd-ws.invalid/index.m3u8";

function encodeParams(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
}

function parseMessage(text) {
  const colon = text.indexOf(":");
  const type = (colon < 0 ? text : text.slice(0, colon)).toUpperCase();
  const params = {};
  if (colon >= 0) {
    for (const [k, v] of new URLSearchParams(text.slice(colon + 1))) params[k] = v;
  }
  return { type, params };
}

// The fragments received so far, as a sliding live playlist.
class FragmentWindow {
  constructor(max) {
    this.max = max;
    this.first = 0;
    this.items = []; // {duration, data, discontinuity}
    this.ended = false;
    this.target = 1;
    this.pendingDiscontinuity = false;
  }
  push(duration, data) {
    this.items.push({ duration, data, discontinuity: this.pendingDiscontinuity });
    this.pendingDiscontinuity = false;
    this.target = Math.max(this.target, Math.ceil(duration));
    while (this.items.length > this.max) { this.items.shift(); this.first += 1; }
  }
  breakHere() { if (this.items.length) this.pendingDiscontinuity = true; }
  get(sequence) { return this.items[sequence - this.first]; }
  playlist() {
    const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${this.target}`,
      `#EXT-X-MEDIA-SEQUENCE:${this.first}`];
    let discontinuities = 0;
    this.items.forEach((item, i) => {
      if (item.discontinuity && i > 0) lines.push("#EXT-X-DISCONTINUITY");
      lines.push(`#EXTINF:${item.duration.toFixed(3)},`, `${this.first + i}.ts`);
    });
    if (this.ended) lines.push("#EXT-X-ENDLIST");
    return lines.join("\n") + "\n";
  }
}

function loaderFor(windowOf) {
  // hls.js's loader interface: load(context, config, callbacks), abort(), destroy().
  return class WebsocketFragmentLoader {
    constructor() {
      this.context = null;
      this.stats = {
        aborted: false, loaded: 0, retry: 0, total: 0, chunkCount: 0, bwEstimate: 0,
        loading: { start: 0, first: 0, end: 0 }, parsing: { start: 0, end: 0 },
        buffering: { start: 0, first: 0, end: 0 },
      };
    }
    load(context, config, callbacks) {
      this.context = context;
      const now = performance.now();
      const stats = this.stats;
      stats.loading.start = now;
      const fragments = windowOf();
      const answer = (data, url) => {
        stats.loading.first = stats.loading.end = performance.now();
        stats.loaded = stats.total = typeof data === "string" ? data.length : data.byteLength;
        // Answer asynchronously, as a network loader would.
        setTimeout(() => callbacks.onSuccess({ url, data }, stats, context, null), 0);
      };
      if (context.url.endsWith(".m3u8")) {
        answer(fragments.playlist(), context.url);
        return;
      }
      const sequence = parseInt(context.url.split("/").pop(), 10);
      const item = fragments.get(sequence);
      if (!item) {
        setTimeout(() => callbacks.onError({ code: 404, text: "fragment no longer held" },
          context, null, stats), 0);
        return;
      }
      answer(item.data.slice(0), context.url);
    }
    abort() { this.stats.aborted = true; }
    destroy() { this.context = null; }
  };
}

export class HlsWebSocket {
  static isSupported() {
    const Hls = globalThis.Hls;
    return Boolean(Hls && Hls.isSupported());
  }

  constructor(options) {
    this.options = {
      delay: 4, maxFragments: 20, timeout: 30000, authToken: "", ...options,
    };
    this.options.maxDelay = Math.max(this.options.delay, this.options.maxDelay || this.options.delay * 2);
    this.Hls = this.options.Hls || globalThis.Hls;
    if (!this.Hls) throw new Error("hls.js is needed: load it first, or pass { Hls }");
    this.fragments = new FragmentWindow(this.options.maxFragments);
    this.listeners = { error: [], close: [], ended: [], reconnect: [] };
    this.socket = null;
    this.destroyed = false;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.received = 0;
    this.hls = new this.Hls({
      loader: loaderFor(() => this.fragments),
      liveSyncDuration: this.options.delay,
      liveMaxLatencyDuration: this.options.maxDelay,
      maxLiveSyncPlaybackRate: 1.5,
      enableWorker: true,
    });
    this.hls.on(this.Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) this.trigger("error", new Error(`Media error: ${data.details}`));
    });
  }

  addEventListener(event, handler) { (this.listeners[event] ||= []).push(handler); }
  removeEventListener(event, handler) {
    this.listeners[event] = (this.listeners[event] || []).filter((h) => h !== handler);
  }
  trigger(event, ...args) { for (const h of this.listeners[event] || []) h(...args); }

  attachMedia(media) { this.media = media; this.hls.attachMedia(media); }
  detachMedia() { this.hls.detachMedia(); this.media = null; }
  setDelayOptions(delay, maxDelay) {
    this.options.delay = delay;
    this.options.maxDelay = Math.max(delay, maxDelay || delay * 2);
    this.hls.config.liveSyncDuration = delay;
    this.hls.config.liveMaxLatencyDuration = this.options.maxDelay;
  }

  start() {
    this.connect(this.options.maxInitialFragments);
    this.hlsStarted = false;
  }

  connect(maxInitialFragments) {
    if (this.destroyed) return;
    const socket = new WebSocket(this.options.cdnServerUrl);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    let nextDuration = null;
    let lastMessage = Date.now();
    let closedByServer = false;
    const heartbeat = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send("H");
      if (Date.now() - lastMessage > Math.max(2 * HEARTBEAT_MS, this.options.timeout)) {
        socket.close(); // silent too long: reconnect
      }
    }, Math.min(HEARTBEAT_MS, this.options.timeout / 2));
    socket.onopen = () => {
      socket.send(`PULL:${encodeParams({
        stream: this.options.streamId, auth: this.options.authToken,
        max_initial_fragments: maxInitialFragments,
      })}`);
    };
    socket.onmessage = (event) => {
      lastMessage = Date.now();
      if (typeof event.data !== "string") {
        if (nextDuration === null) return;
        this.fragments.push(nextDuration, new Uint8Array(event.data));
        nextDuration = null;
        this.received += 1;
        this.reconnectDelay = RECONNECT_MIN_MS;
        if (!this.hlsStarted) { this.hlsStarted = true; this.hls.loadSource(PLAYLIST_URL); }
        return;
      }
      const message = parseMessage(event.data);
      if (message.type === "F") nextDuration = parseFloat(message.params.duration);
      else if (message.type === "CLOSE") {
        closedByServer = true;
        if (this.received > 0) { this.fragments.ended = true; this.ended = true; this.trigger("ended"); }
      } else if (message.type === "E") {
        this.trigger("error", new Error(`${message.params.code}: ${message.params.message}`));
        if (message.params.code === "AUTH_ERROR") this.destroyed = true;
      }
    };
    socket.onclose = () => {
      clearInterval(heartbeat);
      if (this.destroyed || this.ended) { this.trigger("close"); return; }
      // Carry on after a drop: only live fragments, after a discontinuity.
      this.fragments.breakHere();
      // closedByServer: the server had no such stream (OK then CLOSE) or ended it;
      // otherwise the connection failed or dropped.
      this.trigger("reconnect", { delay: this.reconnectDelay, closedByServer,
        received: this.received });
      setTimeout(() => this.connect(this.received > 0 ? 0 : maxInitialFragments),
        this.reconnectDelay);
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    };
  }

  destroy() {
    this.destroyed = true;
    if (this.socket) this.socket.close();
    this.hls.destroy();
  }
}

// What hlsd's pages share: finding out that a stream cannot play here, and saying why on
// the page (not only in the console). hls.js is loaded by the page itself, with
// <script src="/web/vendor/hls.min.js">, before this module runs.

// Show `text` in `element` (an element with role="alert"), or hide it when empty.
export function say(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

// Whether the page can play HLS, and what to tell the viewer: {canPlay, text}. `text` is
// why it cannot, or (when it can, but only with the browser's own HLS because hls.js is
// missing) what is missing. `nativeVideo`: a <video> that may play HLS by itself
// (Safari, iOS, recent Chrome), which then needs no hls.js; none for the websocket
// player, which always needs hls.js.
export async function hlsSupport(nativeVideo = null) {
  const Hls = globalThis.Hls;
  if (Hls && Hls.isSupported()) return { canPlay: true, text: "" };
  const native = Boolean(nativeVideo && nativeVideo.canPlayType("application/vnd.apple.mpegurl"));
  if (Hls) {
    return native ? { canPlay: true, text: "" } : { canPlay: false,
      text: "Cannot play here: this browser has no Media Source Extensions, which hls.js needs." };
  }
  const reason = await vendorProblem("hls.min.js", "hls.js did not load");
  return native
    ? { canPlay: true, text: `${reason} This browser plays HLS itself, so the player here uses that.` }
    : { canPlay: false, text: `Cannot play: ${reason}` };
}

// Why /web/vendor/<name> did not load: the server's reason (a 503 says what is missing
// and how to get it), else what the browser saw.
export async function vendorProblem(name, what) {
  try {
    const response = await fetch(`/web/vendor/${name}`, { cache: "no-store" });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      return body.error || `${what} (HTTP ${response.status})`;
    }
    return `${what}: the file is there but did not run (the browser's console says why)`;
  } catch (err) {
    return `${what}: ${err.message}`;
  }
}

// A fatal hls.js error, in words.
export function describeHlsError(data) {
  const Hls = globalThis.Hls;
  const code = data.response && data.response.code ? ` (HTTP ${data.response.code})` : "";
  const url = (data.context && data.context.url) || (data.frag && data.frag.url) || data.url;
  if (data.details === Hls.ErrorDetails.MANIFEST_INCOMPATIBLE_CODECS_ERROR
      || data.details === Hls.ErrorDetails.BUFFER_ADD_CODEC_ERROR
      || data.details === Hls.ErrorDetails.BUFFER_INCOMPATIBLE_CODECS_ERROR) {
    return `Cannot play: this browser does not support the stream's codecs (${data.details}).`;
  }
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
    return `Cannot play: network error, ${data.details}${code}${url ? ` for ${url}` : ""}.`;
  }
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR || data.type === Hls.ErrorTypes.MUX_ERROR) {
    return `Cannot play: this browser could not decode the stream (${data.details}).`;
  }
  return `Cannot play: ${data.type}/${data.details}${code}.`;
}

// A <video> element's own error, in words.
export function describeVideoError(video) {
  const error = video.error;
  const kinds = { 1: "aborted", 2: "network error", 3: "could not decode",
    4: "format not supported" };
  if (!error) return "Cannot play: the video element failed.";
  return `Cannot play: ${kinds[error.code] || `error ${error.code}`}${error.message ? ` (${error.message})` : ""}.`;
}

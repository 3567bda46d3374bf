// The globals the vendored scripts define (<script src="/web/vendor/…">), typed from the
// npm packages themselves.
import type HlsType from "hls.js";
import type * as Tus from "tus-js-client";

declare global {
  const Hls: typeof HlsType | undefined;
  const tus: typeof Tus | undefined;
}

// @ts-check
// The stream page's bitrate graph: each variant's measured segments over the last
// minutes, drawn as SVG by this code (a chart library would be the page's largest file).
import { bitrate, el } from "/ui/static/lib.js";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#6cb8ff", "#f3c969", "#6fdc8c", "#ff9f6c", "#c49bff", "#ff7a9c"];

/** @typedef {{name: string, segment_rates?: {sequence: number, at: string, bitrate: number}[]}} Measured */

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attributes
 * @param {...SVGElement} children
 */
function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

/**
 * The next round value at or above `value` (1, 2 or 5 times a power of ten): the top
 * of the graph's scale.
 * @param {number} value
 */
function roundUp(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((step) => step * power >= value) || 10) * power;
}

/** @param {number} ms */
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit",
    second: "2-digit" });
}

export class BitrateGraph {
  /** @param {number} spanSeconds  how far back the graph goes from the newest segment */
  constructor(spanSeconds) {
    this.span = spanSeconds;
    /** Each variant's measured segments: sequence → [time in ms, bits per second].
     * @type {Map<string, Map<number, [number, number]>>} */
    this.samples = new Map();
    this.element = el("div", { id: "graph" });
    this.legend = el("ul", { class: "row", id: "legend", style: "list-style: none; padding: 0" });
  }

  /**
   * Takes the variants' newest measurements; returns how many each variant holds.
   * @param {Measured[]} variants
   * @returns {Record<string, number>}
   */
  collect(variants) {
    const samples = this.samples;
    for (const v of variants) {
      let known = samples.get(v.name);
      if (!known) samples.set(v.name, known = new Map());
      for (const rate of v.segment_rates || []) {
        const at = Date.parse(rate.at);
        if (!Number.isNaN(at)) known.set(rate.sequence, [at, rate.bitrate]);
      }
    }
    // The last minutes, measured from the newest segment (the publisher's clock, which
    // need not be this browser's).
    const newest = Math.max(0, ...[...samples.values()].flatMap((m) => [...m.values()].map((p) => p[0])));
    for (const [variant, known] of samples) {
      for (const [sequence, [at]] of known) {
        if (at < newest - this.span * 1000) known.delete(sequence);
      }
      if (!known.size && !variants.some((v) => v.name === variant)) samples.delete(variant);
    }
    return Object.fromEntries([...samples].map(([v, m]) => [v, m.size]));
  }

  draw() {
    const graph = this.element;
    const legend = this.legend;
    const series = [...this.samples].map(([variant, known]) =>
      ({ variant, points: [...known.values()].sort((a, b) => a[0] - b[0]) }))
      .filter((s) => s.points.length);
    const all = series.flatMap((s) => s.points);
    if (!all.length) {
      graph.replaceChildren(el("p", { class: "empty", text: "No segments measured yet: the graph starts with the stream's first segments." }));
      legend.replaceChildren();
      return;
    }
    const width = Math.max(280, Math.floor(graph.clientWidth || 600));
    const height = 200;
    const pad = { left: 78, right: 12, top: 12, bottom: 26 };
    const first = Math.min(...all.map((p) => p[0]));
    const last = Math.max(...all.map((p) => p[0]));
    const span = Math.max(last - first, 1000);
    const top = roundUp(Math.max(...all.map((p) => p[1])) * 1.05);
    const x = (/** @type {number} */ t) =>
      pad.left + ((t - (last - span)) / span) * (width - pad.left - pad.right);
    const y = (/** @type {number} */ bps) =>
      pad.top + (1 - bps / top) * (height - pad.top - pad.bottom);
    /** @type {SVGElement[]} */
    const parts = [];
    for (const fraction of [0, 0.5, 1]) {
      const value = top * fraction;
      parts.push(
        svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value),
          stroke: "#2e3640", "stroke-width": 1 }),
        svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end",
          fill: "#9aa6b2", "font-size": 12 }));
      parts[parts.length - 1].textContent = fraction ? bitrate(value) : "0";
    }
    const times = [svg("text", { x: pad.left, y: height - 6, fill: "#9aa6b2", "font-size": 12 }),
      svg("text", { x: width - pad.right, y: height - 6, "text-anchor": "end", fill: "#9aa6b2",
        "font-size": 12 })];
    times[0].textContent = clock(last - span);
    times[1].textContent = clock(last);
    parts.push(...times);
    series.forEach((s, index) => {
      const colour = COLOURS[index % COLOURS.length];
      parts.push(svg("polyline", { fill: "none", stroke: colour, "stroke-width": 2,
        "stroke-linejoin": "round", "data-variant": s.variant,
        points: s.points.map(([t, bps]) => `${x(t).toFixed(1)},${y(bps).toFixed(1)}`).join(" ") }));
      for (const [t, bps] of s.points) {
        parts.push(svg("circle", { cx: x(t).toFixed(1), cy: y(bps).toFixed(1), r: 2.5,
          fill: colour }));
      }
    });
    const summary = series.map((s) =>
      `${s.variant || "the stream"}: ${bitrate(s.points[s.points.length - 1][1])} now`).join("; ");
    const title = svg("title", {});
    title.textContent = `Measured bitrate per segment, ${clock(last - span)} to ${clock(last)}. ${summary}.`;
    graph.replaceChildren(svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img", id: "bitrate-graph" }, title, ...parts));
    legend.replaceChildren(...series.map((s, index) => el("li", {},
      el("span", { "aria-hidden": "true",
        style: `display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;background:${COLOURS[index % COLOURS.length]}` }),
      `${s.variant || "(single variant)"}: ${bitrate(s.points[s.points.length - 1][1])}`)));
  }
}

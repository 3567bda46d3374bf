// The types of /web/pages.js (shared with the spectate page, which is plain JavaScript).
export function say(element: HTMLElement, text: string): void;
export function hlsSupport(nativeVideo?: HTMLVideoElement | null): Promise<{ canPlay: boolean; text: string }>;
export function vendorProblem(name: string, what: string): Promise<string>;
export function describeHlsError(data: unknown): string;
export function describeVideoError(video: HTMLVideoElement): string;

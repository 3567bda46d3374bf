// The types of /web/client/hlsd-ws-client.js (the websocket client package, plain
// JavaScript for the seed's users), as the spectate page uses it.
export interface HlsWebSocketOptions {
  cdnServerUrl: string;
  streamId: string;
  authToken?: string;
  delay?: number;
  maxDelay?: number;
}
export interface ReconnectEvent { delay: number; closedByServer: boolean; received: number }
export class HlsWebSocket {
  static isSupported(): boolean;
  constructor(options: HlsWebSocketOptions);
  received: number;
  addEventListener(event: "error", handler: (error: Error) => void): void;
  addEventListener(event: "ended" | "close", handler: () => void): void;
  addEventListener(event: "reconnect", handler: (event: ReconnectEvent) => void): void;
  attachMedia(media: HTMLMediaElement): void;
  start(): void;
  destroy(): void;
}

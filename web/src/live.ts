// The live connection to the notifier: a ticket per connection (a token never
// goes in a URL), `?since=` on every reconnection so nothing is missed, and
// a visible state while it is down.

import { api, type Notification, type Post } from "./api";

export type LiveEvent =
  | { id: string; type: "post.created"; data: { post: Post } }
  | { id: string; type: "post.deleted"; data: { post_id: string; author_id: string } }
  | { id: string; type: "notification"; data: { notification: Notification } };

export type LiveState = "connecting" | "live" | "reconnecting" | "closed";

/** Where the notifier listens: the api writes it into the page (see index.html). */
export function websocketUrl(): string {
  const configured = document.querySelector<HTMLMetaElement>('meta[name="social-websocket"]')?.content.trim() || ":4000/ws";
  const secure = location.protocol === "https:";
  // ":4000/ws": this page's host on another port (the notifier of `social` and the served mode).
  if (configured.startsWith(":")) return `${secure ? "wss" : "ws"}://${location.hostname}${configured}`;
  // "/ws": the same origin (behind a balancer).
  if (configured.startsWith("/")) return `${secure ? "wss" : "ws"}://${location.host}${configured}`;
  return configured.replace(/^http/, "ws");
}

/**
 * A UUIDv7 for an instant: a `since` cursor before any event was seen, so a
 * drop before the first event still replays what was missed.
 */
export function uuidV7At(millis: number): string {
  const hex = Math.max(0, Math.floor(millis)).toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

const MAX_BACKOFF_MS = 15_000;
// How far back the first cursor reaches, against a clock ahead of the server's;
// what it replays twice is dropped by id.
const CLOCK_SLACK_MS = 60_000;

export class Live {
  private socket: WebSocket | null = null;
  private cursor: string | null = null;
  private attempt = 0;
  private retryTimer: number | undefined;
  private stopped = true;
  // A connection is being set up (ticket in flight): a second one would double every event.
  private pending = false;
  state: LiveState = "closed";

  constructor(
    private readonly onEvent: (event: LiveEvent) => void,
    private readonly onState: (state: LiveState) => void,
  ) {
    // The browser knows before the socket does: show the drop at once, and
    // come back as soon as the network does instead of waiting out the backoff.
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => {
      if (this.stopped || this.socket !== null) return;
      window.clearTimeout(this.retryTimer);
      void this.connect();
    });
  }

  /** Moves the cursor forward to an id seen over REST or the socket (UUIDv7s sort by time). */
  saw(id: string): void {
    if (this.cursor === null || id > this.cursor) this.cursor = id;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.cursor ??= uuidV7At(Date.now() - CLOCK_SLACK_MS);
    void this.connect();
  }

  /** Closes the socket for good (sign out). */
  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.cursor = null;
    this.socket?.close(1000, "signed out");
    this.socket = null;
    this.setState("closed");
  }

  /**
   * Gives the connection up as lost and starts reconnecting, without waiting
   * for a closing handshake that a dead network never completes.
   */
  drop(): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    socket.onclose = null;
    socket.onmessage = null;
    socket.close(4000, "network lost");
    this.retry();
  }

  private setState(state: LiveState): void {
    this.state = state;
    this.onState(state);
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.pending) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let ticket: string;
    this.pending = true;
    try {
      ({ ticket } = await api.wsTicket());
    } catch {
      this.retry();
      return;
    } finally {
      this.pending = false;
    }
    if (this.stopped || this.socket !== null) return;
    const url = new URL(websocketUrl());
    url.searchParams.set("ticket", ticket);
    if (this.cursor !== null) url.searchParams.set("since", this.cursor);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setState("live");
    };
    socket.onmessage = (message) => {
      let event: LiveEvent;
      try {
        event = JSON.parse(String(message.data)) as LiveEvent;
      } catch {
        return;
      }
      this.saw(event.id);
      this.onEvent(event);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    this.attempt += 1;
    this.setState("reconnecting");
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.attempt - 1, 5));
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), delay);
  }
}

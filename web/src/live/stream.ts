// The live feed of store events: one EventSource on /api/v1/stream for the whole page,
// shared by every view through `subscribe`. No polling: badges and timelines move when
// the gateway pushes an event.
//
// Reconnection: while the browser retries by itself (a dropped connection), it resends
// the last event id and the stream resumes without a gap. When the browser gives up (an
// HTTP error, say a proxy's 502), this class asks whether the session is still good and
// opens a new EventSource with `last_event_id`, backing off up to 15 s. When the browser
// reports the network gone, the link counts as lost at once (a dead connection can look
// open for a long time) and is opened afresh as soon as the browser is online again. Listeners of `onState` hear "reconnecting"
// while any of this goes on and "live" (with `resumed`) once events flow again, so a
// view can reload what it shows in case the outage swallowed something.

import { API } from "../api/client";
import type { Envelope } from "../api/types";
import { EVENT_TYPES } from "./lifecycle.gen";

// The SSE `event:` names the gateway sends: one per event type (shared/lifecycle.py).
export { EVENT_TYPES };

export type LinkState = "connecting" | "live" | "reconnecting" | "stopped";
type EventListener = (event: Envelope) => void;
type StateListener = (state: LinkState, resumed: boolean) => void;
export type SourceFactory = (url: string) => EventSource;

const MAX_BACKOFF_MS = 15_000;
const CLOSED = 2; // EventSource.CLOSED, spelled out for environments without EventSource

export class LiveStream {
  state: LinkState = "connecting";
  private source: EventSource | null = null;
  private lastId = "";
  private failures = 0;
  private everLive = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly events = new Set<EventListener>();
  private readonly states = new Set<StateListener>();

  constructor(
    private readonly sessionAlive: () => Promise<boolean>,
    private readonly open: SourceFactory = (url) => new EventSource(url),
    private readonly path = `${API}/stream`,
  ) {}

  start(): void {
    this.setState("connecting");
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connect();
  }

  stop(): void {
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
    this.setState("stopped");
  }

  subscribe(listener: EventListener): () => void {
    this.events.add(listener);
    return () => this.events.delete(listener);
  }

  onState(listener: StateListener): () => void {
    this.states.add(listener);
    return () => this.states.delete(listener);
  }

  private connect(): void {
    this.source?.close();
    const url = this.lastId ? `${this.path}?last_event_id=${encodeURIComponent(this.lastId)}` : this.path;
    const source = this.open(url);
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      const resumed = this.everLive;
      this.everLive = true;
      this.setState("live", resumed);
    };
    source.onerror = () => this.onError(source);
    for (const type of EVENT_TYPES) source.addEventListener(type, this.onEvent);
  }

  private readonly onEvent = (message: Event): void => {
    const { data, lastEventId } = message as MessageEvent<string>;
    if (lastEventId) this.lastId = lastEventId;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(data) as Envelope;
    } catch {
      return; // not an envelope: nothing a view could show
    }
    for (const listener of this.events) listener(envelope);
  };

  private onError(source: EventSource): void {
    if (source !== this.source) return;
    this.setState("reconnecting");
    if (source.readyState !== CLOSED) return; // the browser retries by itself
    source.close();
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.failures);
    this.failures += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.retry(), delay);
  }

  private async retry(): Promise<void> {
    let alive = true;
    try {
      alive = await this.sessionAlive();
    } catch {
      alive = true; // unreachable: keep trying, the banner says so
    }
    if (this.state === "stopped") return;
    if (alive) this.connect();
    else this.stop();
  }

  private readonly onOffline = (): void => {
    if (this.state !== "stopped") this.setState("reconnecting");
  };

  private readonly onOnline = (): void => {
    if (this.state !== "reconnecting") return;
    clearTimeout(this.timer);
    this.failures = 0;
    this.connect();
  };

  private setState(state: LinkState, resumed = false): void {
    if (this.state === state && !resumed) return;
    this.state = state;
    for (const listener of this.states) listener(state, resumed);
  }
}

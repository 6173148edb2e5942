import { afterEach, describe, expect, it, vi } from "vitest";
import type { Envelope } from "../src/api/types";
import { LiveStream, type LinkState } from "../src/live/stream";
import { FakeEventSource, eventOf } from "./fakes";

function started(alive = async () => true) {
  FakeEventSource.install();
  const stream = new LiveStream(alive);
  const events: Envelope[] = [];
  const states: LinkState[] = [];
  stream.subscribe((e) => events.push(e));
  stream.onState((s) => states.push(s));
  stream.start();
  return { stream, events, states };
}

describe("the live feed", () => {
  let stream: LiveStream | undefined;
  afterEach(() => stream?.stop());

  it("hands every store event to its listeners", () => {
    const run = started();
    stream = run.stream;
    FakeEventSource.latest.open();
    const ready = eventOf("ready", "s1", { url: "http://a" });
    FakeEventSource.latest.emit(ready, 7);
    expect(run.events).toEqual([ready]);
  });

  it("says reconnecting while the browser retries, and live again after", () => {
    const run = started();
    stream = run.stream;
    const source = FakeEventSource.latest;
    source.open();
    source.fail();
    expect(run.stream.state).toBe("reconnecting");
    source.open();
    expect(run.states).toEqual(["live", "reconnecting", "live"]);
  });

  it("opens a new connection resuming after the last event once the browser gives up", async () => {
    vi.useFakeTimers();
    const run = started();
    stream = run.stream;
    const first = FakeEventSource.latest;
    first.open();
    first.emit(eventOf("provisioning", "s1"), 41);
    first.fail(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.latest.url).toBe("/api/v1/stream?last_event_id=41");
  });

  it("stops instead of reconnecting when the session is over", async () => {
    vi.useFakeTimers();
    const run = started(async () => false);
    stream = run.stream;
    FakeEventSource.latest.fail(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(run.stream.state).toBe("stopped");
  });
});

describe("the live feed and the browser's network signal", () => {
  it("counts the link as lost when the browser goes offline and reopens it when online", () => {
    const run = started();
    const first = FakeEventSource.latest;
    first.open();
    first.emit(eventOf("ready", "s1"), 12);
    window.dispatchEvent(new Event("offline"));
    expect(run.stream.state).toBe("reconnecting");
    window.dispatchEvent(new Event("online"));
    expect(FakeEventSource.latest).not.toBe(first);
    expect(FakeEventSource.latest.url).toBe("/api/v1/stream?last_event_id=12");
    FakeEventSource.latest.open();
    expect(run.states.at(-1)).toBe("live");
    run.stream.stop();
  });
});

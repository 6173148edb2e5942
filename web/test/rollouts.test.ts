import { describe, expect, it } from "vitest";
import type { RolloutState } from "../src/api/types";
import {
  allows,
  currentWaveText,
  eventConcerns,
  formFieldOf,
  pollInterval,
  ROLLOUT_POLL_MS,
  thresholdOf,
  totals,
  waveSizeText,
  waveState,
  wavesOf,
} from "../src/live/rollouts";
import { ALICE, BOB, eventOf } from "./fakes";

const ROLLOUT = "33333333-3333-4333-8333-333333333333";
const OTHER = "44444444-4444-4444-8444-444444444444";

describe("a rollout's state", () => {
  it("allows pause from running, resume from paused, abort from either, nothing once ended", () => {
    const allowed = (state: RolloutState) => (["pause", "resume", "abort"] as const).filter((c) => allows(state, c));
    expect(allowed("running")).toEqual(["pause", "abort"]);
    expect(allowed("paused")).toEqual(["resume", "abort"]);
    for (const ended of ["completed", "stopped", "aborted"] as const) expect(allowed(ended)).toEqual([]);
  });

  it("is polled only while a rollout is running or paused", () => {
    expect(pollInterval([])).toBeNull();
    expect(pollInterval(["completed", "aborted", "stopped"])).toBeNull();
    expect(pollInterval(["completed", "paused"])).toBe(ROLLOUT_POLL_MS);
    expect(pollInterval(["running"])).toBe(ROLLOUT_POLL_MS);
  });
});

describe("waves", () => {
  it("read as store counts and shares", () => {
    expect(["1", "10", "5%", "100%"].map(waveSizeText)).toEqual(["1 store", "10 stores", "5% of the stores", "all the stores"]);
  });

  it("stand done before the current wave, waiting after it, and not reached once stopped", () => {
    const running = { state: "running" as const, current_wave: 1 };
    expect([0, 1, 2].map((w) => waveState(running, w))).toEqual(["done", "current", "waiting"]);
    const stopped = { state: "stopped" as const, current_wave: 1 };
    expect([0, 1, 2].map((w) => waveState(stopped, w))).toEqual(["done", "not reached", "not reached"]);
    expect(waveState({ state: "completed", current_wave: 3 }, 3)).toBe("done");
  });

  it("say which wave a rollout is in, counted from one", () => {
    expect(currentWaveText({ state: "paused", current_wave: 1, waves: ["1", "5%", "100%"] })).toBe("wave 2 of 3");
    expect(currentWaveText({ state: "completed", current_wave: 2, waves: ["1", "5%", "100%"] })).toBe("all waves done");
  });

  it("add up to the rollout's totals, in-flight upgrades counted as pending", () => {
    const progress = [
      { wave: 0, size: "1", stores: 1, counts: { completed: 1 } },
      { wave: 1, size: "100%", stores: 5, counts: { completed: 1, rolled_back: 1, failed: 1, requested: 1, pending: 1 } },
    ];
    expect(totals(progress)).toEqual({ upgraded: 2, rolledBack: 1, failed: 1, pending: 2 });
  });
});

describe("an upgrade event on the feed", () => {
  const running = { id: ROLLOUT, state: "running" as const, storeIds: new Set([ALICE]) };
  const aborted = { id: ROLLOUT, state: "aborted" as const, storeIds: new Set([ALICE]) };

  it("concerns the rollout it names, and no other", () => {
    expect(eventConcerns(eventOf("upgrade.requested", BOB, { rollout_id: ROLLOUT }), [running])).toBe(true);
    expect(eventConcerns(eventOf("upgrade.requested", ALICE, { rollout_id: OTHER }), [running])).toBe(false);
  });

  it("without a rollout id, concerns a rollout listing the store, or any still running", () => {
    expect(eventConcerns(eventOf("upgrade.completed", ALICE), [aborted])).toBe(true);
    expect(eventConcerns(eventOf("upgrade.completed", BOB), [aborted])).toBe(false);
    expect(eventConcerns(eventOf("upgrade.rolled_back", BOB), [running])).toBe(true);
  });

  it("is the only kind that makes the page read again", () => {
    expect(eventConcerns(eventOf("ready", ALICE), [running])).toBe(false);
    expect(eventConcerns(eventOf("upgrade.started", ALICE), [])).toBe(false);
  });
});

describe("the start form", () => {
  it("sends waves as a list, the threshold as a fraction", () => {
    expect(wavesOf(" 1, 5%,25%  100% ")).toEqual(["1", "5%", "25%", "100%"]);
    expect(thresholdOf("10")).toBeCloseTo(0.1);
    expect(thresholdOf("0")).toBe(0);
  });

  it("puts a refusal next to the field it names", () => {
    const fields = ["engine", "waves"] as const;
    expect(formFieldOf("waves.0", fields)).toBe("waves");
    expect(formFieldOf("engine", fields)).toBe("engine");
    expect(formFieldOf("state", fields)).toBeNull();
    expect(formFieldOf(undefined, fields)).toBeNull();
  });
});

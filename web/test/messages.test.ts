import { describe, expect, it } from "vitest";
import { ApiError, NetworkError } from "../src/api/client";
import { explain } from "../src/messages";
import { storeOf } from "./fakes";

describe("errors say what happened and what to do", () => {
  it("tells when to retry after a rate limit", () => {
    const now = new Date(2026, 0, 1, 12, 0, 0);
    const advice = explain(new ApiError(429, "rate_limited", "slow down", undefined, 42), [], now);
    expect(advice.text).toMatch(/Try again in 42 seconds \(after 12:00:42/);
  });

  it("names a failed store first when the quota is full", () => {
    const old = storeOf({ name: "Oldest", created_at: "2025-01-01T00:00:00Z" });
    const broken = storeOf({ name: "Broken", status: "failed", created_at: "2026-02-01T00:00:00Z" });
    const advice = explain(new ApiError(403, "quota_exceeded", "you have 2 of your 2 stores"), [old, broken]);
    expect(advice.text).toMatch(/Delete one of your stores.*“Broken”, “Oldest”/);
    expect(advice.candidates?.map((s) => s.name)).toEqual(["Broken", "Oldest"]);
  });

  it("says the page keeps trying when the network is gone", () => {
    expect(explain(new NetworkError()).text).toMatch(/keeps trying/);
  });

  it("gives a reference for a server error", () => {
    const advice = explain(new ApiError(500, "internal", "x", undefined, undefined, "req-7"));
    expect(advice.text).toMatch(/reference req-7.*Try again/);
  });
});

import { describe, expect, it, vi } from "vitest";
import { ApiError, NetworkError, createStore, domainQueue, retryAfterSeconds, whenSignedOut, me } from "../src/api/client";
import { fakeApi, refusal } from "./fakes";

describe("the API client", () => {
  it("turns a refusal into an ApiError with its field and Retry-After", async () => {
    fakeApi({ "POST /api/v1/stores": refusal(429, "rate_limited", "too many", undefined, { "Retry-After": "30" }) });
    const error = await createStore({ name: "x", engine: "woocommerce", plan: "small" }, "k").catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 429, code: "rate_limited", retryAfter: 30 });
  });

  it("sends an Idempotency-Key with every create", async () => {
    const api = fakeApi({ "POST /api/v1/stores": refusal(422, "invalid", "bad", "name") });
    await createStore({ name: "x", engine: "woocommerce", plan: "small" }, "key-1").catch(() => {});
    expect(api.calls[0]?.headers["Idempotency-Key"]).toBe("key-1");
  });

  it("asks for the certificate queue with the gateway's default page, or the limit given", async () => {
    const api = fakeApi({ "GET /api/v1/admin/domains/queue": { body: { items: [], queued: 0, issuing: 0 } } });
    expect(await domainQueue()).toEqual({ items: [], queued: 0, issuing: 0 });
    await domainQueue(500);
    expect(api.calls.map((c) => c.url.search)).toEqual(["", "?limit=500"]);
  });

  it("reports an unreachable gateway as a NetworkError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(me()).rejects.toBeInstanceOf(NetworkError);
  });

  it("tells the page when the session has ended", async () => {
    fakeApi({ "GET /api/v1/me": refusal(401, "unauthenticated", "sign in") });
    const signedOut = vi.fn();
    whenSignedOut(signedOut);
    await me().catch(() => {});
    expect(signedOut).toHaveBeenCalledOnce();
  });

  it("reads Retry-After as seconds or as a date", () => {
    expect(retryAfterSeconds("12")).toBe(12);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterSeconds("Thu, 01 Jan 2026 00:01:00 GMT", now)).toBe(60);
    expect(retryAfterSeconds(null)).toBeUndefined();
  });
});

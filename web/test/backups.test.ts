import { describe, expect, it } from "vitest";
import type { Backup } from "../src/api/types";
import { applyToBackups, mergeBackups, sizeText, staleWarning } from "../src/live/backups";
import { applyEvent } from "../src/live/status";
import { eventOf, storeOf } from "./fakes";

const STORE = "5b0c6a7e-9f7d-4d3e-8a51-2c1f0e9d8b7a";
const BACKUP = "0f4f7c1e-2b7a-4c51-9d1e-8a3b5c7d9e0f";

const backupEvent = (type: string, data: Record<string, unknown> = {}) =>
  eventOf(type, STORE, { backup_id: BACKUP, ...data });

describe("backup events move a backup's row only forwards", () => {
  it("adds a backup first seen in the feed and fills it as its events arrive", () => {
    let list: Backup[] = [];
    list = applyToBackups(list, backupEvent("backup.requested", { reason: "on_demand", requested_by: "u1" }));
    list = applyToBackups(list, backupEvent("backup.started", { worker: "w" }));
    list = applyToBackups(
      list,
      backupEvent("backup.completed", { size: 4096, engine: "woocommerce", engine_version: "6.5" }),
    );
    list = applyToBackups(list, backupEvent("backup.verified", { ok: true, orders: 12 }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: "verified", size_bytes: 4096, orders: 12, reason: "on_demand" });
  });

  it("never moves a verified backup back to running, and a failed verification says why", () => {
    let list = applyToBackups([], backupEvent("backup.verified", { ok: false, reason: "no orders" }));
    list = applyToBackups(list, backupEvent("backup.started"));
    expect(list[0]).toMatchObject({ status: "failed", error: "verification failed: no orders" });
  });

  it("drops a deleted backup and ignores other stores' events", () => {
    const list = applyToBackups([], backupEvent("backup.requested"));
    expect(applyToBackups(list, backupEvent("backup.deleted", { reason: "retention" }))).toEqual([]);
    expect(applyToBackups(list, eventOf("ready", STORE, { url: "x" }))).toBe(list);
  });

  it("keeps what the feed showed when an older page arrives", () => {
    const live = applyToBackups([], backupEvent("backup.started"));
    const page = [{ ...(live[0] as Backup), status: "requested" as const }];
    expect(mergeBackups(live, page)[0]?.status).toBe("running");
  });

  it("writes sizes in words", () => {
    expect(sizeText(4096)).toBe("4.0 KiB");
    expect(sizeText(null)).toBe("—");
  });
});

describe("a restore moves the store through restoring", () => {
  it("goes ready -> restoring -> ready, and a late started never reopens it", () => {
    const store = storeOf({ status: "ready" });
    const restoring = applyEvent(store, eventOf("restore.started", store.id));
    expect(restoring.status).toBe("restoring");
    const back = applyEvent(restoring, eventOf("restore.completed", store.id));
    expect(back.status).toBe("ready");
    const failed = applyEvent(restoring, eventOf("restore.failed", store.id, { reason: "bad dump" }));
    expect(failed).toMatchObject({ status: "failed", error: "bad dump" });
    expect(applyEvent(storeOf({ status: "provisioning" }), eventOf("restore.started", store.id)).status).toBe(
      "provisioning",
    );
  });
});

describe("a store whose backups are stale says so", () => {
  const iso = (text: string) => `at ${text}`;
  const since = "2025-12-31T02:00:00Z"; // before the fakes' events

  it("names the last verified backup and the plan's interval", () => {
    const freshness = { stale: true, last_verified_at: since, interval_hours: 24 };
    expect(staleWarning(freshness, [], iso)).toBe(
      `No verified backup since at ${since}; this plan backs up every 24 hours.`,
    );
  });

  it("says when there is none yet, and nothing when the gateway finds it fresh", () => {
    expect(staleWarning({ stale: true, last_verified_at: null, interval_hours: 1 }, [], iso)).toBe(
      "No verified backup yet; this plan backs up every hour.",
    );
    expect(staleWarning({ stale: false, last_verified_at: since, interval_hours: 24 }, [], iso)).toBeNull();
  });

  it("goes away once the feed shows a backup verified since, not for a failed one", () => {
    const freshness = { stale: true, last_verified_at: since, interval_hours: 24 };
    let list = applyToBackups([], backupEvent("backup.requested", { reason: "scheduled" }));
    list = applyToBackups(list, backupEvent("backup.verified", { ok: false, reason: "no orders" }));
    expect(staleWarning(freshness, list, iso)).not.toBeNull();
    const verified = applyToBackups([], backupEvent("backup.verified", { ok: true, orders: 3 }));
    expect(staleWarning(freshness, verified, iso)).toBeNull();
  });
});

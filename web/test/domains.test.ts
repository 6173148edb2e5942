import { describe, expect, it } from "vitest";
import type { DnsRecord, Domain } from "../src/api/types";
import {
  applyToDomains,
  applyToPrimary,
  askedPrimary,
  certificateText,
  mayBePrimary,
  mergeDomains,
  movesQueue,
  needsReload,
  nextStep,
  queueSummary,
  recordInstruction,
  refusalText,
  stateText,
  urlFailureText,
  withDomain,
  zoneLine,
} from "../src/live/domains";
import { eventOf } from "./fakes";

const STORE = "5b0c6a7e-9f7d-4d3e-8a51-2c1f0e9d8b7a";
const DOMAIN_ID = "0f4f7c1e-2b7a-4c51-9d1e-8a3b5c7d9e0f";

function domainOf(overrides: Partial<Domain> = {}): Domain {
  return {
    id: DOMAIN_ID,
    store_id: STORE,
    domain: "shop.example.org",
    state: "pending_dns",
    reason: null,
    requested_at: "2026-01-02T00:00:00Z",
    checked_at: null,
    verified_at: null,
    issuing_at: null,
    not_after: null,
    records: [],
    ...overrides,
  };
}

const domainEvent = (type: string, data: Record<string, unknown> = {}) =>
  eventOf(type, STORE, { domain_id: DOMAIN_ID, domain: "shop.example.org", ...data }, "reaper");

describe("domain events move a domain's badge only forwards", () => {
  it("verifies a pending domain, and a late repeat of domain.added moves nothing", () => {
    let list = [domainOf()];
    list = applyToDomains(list, domainEvent("domain.verified"));
    expect(list[0]).toMatchObject({ state: "verified", reason: null });
    expect(list[0]?.verified_at).not.toBeNull();
    const again = applyToDomains(list, domainEvent("domain.added", { challenge: "x" }));
    expect(again).toBe(list);
  });

  it("keeps the reason of a failure and never moves it back to verified", () => {
    let list = applyToDomains([domainOf()], domainEvent("domain.failed", { reason: "expired" }));
    list = applyToDomains(list, domainEvent("domain.verified"));
    expect(list[0]).toMatchObject({ state: "failed", reason: "expired" });
  });

  it("drops a domain its owner removed, and marks one the verifier unlinked", () => {
    const list = [domainOf({ state: "verified" })];
    expect(applyToDomains(list, domainEvent("domain.removed", { reason: "owner" }))).toEqual([]);
    const unlinked = applyToDomains(list, domainEvent("domain.removed", { reason: "dns_missing" }));
    expect(unlinked[0]).toMatchObject({ state: "removed", reason: "dns_missing" });
  });

  it("moves a verified domain to issuing, then active with its certificate's expiry", () => {
    let list = [domainOf({ state: "verified", verified_at: "2026-01-02T00:05:00Z" })];
    list = applyToDomains(list, domainEvent("domain.issuing"));
    expect(list[0]).toMatchObject({ state: "issuing", reason: null, not_after: null });
    expect(list[0]?.issuing_at).not.toBeNull();
    const notAfter = "2026-04-02T00:00:00Z";
    list = applyToDomains(list, domainEvent("domain.active", { not_after: notAfter }));
    expect(list[0]).toMatchObject({ state: "active", not_after: notAfter });
    // A late issuing, or an event repeated, moves nothing back.
    expect(applyToDomains(list, domainEvent("domain.issuing"))).toBe(list);
    expect(applyToDomains(list, domainEvent("domain.verified"))).toBe(list);
  });

  it("records no expiry for a domain served over HTTP, straight from verified", () => {
    const list = applyToDomains([domainOf({ state: "verified" })], domainEvent("domain.active"));
    expect(list[0]).toMatchObject({ state: "active", not_after: null, issuing_at: null });
  });

  it("keeps the reason of a certificate refused while issuing", () => {
    const list = applyToDomains(
      [domainOf({ state: "issuing" })],
      domainEvent("domain.failed", { reason: "challenge_failed" }),
    );
    expect(list[0]).toMatchObject({ state: "failed", reason: "challenge_failed" });
  });

  it("ignores other events, and asks for the list again for a domain it has not seen", () => {
    const list = [domainOf()];
    expect(applyToDomains(list, eventOf("ready", STORE, { url: "x" }))).toBe(list);
    const elsewhere = eventOf("domain.added", STORE, { domain_id: "another", domain: "b.example.org" });
    expect(applyToDomains(list, elsewhere)).toBe(list);
    expect(needsReload(list, elsewhere)).toBe(true);
    expect(needsReload(list, domainEvent("domain.verified"))).toBe(false);
    expect(needsReload(list, eventOf("ready", STORE))).toBe(false);
  });

  it("keeps what the feed showed when an older list arrives, and adds an answer once", () => {
    const live = [domainOf({ state: "verified" })];
    expect(mergeDomains(live, [domainOf()])[0]?.state).toBe("verified");
    expect(mergeDomains(live, [])).toEqual([]);
    const later = domainOf({ id: "later", requested_at: "2026-01-03T00:00:00Z" });
    expect(withDomain(withDomain(live, later), later).map((d) => d.id)).toEqual([DOMAIN_ID, "later"]);
    expect(withDomain(live, domainOf())[0]?.state).toBe("verified");
  });
});

describe("domains in words", () => {
  it("names each state and says what to do while it waits for DNS", () => {
    expect(stateText("pending_dns")).toBe("waiting for DNS");
    expect(stateText("verified")).toBe("verified");
    expect(nextStep({ state: "pending_dns", reason: null })).toMatch(/at your DNS provider. We check every few minutes/);
  });

  it("says what happens next while the certificate is waited for, issued and served", () => {
    expect(stateText("issuing")).toBe("getting a certificate");
    expect(nextStep({ state: "verified", reason: null })).toMatch(/waits for its certificate/);
    expect(nextStep({ state: "issuing", reason: null })).toMatch(/^A certificate is being issued/);
    expect(nextStep({ state: "active", reason: null })).toMatch(/^The store answers at this domain/);
    expect(nextStep({ state: "failed", reason: "challenge_failed" })).toBe(
      "Failed: the certificate authority could not confirm the domain. Check that the CNAME (or A) record points at the platform, then add the domain again.",
    );
    expect(nextStep({ state: "failed", reason: "rate_limited" })).toMatch(/again in an hour or two\.$/);
  });

  it("says until when an active domain's certificate is valid, or that it is served over HTTP", () => {
    const day = (iso: string) => iso.slice(0, 10);
    expect(certificateText({ state: "active", not_after: "2026-04-02T00:00:00Z" }, day)).toBe(
      "Certificate valid until 2026-04-02.",
    );
    expect(certificateText({ state: "active", not_after: null }, day)).toBe("Served over HTTP, without a certificate.");
    expect(certificateText({ state: "issuing", not_after: null }, day)).toBeNull();
    expect(certificateText({ state: "active", not_after: "2026-04-02T00:00:00Z" })).toMatch(/2026/);
  });

  it("says why a domain failed or was unlinked", () => {
    expect(nextStep({ state: "failed", reason: "expired" })).toBe(
      "Failed: the TXT record with the token was not found in time. Add it again to get a new token and try once more.",
    );
    expect(nextStep({ state: "removed", reason: "dns_missing" })).toMatch(/^Unlinked: the TXT record/);
    expect(nextStep({ state: "failed", reason: null })).toMatch(/no reason was given/);
  });

  it("explains each refusal of an add, with a 422's code", () => {
    expect(refusalText(422, "wildcard_domain", "wildcard domains are not supported", 2)).toBe(
      "Wildcard domains are not supported (wildcard_domain).",
    );
    expect(refusalText(409, "domain_taken", "another store holds this domain", 2)).toMatch(/Another store already holds/);
    expect(refusalText(409, "domain_limit", "the store's plan allows 2 custom domains", 2)).toBe(
      "This store's plan allows 2 custom domains. Remove one, or move the store to a larger plan.",
    );
    expect(refusalText(409, "domain_exists", "the store already has this domain", 2)).toMatch(/already has this domain/);
  });
});

describe("DNS records to copy", () => {
  const txt: DnsRecord = {
    type: "TXT",
    name: "_storefleet-challenge.shop.example.org",
    value: "storefleet-verify-abc",
    purpose: "proves you hold the domain",
  };
  const cname: DnsRecord = { type: "CNAME", name: "shop.example.org", value: "ingress.stores.localhost", purpose: "p" };
  const a: DnsRecord = { type: "A", name: "shop.example.org", value: "203.0.113.7", purpose: "p" };

  it("writes each record as a zone file line", () => {
    expect(zoneLine(txt)).toBe('_storefleet-challenge.shop.example.org. 3600 IN TXT "storefleet-verify-abc"');
    expect(zoneLine(cname, 300)).toBe("shop.example.org. 300 IN CNAME ingress.stores.localhost.");
    expect(zoneLine(a)).toBe("shop.example.org. 3600 IN A 203.0.113.7");
  });

  it("escapes quotes and backslashes in a TXT value", () => {
    expect(zoneLine({ ...txt, value: 'a"b\\c' })).toBe('_storefleet-challenge.shop.example.org. 3600 IN TXT "a\\"b\\\\c"');
  });

  it("says in plain words what to do with each record", () => {
    expect(recordInstruction(txt)).toBe("Create this TXT record at your DNS provider; we check every few minutes.");
    expect(recordInstruction(cname)).toMatch(/CNAME/);
    expect(recordInstruction(a)).toMatch(/apex.*A record instead/);
  });
});

describe("the certificate queue", () => {
  const item = { id: "q", store_id: STORE, store_name: "Shop", domain: "a.example.org", verified_at: null, issuing_at: null };

  it("counts the domains waiting and issuing, and says when only the first are shown", () => {
    const one = { ...item, state: "verified" as const, position: 1 };
    expect(queueSummary({ items: [one], queued: 1, issuing: 0 })).toBe(
      "1 domain waits for a certificate; 0 are being issued.",
    );
    expect(queueSummary({ items: [one], queued: 250, issuing: 1 })).toBe(
      "250 domains wait for a certificate; 1 is being issued. Showing the first 1 of 251.",
    );
  });

  it("is read again on the events that move it", () => {
    expect(movesQueue(domainEvent("domain.verified"))).toBe(true);
    expect(movesQueue(domainEvent("domain.active"))).toBe(true);
    expect(movesQueue(domainEvent("domain.added"))).toBe(false);
    expect(movesQueue(eventOf("ready", STORE))).toBe(false);
  });
});

describe("the store's primary domain as the feed moves it", () => {
  const store = "s-1";
  const asked = askedPrimary({ operation_id: "op-1", store_id: store, domain_id: "d-1", domain: "shop.example.org" });

  it("is under way from the 202 until the change's own url.changed", () => {
    expect(asked).toEqual({ id: "d-1", pending: { operation_id: "op-1", domain: "shop.example.org" }, failure: null, ended: null });
    const other = eventOf("url.changed", store, { operation_id: "op-0", url: "https://old.example.org" });
    expect(applyToPrimary(asked, other)).toBe(asked);
    const done = applyToPrimary(asked, eventOf("url.changed", store, { operation_id: "op-1", url: "https://shop.example.org" }));
    expect(done).toEqual({ ...asked, pending: null });
  });

  it("says why a change did not happen, in words", () => {
    const failed = eventOf("url.failed", store, { operation_id: "op-1", url: "", code: "setup_failed", reason: "the setup did not complete." });
    expect(applyToPrimary(asked, failed).failure).toBe(
      "The address was not changed: the setup did not complete (setup_failed). Try again.",
    );
    expect(urlFailureText("replaced", "")).toBe("A later change of the address replaced this one.");
  });

  it("knows the domain that ended and only an active one other than the primary may become it", () => {
    const back = eventOf("domain.primary", store, { operation_id: "op-2", domain_id: null, domain: null, reason: "domain_ended", ended_domain: "shop.example.org" });
    expect(applyToPrimary(asked, back)).toEqual({ id: null, pending: { operation_id: "op-2", domain: null }, failure: null, ended: "shop.example.org" });
    expect(mayBePrimary({ id: "d-2", state: "active" }, asked)).toBe(true);
    expect(mayBePrimary({ id: "d-1", state: "active" }, asked)).toBe(false);
    expect(mayBePrimary({ id: "d-3", state: "issuing" }, asked)).toBe(false);
  });
});

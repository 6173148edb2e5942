import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { QueuedDomain } from "../src/api/types";
import { CertificateQueue } from "../src/views/CertificateQueue";
import { eventOf, fakeApi, refusal } from "./fakes";
import { renderLive } from "./render";

const QUEUE = "GET /api/v1/admin/domains/queue";
const STORE = "33333333-3333-4333-8333-333333333333";

function itemOf(overrides: Partial<QueuedDomain>): QueuedDomain {
  return {
    id: "q-1",
    store_id: STORE,
    store_name: "Corner shop",
    domain: "shop.example.org",
    state: "verified",
    position: 1,
    verified_at: "2026-01-02T00:00:00Z",
    issuing_at: null,
    ...overrides,
  };
}

describe("the certificate queue page", () => {
  it("lists the queue by position, then the domains issuing, with their stores", async () => {
    const items = [
      itemOf({}),
      itemOf({ id: "q-2", domain: '<img src=x onerror="alert(1)">.example.org', position: 2, store_name: null }),
      itemOf({ id: "q-3", domain: "busy.example.org", state: "issuing", position: null, issuing_at: "2026-01-02T00:09:00Z" }),
    ];
    fakeApi({ [QUEUE]: { body: { items, queued: 2, issuing: 1 } } });
    const { container } = renderLive(<CertificateQueue />);

    const first = await screen.findByRole("row", { name: /shop\.example\.org/ });
    expect(within(first).getByText("1")).toBeTruthy();
    expect(within(first).getByRole("link", { name: "Corner shop" }).getAttribute("href")).toBe(`/stores/${STORE}`);
    expect(within(first).getByText("verified")).toBeTruthy();
    const hostile = screen.getByRole("row", { name: /onerror/ });
    expect(within(hostile).getByRole("link", { name: STORE })).toBeTruthy(); // no name yet: its id
    expect(container.querySelector("img")).toBeNull();
    const issuing = screen.getByRole("row", { name: /busy\.example\.org/ });
    expect(within(issuing).getByText("getting a certificate")).toBeTruthy();
    expect(within(issuing).getByText("issuing since")).toBeTruthy();
    expect(screen.getByTestId("queue-summary").textContent).toBe(
      "2 domains wait for a certificate; 1 is being issued.",
    );
  });

  it("is read again once the feed brings a domain event, and on Refresh", async () => {
    let items = [itemOf({})];
    const api = fakeApi({ [QUEUE]: () => ({ body: { items, queued: items.length, issuing: 0 } }) });
    const { source } = renderLive(<CertificateQueue />);
    source.open();
    await screen.findByRole("row", { name: /shop\.example\.org/ });

    items = [];
    source.emit(eventOf("domain.issuing", STORE, { domain_id: "q-1", domain: "shop.example.org" }, "reaper"), 7);
    source.emit(eventOf("domain.active", STORE, { domain_id: "q-1", domain: "shop.example.org" }, "reaper"), 8);
    await waitFor(() => expect(screen.queryByRole("row", { name: /shop\.example\.org/ })).toBeNull(), { timeout: 3000 });
    expect(api.count(QUEUE)).toBe(2); // two events, one read

    await userEvent.setup().click(screen.getByRole("button", { name: "Refresh" }));
    await waitFor(() => expect(api.count(QUEUE)).toBe(3));
    expect(screen.getByTestId("queue-summary").textContent).toBe("0 domains wait for a certificate; 0 are being issued.");
  });

  it("says so when the gateway refuses", async () => {
    fakeApi({ [QUEUE]: refusal(403, "forbidden", "only administrators may do this") });
    renderLive(<CertificateQueue />);
    expect(await screen.findByRole("alert")).toBeTruthy();
    expect(screen.queryByTestId("certificate-queue")).toBeNull();
  });
});

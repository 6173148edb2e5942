import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Domain, Store } from "../src/api/types";
import { Domains } from "../src/views/Domains";
import { eventOf, fakeApi, refusal, storeOf } from "./fakes";
import { renderLive } from "./render";

const TOKEN = "storefleet-verify-0123456789abcdef0123456789abcdef";

function pendingOf(store: Store, name: string, id = "d-1"): Domain {
  return {
    id,
    store_id: store.id,
    domain: name,
    state: "pending_dns",
    reason: null,
    requested_at: "2026-01-02T00:00:00Z",
    checked_at: null,
    verified_at: null,
    issuing_at: null,
    not_after: null,
    records: [
      { type: "TXT", name: `_storefleet-challenge.${name}`, value: TOKEN, purpose: "proves you hold the domain" },
      { type: "CNAME", name, value: "ingress.stores.localhost", purpose: "sends visitors" },
    ],
  };
}

const listOf = (items: Domain[]) => ({ body: { items, max_domains: 2 } });

describe("the Domains section", () => {
  it("shows the TXT record to create and moves the badge to verified on the feed's event", async () => {
    const store = storeOf();
    const domain = pendingOf(store, "shop.example.org");
    fakeApi({ [`GET /api/v1/stores/${store.id}/domains`]: listOf([domain]) });
    const { source } = renderLive(<Domains store={store} />);
    source.open();
    const item = (await screen.findByTestId("domains")).querySelector("li") as HTMLElement;
    expect(within(item).getByTestId("domain-state").textContent).toBe("waiting for DNS");
    expect((within(item).getByLabelText("TXT record value") as HTMLInputElement).value).toBe(TOKEN);
    expect(within(item).getByText(/Create this TXT record at your DNS provider/)).toBeTruthy();

    source.emit(eventOf("domain.verified", store.id, { domain_id: domain.id, domain: domain.domain }, "reaper"), 3);
    expect(within(item).getByTestId("domain-state").textContent).toBe("verified");
    expect(item.dataset.state).toBe("verified");
  });

  it("shows a certificate's expiry once the feed says the domain is active, and HTTP without one", async () => {
    const store = storeOf();
    const issuing = { ...pendingOf(store, "shop.example.org"), state: "issuing" as const, issuing_at: "2026-01-02T00:10:00Z" };
    const plain = { ...pendingOf(store, "plain.example.org", "d-2"), state: "active" as const };
    fakeApi({ [`GET /api/v1/stores/${store.id}/domains`]: listOf([issuing, plain]) });
    const { source } = renderLive(<Domains store={store} />);
    source.open();
    const [first, second] = Array.from((await screen.findByTestId("domains")).querySelectorAll("li")) as HTMLElement[];
    expect(within(first as HTMLElement).getByTestId("domain-state").textContent).toBe("getting a certificate");
    expect(within(first as HTMLElement).queryByTestId("domain-certificate")).toBeNull();
    expect(within(second as HTMLElement).getByTestId("domain-certificate").textContent).toBe(
      "Served over HTTP, without a certificate.",
    );

    const notAfter = "2026-04-02T12:00:00Z";
    source.emit(eventOf("domain.active", store.id, { domain_id: issuing.id, domain: issuing.domain, not_after: notAfter }, "reaper"), 5);
    expect(within(first as HTMLElement).getByTestId("domain-state").textContent).toBe("active");
    expect(within(first as HTMLElement).getByTestId("domain-certificate").textContent).toMatch(
      /^Certificate valid until .*2026\.$/,
    );
  });

  it("reads the list again for a domain added elsewhere, whose records only the gateway has", async () => {
    const store = storeOf();
    const later = pendingOf(store, "other.example.org", "d-2");
    let items: Domain[] = [];
    const api = fakeApi({ [`GET /api/v1/stores/${store.id}/domains`]: () => listOf(items) });
    const { source } = renderLive(<Domains store={store} />);
    source.open();
    await screen.findByText("No custom domains yet.");
    items = [later];
    source.emit(eventOf("domain.added", store.id, { domain_id: "d-2", domain: later.domain }, "someone"), 4);
    expect(await screen.findByText("other.example.org")).toBeTruthy();
    expect(api.count(`GET /api/v1/stores/${store.id}/domains`)).toBe(2);
  });

  it("shows a 422 next to the field with its code, and a hostile name as text", async () => {
    const store = storeOf();
    const hostile = pendingOf(store, '<img src=x onerror="alert(1)">.example.org');
    fakeApi({
      [`GET /api/v1/stores/${store.id}/domains`]: listOf([hostile]),
      [`POST /api/v1/stores/${store.id}/domains`]: refusal(422, "wildcard_domain", "wildcard domains are not supported", "domain"),
    });
    const { container } = renderLive(<Domains store={store} />);
    expect(await screen.findByText(hostile.domain)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();

    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Domain"), "*.example.org");
    await user.click(screen.getByRole("button", { name: "Add domain" }));
    const input = screen.getByLabelText("Domain");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(input.getAttribute("aria-describedby") ?? "")?.textContent).toBe(
      "Wildcard domains are not supported (wildcard_domain).",
    );
  });

  it("removes a domain only once confirmed", async () => {
    const store = storeOf();
    const domain = pendingOf(store, "gone.example.org");
    const api = fakeApi({
      [`GET /api/v1/stores/${store.id}/domains`]: listOf([domain]),
      [`DELETE /api/v1/stores/${store.id}/domains/gone.example.org`]: { status: 204 },
    });
    renderLive(<Domains store={store} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Remove…" }));
    expect(api.count(`DELETE /api/v1/stores/${store.id}/domains/gone.example.org`)).toBe(0);
    await user.click(within(screen.getByRole("group", { name: "Remove gone.example.org" })).getByRole("button", { name: "Remove" }));
    expect(await screen.findByText("No custom domains yet.")).toBeTruthy();
    expect(api.count(`DELETE /api/v1/stores/${store.id}/domains/gone.example.org`)).toBe(1);
  });
});

describe("the store's primary domain", () => {
  const activeOf = (store: Store, name: string, id: string): Domain => ({
    ...pendingOf(store, name, id),
    state: "active",
    not_after: "2026-04-02T12:00:00Z",
  });

  it("makes an active domain the primary, shows the change under way, and goes back to the host", async () => {
    const store = storeOf({ slug: "corner", url: "http://corner.stores.localhost" });
    const active = activeOf(store, "shop.example.org", "d-1");
    const pending = pendingOf(store, "later.example.org", "d-2");
    const primaryPath = `/api/v1/stores/${store.id}/primary-domain`;
    const change = (operation_id: string, domain: Domain | null) => ({
      status: 202,
      body: { operation_id, store_id: store.id, domain_id: domain?.id ?? null, domain: domain?.domain ?? null },
    });
    const api = fakeApi({
      [`GET /api/v1/stores/${store.id}/domains`]: {
        body: { items: [active, pending], max_domains: 2, primary_domain_id: null, url: store.url, host: "corner.stores.localhost" },
      },
      [`PUT ${primaryPath}`]: change("op-1", active),
      [`DELETE ${primaryPath}`]: change("op-2", null),
    });
    const { source } = renderLive(<Domains store={store} />);
    source.open();
    const address = await screen.findByTestId("store-address");
    expect(within(address).getByTestId("store-url").textContent).toBe("http://corner.stores.localhost");
    // Only an active domain may be made the primary; there is none to go back from yet.
    const choose = screen.getAllByRole("button", { name: /primary domain$/ });
    expect(choose.map((b) => b.getAttribute("aria-label"))).toEqual(["Make shop.example.org the store's primary domain"]);
    expect(screen.queryByRole("button", { name: "Use corner.stores.localhost" })).toBeNull();

    const user = userEvent.setup();
    await user.click(choose[0] as HTMLElement);

    expect(api.calls.filter((c) => c.method === "PUT").map((c) => c.body)).toEqual([{ domain_id: "d-1" }]);
    const item = screen.getByText("shop.example.org").closest("li") as HTMLElement;
    expect(within(item).getByTestId("domain-primary").textContent).toBe("primary");
    expect(screen.getByTestId("primary-pending").textContent).toMatch(/^Moving the store's address to shop\.example\.org/);
    expect(screen.queryAllByRole("button", { name: /primary domain$/ })).toEqual([]);
    const reset = screen.getByRole("button", { name: "Use corner.stores.localhost" }) as HTMLButtonElement;
    expect(reset.disabled).toBe(true); // one change at a time

    source.emit(eventOf("url.changed", store.id, { operation_id: "op-1", url: "https://shop.example.org", seconds: 40 }), 7);
    expect(screen.queryByTestId("primary-pending")).toBeNull();
    expect(reset.disabled).toBe(false);

    await user.click(reset);
    expect(api.count(`DELETE ${primaryPath}`)).toBe(1);
    expect(screen.getByTestId("primary-pending").textContent).toMatch(/to corner\.stores\.localhost/);
    expect(within(item).queryByTestId("domain-primary")).toBeNull();
    source.emit(eventOf("url.failed", store.id, { operation_id: "op-2", url: "", code: "store_not_ready", reason: "suspended" }), 8);
    expect(screen.getByTestId("primary-failure").textContent).toBe(
      "The address was not changed: the store was not ready. It takes the new address when it next starts.",
    );
  });

  it("shows the gateway's refusal and changes nothing", async () => {
    const store = storeOf();
    const active = activeOf(store, "shop.example.org", "d-1");
    fakeApi({
      [`GET /api/v1/stores/${store.id}/domains`]: { body: { items: [active], max_domains: 2, host: "x.stores.localhost" } },
      [`PUT /api/v1/stores/${store.id}/primary-domain`]: refusal(409, "operation_in_progress", "another change of this store is under way"),
    });
    renderLive(<Domains store={store} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: /primary domain$/ }));
    expect(await screen.findByText("Another change of this store is under way.")).toBeTruthy();
    expect(screen.queryByTestId("domain-primary")).toBeNull();
    expect(screen.queryByTestId("primary-pending")).toBeNull();
  });

  it("follows the reaper sending the store back to its host when its primary domain is unlinked", async () => {
    const store = storeOf({ url: "https://shop.example.org" });
    const active = activeOf(store, "shop.example.org", "d-1");
    fakeApi({
      [`GET /api/v1/stores/${store.id}/domains`]: {
        body: { items: [active], max_domains: 2, primary_domain_id: "d-1", url: store.url, host: "corner.stores.localhost" },
      },
    });
    const { source } = renderLive(<Domains store={store} />);
    source.open();
    const item = (await screen.findByTestId("domains")).querySelector("li") as HTMLElement;
    expect(within(item).getByTestId("domain-primary")).toBeTruthy();
    expect(screen.getByTestId("store-address").querySelector("p")?.textContent).toBe(
      "The store answers at https://shop.example.org (and still at corner.stores.localhost).",
    );

    const data = { domain_id: "d-1", domain: "shop.example.org", reason: "dns_missing", requested_by: "reaper" };
    source.emit(eventOf("domain.removed", store.id, data, "reaper"), 9);
    expect(within(item).queryByTestId("domain-primary")).toBeNull();
    const back = { operation_id: "op-9", domain_id: null, domain: null, reason: "domain_ended", ended_domain: "shop.example.org" };
    source.emit(eventOf("domain.primary", store.id, back, "reaper"), 10);
    expect(screen.getByText("shop.example.org stopped being served, so the store went back to corner.stores.localhost.")).toBeTruthy();
    expect(screen.getByTestId("primary-pending").textContent).toMatch(/to corner\.stores\.localhost/);
  });
});

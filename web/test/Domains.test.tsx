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

import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FALLBACK_CATALOG } from "../src/api/client";
import { MyStores } from "../src/views/MyStores";
import { eventOf, fakeApi, meOf, page, refusal, storeOf } from "./fakes";
import { renderLive } from "./render";

const row = (name: string) => screen.getByRole("row", { name: new RegExp(name) });

describe("My stores", () => {
  it("lists each store with its engine, URL, created time and quota use", async () => {
    const stores = [storeOf({ name: "Tea Shop" }), storeOf({ name: "Book Nook" }), storeOf({ name: "Bikes" })];
    fakeApi({ "GET /api/v1/stores": page(stores) });
    renderLive(<MyStores me={meOf(undefined, undefined, "user", 3, 10)} catalog={FALLBACK_CATALOG} />);

    const tea = await screen.findByRole("row", { name: /Tea Shop/ });
    expect(within(tea).getByText("woocommerce")).toBeTruthy();
    expect(within(tea).getByRole("link", { name: /shop-\d+\.stores\.localhost/ })).toBeTruthy();
    expect(within(tea).getByText((_, el) => el?.tagName === "TIME")).toBeTruthy();
    expect(screen.getByTestId("quota").textContent).toMatch(/^3 of 10 stores/);
  });

  it("moves a badge to ready from the live feed, without loading the list again", async () => {
    const shop = storeOf({ name: "Live Shop", status: "provisioning", url: null });
    const api = fakeApi({ "GET /api/v1/stores": page([shop]) });
    const { source } = renderLive(<MyStores me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    await screen.findByRole("row", { name: /Live Shop/ });
    expect(within(row("Live Shop")).getByText("provisioning")).toBeTruthy();

    source.emit(eventOf("progress", shop.id, { wave: "workloads" }), 10);
    source.emit(eventOf("ready", shop.id, { url: "http://live-shop.stores.localhost" }), 11);

    expect(within(row("Live Shop")).getByText("ready")).toBeTruthy();
    expect(within(row("Live Shop")).getByRole("link", { name: "live-shop.stores.localhost" })).toBeTruthy();
    expect(api.count("GET /api/v1/stores")).toBe(1);
  });

  it("applies events that arrive while the list is still loading", async () => {
    const shop = storeOf({ name: "Early", status: "requested" });
    let answer: (value: unknown) => void = () => {};
    fakeApi({ "GET /api/v1/stores": () => new Promise((resolve) => (answer = () => resolve(page([shop])))) });
    const { source } = renderLive(<MyStores me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    source.emit(eventOf("provisioning", shop.id), 3);
    answer(null);
    expect(await screen.findByText("provisioning")).toBeTruthy();
  });

  it("removes a store once the feed says it is deleted, and counts the quota down", async () => {
    const [a, b] = [storeOf({ name: "Keep" }), storeOf({ name: "Drop" })];
    fakeApi({ "GET /api/v1/stores": page([a, b]) });
    const { source } = renderLive(<MyStores me={meOf(undefined, undefined, "user", 2, 5)} catalog={FALLBACK_CATALOG} />);
    source.open();
    await screen.findByRole("row", { name: /Drop/ });
    source.emit(eventOf("deleted", b.id, { namespace: b.namespace }), 9);
    expect(screen.queryByRole("row", { name: /Drop/ })).toBeNull();
    expect(screen.getByTestId("quota").textContent).toMatch(/^1 of 5 stores/);
  });

  it("shows the API's validation message next to the field it names", async () => {
    const api = fakeApi({
      "GET /api/v1/stores": page([]),
      "POST /api/v1/stores": refusal(422, "reserved_slug", "the name 'admin' is reserved; choose another", "name"),
    });
    renderLive(<MyStores me={meOf()} catalog={FALLBACK_CATALOG} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Store name"), "Admin");
    await user.click(screen.getByRole("button", { name: "Create store" }));

    const name = screen.getByLabelText("Store name");
    await waitFor(() => expect(name.getAttribute("aria-invalid")).toBe("true"));
    const note = document.getElementById(name.getAttribute("aria-describedby") ?? "");
    expect(note?.textContent).toBe("The name 'admin' is reserved; choose another.");
    expect(document.activeElement).toBe(name);
    expect(api.calls.at(-1)?.body).toEqual({ name: "Admin", engine: "woocommerce", plan: "small" });
  });

  it("adds a created store at once, with its requested badge", async () => {
    const created = storeOf({ name: "Fresh", status: "requested", url: null });
    fakeApi({ "GET /api/v1/stores": page([]), "POST /api/v1/stores": { status: 202, body: created } });
    renderLive(<MyStores me={meOf(undefined, undefined, "user", 0, 10)} catalog={FALLBACK_CATALOG} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Store name"), "Fresh");
    await user.click(screen.getByRole("button", { name: "Create store" }));
    expect(within(await screen.findByRole("row", { name: /Fresh/ })).getByText("requested")).toBeTruthy();
    expect(screen.getByTestId("quota").textContent).toMatch(/^1 of 10 stores/);
  });

  it("names the store to delete when the quota is full", async () => {
    const broken = storeOf({ name: "Broken Shop", status: "failed" });
    fakeApi({
      "GET /api/v1/stores": page([storeOf({ name: "Good Shop" }), broken]),
      "POST /api/v1/stores": refusal(403, "quota_exceeded", "you have 2 of your 2 stores; delete one first"),
    });
    renderLive(<MyStores me={meOf(undefined, undefined, "user", 2, 2)} catalog={FALLBACK_CATALOG} />);
    await screen.findByRole("row", { name: /Broken Shop/ });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Store name"), "Third");
    await user.click(screen.getByRole("button", { name: "Create store" }));

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/reached your store quota/);
    expect(within(alert).getByRole("link", { name: /Broken Shop \(failed\)/ }).getAttribute("href")).toBe(
      `/stores/${broken.id}`,
    );
  });

  it("says when to try again after a rate limit and holds the button until then", async () => {
    fakeApi({
      "GET /api/v1/stores": page([]),
      "POST /api/v1/stores": refusal(429, "rate_limited", "too many store creations", undefined, { "Retry-After": "30" }),
    });
    renderLive(<MyStores me={meOf()} catalog={FALLBACK_CATALOG} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Store name"), "Busy");
    await user.click(screen.getByRole("button", { name: "Create store" }));

    expect((await screen.findByRole("alert")).textContent).toMatch(/Try again in 30 seconds \(after /);
    expect((screen.getByRole("button", { name: /Create store/ }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("loads the list again after the feed comes back from an outage", async () => {
    const api = fakeApi({ "GET /api/v1/stores": page([storeOf({ name: "Steady" })]) });
    const { source } = renderLive(<MyStores me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    await screen.findByRole("row", { name: /Steady/ });
    source.fail();
    source.open();
    await waitFor(() => expect(api.count("GET /api/v1/stores")).toBe(2));
  });
});

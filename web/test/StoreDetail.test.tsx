import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { AuditEntry, Store } from "../src/api/types";
import { StoreDetail } from "../src/views/StoreDetail";
import { ALICE, BOB, eventOf, fakeApi, meOf, page, refusal, storeOf } from "./fakes";
import { renderLive } from "./render";

const entry = (type: string, store: Store, data: Record<string, unknown> = {}, actor = "provisioner"): AuditEntry => {
  const e = eventOf(type, store.id, data, actor);
  return { ...e, kind: "event", stream_seq: 1 };
};

function showing(store: Store, timeline: AuditEntry[] = [], extra = {}) {
  return fakeApi({
    [`GET /api/v1/stores/${store.id}`]: { body: store },
    [`GET /api/v1/stores/${store.id}/events`]: page(timeline),
    ...extra,
  });
}

describe("the store detail page", () => {
  it("shows the timeline and adds each provisioning step as it happens", async () => {
    const store = storeOf({ name: "Timely", status: "provisioning", url: null });
    showing(store, [entry("requested", store, { engine: "woocommerce", plan: "small" }, ALICE), entry("provisioning", store, { worker: "w-1" })]);
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} />);
    source.open();
    const timeline = await screen.findByTestId("timeline");
    expect(within(timeline).getByText("Requested")).toBeTruthy();
    expect(within(timeline).getByText(/woocommerce, plan small/)).toBeTruthy();
    expect(within(timeline).getByText(/· you/)).toBeTruthy();

    source.emit(eventOf("progress", store.id, { wave: "guardrails", applied: ["Namespace/x", "ResourceQuota/q"] }), 5);
    source.emit(eventOf("ready", store.id, { url: "http://timely.stores.localhost" }), 6);

    expect(within(timeline).getByText("Step done: guardrails")).toBeTruthy();
    expect(within(timeline).getByText(/2 objects applied/)).toBeTruthy();
    expect(within(timeline).getAllByRole("listitem").map((li) => li.dataset.type)).toEqual([
      "requested",
      "provisioning",
      "progress",
      "ready",
    ]);
    expect(screen.getByRole("link", { name: "timely.stores.localhost" }).getAttribute("href")).toBe(
      "http://timely.stores.localhost",
    );
  });

  it("does not repeat an event that is both stored and streamed", async () => {
    const store = storeOf({ status: "ready" });
    const ready = entry("ready", store, { url: store.url });
    showing(store, [ready]);
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} />);
    source.open();
    await screen.findByTestId("timeline");
    source.emit({ ...eventOf("ready", store.id, { url: store.url }), id: ready.id }, 4);
    expect(within(screen.getByTestId("timeline")).getAllByRole("listitem")).toHaveLength(1);
  });

  it("reveals the admin credentials to the owner, and hides them again", async () => {
    const store = storeOf({ status: "ready" });
    showing(store, [], {
      [`GET /api/v1/stores/${store.id}/credentials`]: { body: { username: "admin", password: "s3cret-pw", url: "http://x/wp-admin" } },
    });
    renderLive(<StoreDetail id={store.id} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Reveal admin credentials" }));
    expect((await screen.findByTestId("store-password")).textContent).toBe("s3cret-pw");
    await user.click(screen.getByRole("button", { name: "Hide credentials" }));
    expect(screen.queryByText("s3cret-pw")).toBeNull();
    expect(window.localStorage.length + window.sessionStorage.length).toBe(0);
  });

  it("offers no credentials to someone who is not the owner", async () => {
    const store = storeOf({ status: "ready", owner: { id: ALICE, username: "alice" } });
    showing(store);
    renderLive(<StoreDetail id={store.id} me={meOf(BOB, "root", "admin")} />);
    await screen.findByRole("heading", { name: "Timeline" });
    expect(screen.queryByRole("button", { name: /credentials/ })).toBeNull();
  });

  it("retries a failed store, and shows the reason it failed", async () => {
    const store = storeOf({ status: "failed", error: "the engine chart could not be rendered", url: null });
    const api = showing(store, [], { [`POST /api/v1/stores/${store.id}/retry`]: { status: 202, body: { ...store, status: "requested", error: null } } });
    renderLive(<StoreDetail id={store.id} me={meOf()} />);
    expect(await screen.findByText("the engine chart could not be rendered")).toBeTruthy();
    await userEvent.setup().click(screen.getByRole("button", { name: "Retry" }));
    await waitFor(() => expect(screen.getAllByText("requested").length).toBeGreaterThan(0));
    expect(api.count(`POST /api/v1/stores/${store.id}/retry`)).toBe(1);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
  });

  it("deletes only once the store's name is typed exactly", async () => {
    const store = storeOf({ name: "Careful Shop", status: "ready" });
    const api = showing(store, [], { [`DELETE /api/v1/stores/${store.id}`]: { status: 202, body: { ...store, status: "deleting" } } });
    renderLive(<StoreDetail id={store.id} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Delete store…" }));
    const confirm = screen.getByRole("button", { name: "Delete this store for good" }) as HTMLButtonElement;
    await user.type(screen.getByLabelText(/Type the store's name/), "careful shop");
    expect(confirm.disabled).toBe(true);
    await user.clear(screen.getByLabelText(/Type the store's name/));
    await user.type(screen.getByLabelText(/Type the store's name/), "Careful Shop{Enter}");
    await screen.findByText(/is being deleted/);
    expect(api.count(`DELETE /api/v1/stores/${store.id}`)).toBe(1);
  });

  it("says so when the store does not exist or is someone else's", async () => {
    const id = "99999999-9999-4999-8999-999999999999";
    fakeApi({
      [`GET /api/v1/stores/${id}`]: refusal(404, "not_found", "no such store"),
      [`GET /api/v1/stores/${id}/events`]: refusal(404, "not_found", "no such store"),
    });
    renderLive(<StoreDetail id={id} me={meOf()} />);
    expect((await screen.findByRole("alert")).textContent).toMatch(/no longer exists, or it is not yours/);
  });
});

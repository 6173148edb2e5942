import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { FALLBACK_CATALOG } from "../src/api/client";
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
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
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

  it("moves the store's URL to its primary domain once the feed says it changed", async () => {
    const store = storeOf({ status: "ready", url: "http://corner.stores.localhost" });
    showing(store, [], {
      [`GET /api/v1/stores/${store.id}/domains`]: { body: { items: [], max_domains: 2, host: "corner.stores.localhost" } },
    });
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    expect(await screen.findByRole("link", { name: "corner.stores.localhost" })).toBeTruthy();

    const asked = { operation_id: "p1", domain_id: "d-1", domain: "shop.example.org", tls: true, reason: "owner" };
    source.emit(eventOf("domain.primary", store.id, asked, ALICE), 5);
    source.emit(eventOf("url.changed", store.id, { operation_id: "p1", url: "https://shop.example.org", seconds: 30 }), 6);

    expect(screen.getByRole("link", { name: "shop.example.org" }).getAttribute("href")).toBe("https://shop.example.org");
    // the address line is drawn once the domains have loaded
    expect((await screen.findByTestId("store-url")).textContent).toBe("https://shop.example.org");
    const timeline = screen.getByTestId("timeline");
    expect(within(timeline).getByText("Primary domain chosen")).toBeTruthy();
    expect(within(timeline).getByText("Address changed")).toBeTruthy();
    expect(within(timeline).getByText(/now https:\/\/shop\.example\.org in 30\.0 s/)).toBeTruthy();
  });

  it("shows the engine version next to the engine", async () => {
    const store = storeOf({ status: "ready", engine_version: "6.8.3-wc10.2.2" });
    showing(store);
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    expect((await screen.findByTestId("store-engine")).textContent).toBe("woocommerce 6.8.3-wc10.2.2");
  });

  it("shows only the engine of a store from before engine versions", async () => {
    const store = storeOf({ status: "ready", engine_version: null });
    showing(store);
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    expect((await screen.findByTestId("store-engine")).textContent).toBe("woocommerce");
  });

  it("does not repeat an event that is both stored and streamed", async () => {
    const store = storeOf({ status: "ready" });
    const ready = entry("ready", store, { url: store.url });
    showing(store, [ready]);
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
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
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
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
    renderLive(<StoreDetail id={store.id} me={meOf(BOB, "root", "admin")} catalog={FALLBACK_CATALOG} />);
    await screen.findByRole("heading", { name: "Timeline" });
    expect(screen.queryByRole("button", { name: /credentials/ })).toBeNull();
  });

  it("retries a failed store, and shows the reason it failed", async () => {
    const store = storeOf({ status: "failed", error: "the engine chart could not be rendered", url: null });
    const api = showing(store, [], { [`POST /api/v1/stores/${store.id}/retry`]: { status: 202, body: { ...store, status: "requested", error: null } } });
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    expect(await screen.findByText("the engine chart could not be rendered")).toBeTruthy();
    await userEvent.setup().click(screen.getByRole("button", { name: "Retry" }));
    await waitFor(() => expect(screen.getAllByText("requested").length).toBeGreaterThan(0));
    expect(api.count(`POST /api/v1/stores/${store.id}/retry`)).toBe(1);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
  });

  it("deletes only once the store's name is typed exactly", async () => {
    const store = storeOf({ name: "Careful Shop", status: "ready" });
    const api = showing(store, [], { [`DELETE /api/v1/stores/${store.id}`]: { status: 202, body: { ...store, status: "deleting" } } });
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
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

  it("suspends only once the store's name is typed, then follows the feed to suspended and back", async () => {
    const store = storeOf({ name: "Quiet Shop", status: "ready" });
    const operation = (kind: string, id: string) => ({
      status: 202,
      body: { operation_id: id, store_id: store.id, kind, status: kind === "suspend" ? "suspending" : "resuming" },
    });
    const api = showing(store, [], {
      [`POST /api/v1/stores/${store.id}/suspend`]: operation("suspend", "s1"),
      [`POST /api/v1/stores/${store.id}/resume`]: operation("resume", "r1"),
    });
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Suspend…" }));
    expect(screen.queryByLabelText(/Reason/)).toBeNull(); // the owner gives none
    const confirm = screen.getByRole("button", { name: "Suspend this store" }) as HTMLButtonElement;
    await user.type(screen.getByLabelText(/to suspend it/), "quiet shop{Enter}");
    expect(confirm.disabled).toBe(true);
    expect(api.count(`POST /api/v1/stores/${store.id}/suspend`)).toBe(0);
    await user.clear(screen.getByLabelText(/to suspend it/));
    await user.type(screen.getByLabelText(/to suspend it/), "Quiet Shop{Enter}");

    expect(await screen.findByRole("progressbar", { name: "suspending progress" })).toBeTruthy();
    expect(screen.getAllByText("suspending").length).toBeGreaterThan(0);
    expect(api.calls.find((c) => c.method === "POST")?.body).toBeUndefined();
    source.emit(eventOf("suspend.started", store.id, { operation_id: "s1" }), 7);
    source.emit(eventOf("suspend.completed", store.id, { operation_id: "s1", seconds: 2 }), 8);
    expect(await screen.findByText(/visitors see a “store paused” page/)).toBeTruthy();
    expect(within(screen.getByTestId("timeline")).getByText("Suspended")).toBeTruthy();

    await user.click(screen.getByRole("button", { name: "Resume" }));
    expect(await screen.findByRole("progressbar", { name: "resuming progress" })).toBeTruthy();
    source.emit(eventOf("resume.started", store.id, { operation_id: "r1" }), 9);
    source.emit(eventOf("resume.completed", store.id, { operation_id: "r1", seconds: 5 }), 10);
    expect(await screen.findByRole("button", { name: "Suspend…" })).toBeTruthy();
    expect(screen.getAllByText("ready").length).toBeGreaterThan(0);
  });

  it("lets an administrator give a reason, and the owner reads it", async () => {
    const store = storeOf({ name: "Unpaid Shop", status: "ready", owner: { id: ALICE, username: "alice" } });
    const api = showing(store, [], {
      [`POST /api/v1/stores/${store.id}/suspend`]: {
        status: 202,
        body: { operation_id: "s1", store_id: store.id, kind: "suspend", status: "suspending" },
      },
    });
    renderLive(<StoreDetail id={store.id} me={meOf(BOB, "root", "admin")} catalog={FALLBACK_CATALOG} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Suspend…" }));
    await user.type(screen.getByLabelText(/Reason/), "unpaid");
    await user.type(screen.getByLabelText(/to suspend it/), "Unpaid Shop{Enter}");
    await screen.findByRole("progressbar");
    expect(api.calls.find((c) => c.method === "POST")?.body).toEqual({ reason: "unpaid" });

    const suspended = { ...store, status: "suspended" as const };
    showing(suspended, [entry("suspend.requested", store, { operation_id: "s1", reason: "suspended by an administrator: unpaid" }, BOB)]);
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    expect((await screen.findByTestId("suspend-reason")).textContent).toBe("Why: suspended by an administrator: unpaid");
    expect(within(screen.getByTestId("timeline")).getByText(/· an administrator/)).toBeTruthy();
  });

  it("shows the gateway's refusal and stays as it was", async () => {
    const store = storeOf({ status: "suspended" });
    showing(store, [], {
      [`POST /api/v1/stores/${store.id}/resume`]: refusal(409, "operation_in_progress", "a suspend or resume of this store is under way"),
    });
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Resume" }));
    const card = screen.getByRole("region", { name: "This store is suspended" });
    expect((await within(card).findByRole("alert")).textContent).toBe("A suspend or resume of this store is under way.");
    expect(screen.getAllByText("suspended").length).toBeGreaterThan(0);
    expect((screen.getByRole("button", { name: "Resume" }) as HTMLButtonElement).disabled).toBe(false);
  });

  it("changes the plan from the catalog's other plans, under way until plan.changed", async () => {
    const store = storeOf({ name: "Growing Shop", status: "ready", plan: "small" });
    const api = showing(store, [], {
      [`PATCH /api/v1/stores/${store.id}`]: {
        status: 202,
        body: { operation_id: "p1", store_id: store.id, plan: "medium", previous_plan: "small" },
      },
    });
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    const user = userEvent.setup();
    const select = (await screen.findByLabelText("New plan")) as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["", "medium"]);
    expect(screen.getByRole("option", { name: "medium: 4 CPU / 8Gi, 50Gi storage" })).toBeTruthy();
    expect((screen.getByRole("button", { name: "Change plan" }) as HTMLButtonElement).disabled).toBe(true);
    await user.selectOptions(select, "medium");
    await user.click(screen.getByRole("button", { name: "Change to medium" }));

    expect(await screen.findByRole("progressbar", { name: "plan change progress" })).toBeTruthy();
    expect(api.calls.find((c) => c.method === "PATCH")?.body).toEqual({ plan: "medium" });
    expect(select.disabled).toBe(true);
    expect(screen.getByTestId("store-plan").textContent).toBe("small (moving to medium)");
    expect(screen.getAllByText("ready").length).toBeGreaterThan(0);

    source.emit(eventOf("plan.requested", store.id, { operation_id: "p1", plan: "medium", previous_plan: "small", requested_by: ALICE }, ALICE), 3);
    expect(screen.getByRole("progressbar", { name: "plan change progress" })).toBeTruthy();
    source.emit(eventOf("plan.changed", store.id, { operation_id: "p1", plan: "medium", previous_plan: "small", seconds: 4 }), 4);
    await waitFor(() => expect(screen.getByTestId("store-plan").textContent).toBe("medium"));
    expect(screen.queryByRole("progressbar", { name: "plan change progress" })).toBeNull();
    expect([...(screen.getByLabelText("New plan") as HTMLSelectElement).options].map((o) => o.value)).toEqual(["", "small"]);
    expect(within(screen.getByTestId("timeline")).getByText("Plan changed")).toBeTruthy();
  });

  it("shows why a plan change failed, and the plan stays", async () => {
    const store = storeOf({ status: "ready", plan: "medium" });
    const data = { operation_id: "p1", plan: "small", previous_plan: "medium", requested_by: ALICE };
    const asking = { ...entry("plan.requested", store, data, ALICE), occurred_at: new Date().toISOString() };
    showing(store, [asking]);
    const { source } = renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    source.open();
    // Loaded while under way: the timeline says so.
    expect(await screen.findByRole("progressbar", { name: "plan change progress" })).toBeTruthy();
    expect((screen.getByLabelText("New plan") as HTMLSelectElement).disabled).toBe(true);
    source.emit(
      eventOf("plan.failed", store.id, { operation_id: "p1", plan: "small", code: "usage_exceeds_plan", reason: "storage in use is 30Gi; small allows 20Gi" }),
      5,
    );
    expect((await screen.findByTestId("plan-failed")).textContent).toBe(
      "The move to small did not happen: the new plan is too small for what the store uses now: storage in use is 30Gi; small allows 20Gi. The store stays on its plan.",
    );
    expect(screen.getByTestId("store-plan").textContent).toBe("medium");
    expect((screen.getByLabelText("New plan") as HTMLSelectElement).disabled).toBe(false);
  });

  it("shows the gateway's refusal of a plan change", async () => {
    const store = storeOf({ status: "ready", plan: "small" });
    showing(store, [], {
      [`PATCH /api/v1/stores/${store.id}`]: refusal(409, "operation_in_progress", "another change of this store is under way"),
    });
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    const user = userEvent.setup();
    await user.selectOptions(await screen.findByLabelText("New plan"), "medium");
    await user.click(screen.getByRole("button", { name: "Change to medium" }));
    const card = screen.getByRole("region", { name: "Change plan" });
    expect((await within(card).findByRole("alert")).textContent).toBe("Another change of this store is under way.");
    expect(screen.queryByRole("progressbar")).toBeNull();
    expect(screen.getByTestId("store-plan").textContent).toBe("small");
  });

  it("offers no plan change on a store that is not ready", async () => {
    const store = storeOf({ status: "suspended" });
    showing(store);
    renderLive(<StoreDetail id={store.id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    await screen.findByRole("heading", { name: "Timeline" });
    expect(screen.queryByLabelText("New plan")).toBeNull();
  });

  it("says so when the store does not exist or is someone else's", async () => {
    const id = "99999999-9999-4999-8999-999999999999";
    fakeApi({
      [`GET /api/v1/stores/${id}`]: refusal(404, "not_found", "no such store"),
      [`GET /api/v1/stores/${id}/events`]: refusal(404, "not_found", "no such store"),
    });
    renderLive(<StoreDetail id={id} me={meOf()} catalog={FALLBACK_CATALOG} />);
    expect((await screen.findByRole("alert")).textContent).toMatch(/no longer exists, or it is not yours/);
  });
});

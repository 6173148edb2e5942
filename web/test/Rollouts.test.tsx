import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Catalog, RolloutDetail } from "../src/api/types";
import { RolloutPage } from "../src/views/RolloutPage";
import { Rollouts } from "../src/views/Rollouts";
import { ALICE, BOB, eventOf, fakeApi, refusal } from "./fakes";
import { renderLive } from "./render";

const ID = "33333333-3333-4333-8333-333333333333";
const CATALOG: Catalog = {
  engines: [{ key: "woocommerce", label: "WooCommerce", versions: ["8.9.1", "9.1.0"], defaultVersion: "9.1.0" }],
  plans: [{ key: "small", label: "small" }],
  defaultEngine: "woocommerce",
  defaultPlan: "small",
};

function detailOf(overrides: Partial<RolloutDetail> = {}): RolloutDetail {
  return {
    id: ID,
    engine: "woocommerce",
    target_version: "9.1.0",
    waves: ["1", "100%"],
    max_concurrent: 5,
    failure_threshold: 0,
    pause_seconds: 300,
    state: "running",
    current_wave: 0,
    next_wave_at: null,
    planned_at: "2026-01-01T00:00:00Z",
    ended_at: null,
    created_by: ALICE,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    reason: "",
    progress: [
      { wave: 0, size: "1", stores: 1, counts: { requested: 1 } },
      { wave: 1, size: "100%", stores: 0, counts: {} },
    ],
    skipped: 0,
    stores: [{ store_id: ALICE, wave: 0, state: "requested", operation_id: BOB, from_version: "8.9.1", updated_at: "2026-01-01T00:00:00Z" }],
    ...overrides,
  };
}

describe("the Rollouts page", () => {
  it("shows a rollout already running for the engine next to the engine field", async () => {
    const api = fakeApi({
      "GET /api/v1/admin/rollouts": { body: { items: [] } },
      "POST /api/v1/admin/rollouts": refusal(409, "rollout_in_progress", "a rollout of woocommerce is running or paused", "engine"),
    });
    renderLive(<Rollouts catalog={CATALOG} />);
    expect(await screen.findByText("No rollout yet.")).toBeTruthy();
    const user = userEvent.setup();
    await user.clear(screen.getByLabelText("Failure threshold (%)"));
    await user.type(screen.getByLabelText("Failure threshold (%)"), "10");
    await user.click(screen.getByRole("button", { name: "Start rollout" }));

    const engine = screen.getByLabelText("Engine");
    await waitFor(() => expect(engine.getAttribute("aria-invalid")).toBe("true"));
    expect(document.getElementById("rollout-engine-error")?.textContent).toMatch(/running or paused/);
    expect(document.activeElement).toBe(engine);
    const sent = api.calls.find((c) => c.method === "POST")?.body;
    expect(sent).toEqual({ engine: "woocommerce", version: "9.1.0", waves: ["1", "5%", "25%", "100%"], max_concurrent: 5, failure_threshold: 0.1, pause_seconds: 300 });
  });

  it("lists rollouts with their counts", async () => {
    fakeApi({
      "GET /api/v1/admin/rollouts": { body: { items: [detailOf()] } },
      [`GET /api/v1/admin/rollouts/${ID}`]: { body: detailOf() },
    });
    renderLive(<Rollouts catalog={CATALOG} />);
    const row = await screen.findByRole("row", { name: /woocommerce to 9\.1\.0/ });
    await waitFor(() => expect(within(row).getAllByText("1")).toHaveLength(1));
    expect(within(row).getByText("wave 1 of 2")).toBeTruthy();
  });
});

describe("a rollout's page", () => {
  it("reads the rollout again when an upgrade of one of its stores arrives", async () => {
    let detail = detailOf();
    const api = fakeApi({ [`GET /api/v1/admin/rollouts/${ID}`]: () => ({ body: detail }) });
    const { source } = renderLive(<RolloutPage id={ID} />);
    source.open();
    expect(await screen.findByRole("heading", { name: "Rollout of woocommerce to 9.1.0" })).toBeTruthy();
    const before = api.count(`GET /api/v1/admin/rollouts/${ID}`);

    source.emit(eventOf("ready", BOB), 1);
    detail = detailOf({ stores: [{ ...detail.stores[0]!, state: "completed" }] });
    source.emit(eventOf("upgrade.completed", ALICE, { operation_id: BOB, version: "9.1.0" }), 2);
    const row = await screen.findByRole("row", { name: new RegExp(ALICE) });
    await waitFor(() => expect(within(row).getByText("upgraded")).toBeTruthy());
    expect(api.count(`GET /api/v1/admin/rollouts/${ID}`)).toBe(before + 1);
  });

  it("pauses a running rollout and aborts only once confirmed", async () => {
    let detail = detailOf();
    const api = fakeApi({
      [`GET /api/v1/admin/rollouts/${ID}`]: () => ({ body: detail }),
      [`POST /api/v1/admin/rollouts/${ID}/pause`]: () => ((detail = detailOf({ state: "paused" })), { body: detail }),
      [`POST /api/v1/admin/rollouts/${ID}/abort`]: () => ((detail = detailOf({ state: "aborted" })), { body: detail }),
    });
    renderLive(<RolloutPage id={ID} />);
    const user = userEvent.setup();
    const pause = await screen.findByRole("button", { name: "Pause" });
    expect((screen.getByRole("button", { name: "Resume" }) as HTMLButtonElement).disabled).toBe(true);
    await user.click(pause);
    await waitFor(() => expect(screen.getByTestId("rollout-state").dataset.state).toBe("paused"));
    expect((screen.getByRole("button", { name: "Resume" }) as HTMLButtonElement).disabled).toBe(false);

    await user.click(screen.getByRole("button", { name: "Abort…" }));
    expect(api.count(`POST /api/v1/admin/rollouts/${ID}/abort`)).toBe(0);
    await user.click(screen.getByRole("button", { name: "Abort the rollout" }));
    await waitFor(() => expect(screen.getByTestId("rollout-state").dataset.state).toBe("aborted"));
    for (const name of ["Pause", "Resume", "Abort…"]) {
      expect((screen.getByRole("button", { name }) as HTMLButtonElement).disabled).toBe(true);
    }
  });

  it("says so when there is no such rollout", async () => {
    fakeApi({});
    renderLive(<RolloutPage id={ID} />);
    expect((await screen.findByRole("alert")).textContent).toBe("There is no such rollout.");
  });
});

import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Delivery, Webhook } from "../src/api/types";
import { WebhookPage } from "../src/views/WebhookPage";
import { Webhooks } from "../src/views/Webhooks";
import { ALICE, fakeApi, meOf, page, refusal, storeOf } from "./fakes";

const HOOK = "7d0c6a7e-9f7d-4d3e-8a51-2c1f0e9d8b7a";
const SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
const HOSTILE = '<img src=x onerror="alert(1)">';

function endpointOf(overrides: Partial<Webhook> = {}): Webhook {
  return {
    id: HOOK,
    url: "https://hooks.example.org/in",
    event_types: ["*"],
    store_id: null,
    description: "",
    created_at: "2026-01-02T00:00:00Z",
    failing: false,
    failing_reason: "",
    failing_since: null,
    ...overrides,
  };
}

function deliveryOf(id: number, overrides: Partial<Delivery> = {}): Delivery {
  return {
    id,
    event_id: `evt-${id}`,
    event_type: "ready",
    store_id: "s",
    occurred_at: "2026-01-02T00:00:00Z",
    outcome: "failed",
    attempt: 2,
    next_attempt_at: null,
    status_code: 500,
    latency_ms: 42,
    response: HOSTILE,
    delivered_at: null,
    attempts: [
      { attempt: 1, status_code: null, latency_ms: 10000, response: "", error: "timed out", attempted_at: "2026-01-02T00:00:01Z" },
      { attempt: 2, status_code: 500, latency_ms: 42, response: HOSTILE, error: "", attempted_at: "2026-01-02T00:00:21Z" },
    ],
    ...overrides,
  };
}

const STORES = `GET /api/v1/stores`;

describe("the Webhooks page", () => {
  it("lists endpoints with hostile values as text and a failing one's warning", async () => {
    const failing = endpointOf({ url: `https://x.example/${HOSTILE}`, failing: true, failing_reason: HOSTILE, failing_since: "2026-01-03T00:00:00Z" });
    fakeApi({ "GET /api/v1/webhooks": { body: { items: [failing] } }, [STORES]: page([]) });
    const { container } = render(<Webhooks me={meOf()} />);
    const table = await screen.findByTestId("webhooks");
    expect(within(table).getByRole("link", { name: failing.url }).getAttribute("href")).toBe(`/webhooks/${HOOK}`);
    expect(within(table).getByTestId("webhook-failing").textContent).toMatch(/^Failing since .*: <img src=x onerror="alert\(1\)">\./);
    expect(within(table).getByText("all events")).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
  });

  it("shows the secret once after a create, kept in no storage and no URL, with the store picked", async () => {
    const store = storeOf({ name: "Corner Shop" });
    const api = fakeApi({
      "GET /api/v1/webhooks": { body: { items: [] } },
      [STORES]: page([store]),
      "POST /api/v1/webhooks": (_url, init) => {
        const body = JSON.parse(String(init.body)) as Record<string, unknown>;
        return { status: 201, body: { ...endpointOf(body as Partial<Webhook>), secret: SECRET } };
      },
    });
    render(<Webhooks me={meOf()} />);
    const user = userEvent.setup();
    await screen.findByText("No endpoint yet.");
    await user.type(screen.getByLabelText("URL"), "https://hooks.example.org/in");
    await user.click(screen.getByLabelText(/All events/));
    await user.click(screen.getByLabelText("ready"));
    await user.click(screen.getByLabelText("failed"));
    await user.selectOptions(screen.getByLabelText("Store"), "Corner Shop");
    await user.click(screen.getByRole("button", { name: "Add endpoint" }));

    const shown = await screen.findByTestId("webhook-secret");
    expect((within(shown).getByLabelText("Signing secret") as HTMLInputElement).value).toBe(SECRET);
    expect(shown.textContent).toContain("it will not be shown again");
    expect(api.calls.find((c) => c.method === "POST")?.body).toEqual({
      url: "https://hooks.example.org/in",
      event_types: ["ready", "failed"],
      description: "",
      store_id: store.id,
    });
    expect(api.calls.find((c) => c.method === "GET" && c.url.pathname === "/api/v1/stores")?.url.searchParams.get("owner")).toBe(ALICE);
    expect(within(screen.getByTestId("webhooks")).getByText("Corner Shop")).toBeTruthy();
    expect(JSON.stringify({ ...localStorage })).not.toContain(SECRET);
    expect(JSON.stringify({ ...sessionStorage })).not.toContain(SECRET);
    expect(window.location.href).not.toContain(SECRET);

    await user.click(within(shown).getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByTestId("webhook-secret")).toBeNull();
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it("shows the gateway's 422 next to the URL field", async () => {
    fakeApi({
      "GET /api/v1/webhooks": { body: { items: [] } },
      [STORES]: page([]),
      "POST /api/v1/webhooks": refusal(422, "invalid", "url: Value error, must be an http:// or https:// URL", "url"),
    });
    render(<Webhooks me={meOf()} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("URL"), "ftp://x");
    await user.click(screen.getByRole("button", { name: "Add endpoint" }));
    const input = screen.getByLabelText("URL");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(input.getAttribute("aria-describedby") ?? "")?.textContent).toBe(
      "Must be an http:// or https:// URL",
    );
    expect(screen.queryByTestId("webhook-secret")).toBeNull();
  });
});

describe("an endpoint's page", () => {
  const routes = (extra: Parameters<typeof fakeApi>[0] = {}) =>
    fakeApi({
      [`GET /api/v1/webhooks/${HOOK}`]: { body: endpointOf() },
      [`GET /api/v1/webhooks/${HOOK}/deliveries`]: page([deliveryOf(2), deliveryOf(1, { outcome: "delivered", status_code: 204, response: "", attempts: [] })]),
      [STORES]: page([]),
      ...extra,
    });

  it("logs each delivery's code, latency, attempts and answer as text", async () => {
    routes();
    const { container } = render(<WebhookPage id={HOOK} me={meOf()} />);
    const table = await screen.findByTestId("deliveries");
    const failed = table.querySelector('tr[data-delivery="2"]') as HTMLElement;
    expect(within(failed).getByText("gave up")).toBeTruthy();
    expect(within(failed).getByText("42 ms")).toBeTruthy();
    expect(within(failed).getByText("Attempts (2)")).toBeTruthy();
    expect(within(failed).getByText(/timed out in 10\.0 s/)).toBeTruthy();
    expect(failed.querySelector("pre.response")?.textContent).toBe(HOSTILE);
    expect(container.querySelector("img")).toBeNull();
    const ok = table.querySelector('tr[data-delivery="1"]') as HTMLElement;
    expect(within(ok).getByTestId("delivery-answer").textContent).toBe("HTTP 204");
  });

  it("sends one event again, and every event since a time as an instant", async () => {
    const api = routes({ [`POST /api/v1/webhooks/${HOOK}/redeliver`]: { status: 202, body: { redelivered: 1 } } });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Send evt-2 again" }));
    expect(await screen.findByText("1 delivery queued again.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Send again every event since"), { target: { value: "2026-01-02T03:04:05" } });
    await user.click(within(screen.getByRole("form", { name: "Send again since a time" })).getByRole("button", { name: "Send again" }));
    const sent = api.calls.filter((c) => c.method === "POST").map((c) => c.body);
    expect(sent).toEqual([{ event_id: "evt-2" }, { since: new Date(2026, 0, 2, 3, 4, 5).toISOString() }]);
    await waitFor(() => expect(api.count(`GET /api/v1/webhooks/${HOOK}/deliveries`)).toBeGreaterThanOrEqual(3));
  });

  it("sends a test event, reads the log again, and shows a refusal", async () => {
    const api = routes({ [`POST /api/v1/webhooks/${HOOK}/test`]: { status: 202, body: { id: 3, event_id: "evt-test" } } });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    const user = userEvent.setup();
    await screen.findByTestId("deliveries");
    const reads = api.count(`GET /api/v1/webhooks/${HOOK}/deliveries`);
    await user.click(screen.getByRole("button", { name: "Send test" }));
    expect(await screen.findByText("Test event evt-test queued.")).toBeTruthy();
    await waitFor(() => expect(api.count(`GET /api/v1/webhooks/${HOOK}/deliveries`)).toBe(reads + 1));
    expect(api.count(`POST /api/v1/webhooks/${HOOK}/test`)).toBe(1);
  });

  it("shows why a test send was refused", async () => {
    routes({ [`POST /api/v1/webhooks/${HOOK}/test`]: refusal(409, "test_pending", "a test delivery to this endpoint is pending") });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Send test" }));
    expect(await screen.findByText("A test delivery to this endpoint is pending.")).toBeTruthy();
  });

  it("rotates the secret only once confirmed and shows the new one once", async () => {
    const api = routes({ [`POST /api/v1/webhooks/${HOOK}/rotate-secret`]: { body: { id: HOOK, secret: SECRET } } });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Rotate secret…" }));
    expect(api.count(`POST /api/v1/webhooks/${HOOK}/rotate-secret`)).toBe(0);
    await user.click(within(screen.getByRole("group", { name: "Rotate the secret" })).getByRole("button", { name: "Rotate the secret" }));
    const shown = await screen.findByTestId("webhook-secret");
    expect((within(shown).getByLabelText("Signing secret") as HTMLInputElement).value).toBe(SECRET);
    expect(shown.textContent).toContain("The old secret stopped working just now.");
  });

  it("deletes only once confirmed, then goes back to the list", async () => {
    const api = routes({ [`DELETE /api/v1/webhooks/${HOOK}`]: { status: 204 } });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Delete…" }));
    await user.click(within(screen.getByRole("group", { name: "Delete the endpoint" })).getByRole("button", { name: "Cancel" }));
    expect(api.count(`DELETE /api/v1/webhooks/${HOOK}`)).toBe(0);
    await user.click(screen.getByRole("button", { name: "Delete…" }));
    await user.click(screen.getByRole("button", { name: "Delete the endpoint" }));
    await waitForPath("/webhooks");
    expect(api.count(`DELETE /api/v1/webhooks/${HOOK}`)).toBe(1);
  });

  it("says so when the endpoint is not the caller's", async () => {
    fakeApi({ [STORES]: page([]) });
    render(<WebhookPage id={HOOK} me={meOf()} />);
    expect(await screen.findByText("There is no such endpoint, or it is not yours.")).toBeTruthy();
  });
});

async function waitForPath(path: string): Promise<void> {
  await waitFor(() => expect(window.location.pathname).toBe(path));
}

import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { AdminStores } from "../src/views/AdminStores";
import { AdminUsers } from "../src/views/AdminUsers";
import { AuditLog } from "../src/views/AuditLog";
import { ALICE, BOB, fakeApi, page, storeOf } from "./fakes";
import { renderLive } from "./render";

describe("administrators", () => {
  it("filter all stores by owner and status through the API", async () => {
    const api = fakeApi({
      "GET /api/v1/stores": (url) => {
        const owner = url.searchParams.get("owner");
        const all = [storeOf({ name: "A1", owner: { id: ALICE, username: "alice" } }), storeOf({ name: "B1", owner: { id: BOB, username: "bob" } })];
        return page(all.filter((s) => !owner || s.owner.id === owner));
      },
    });
    renderLive(<AdminStores />);
    const b1 = await screen.findByRole("row", { name: /B1/ });
    expect(within(b1).getByText("bob")).toBeTruthy();

    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Owner"), await screen.findByRole("option", { name: "bob" }));
    await user.selectOptions(screen.getByLabelText("Status"), "failed");
    const last = api.calls.at(-1)?.url;
    expect(last?.searchParams.get("owner")).toBe(BOB);
    expect(last?.searchParams.get("status")).toBe("failed");
  });

  it("see users with their quotas", async () => {
    fakeApi({
      "GET /api/v1/users": {
        body: {
          items: [
            { id: ALICE, username: "alice", role: "user", max_stores: 3, stores: 2, created_at: "2026-01-01T00:00:00Z" },
            { id: BOB, username: "bob", role: "admin", max_stores: null, stores: 0, created_at: "2026-01-01T00:00:00Z" },
          ],
        },
      },
    });
    render(<AdminUsers defaultQuota={10} />);
    const alice = await screen.findByRole("row", { name: /alice/ });
    expect(within(alice).getByText("3")).toBeTruthy();
    expect(within(screen.getByRole("row", { name: /bob/ })).getByText("10 (default)")).toBeTruthy();
  });

  it("are told plainly when the gateway cannot list users yet", async () => {
    fakeApi({});
    render(<AdminUsers />);
    expect((await screen.findByRole("status")).textContent).toMatch(/Not available.*GET \/api\/v1\/users/);
  });

  it("filter the audit log by type, actor and period", async () => {
    const api = fakeApi({
      "GET /api/v1/audit": page([
        { id: "e1", kind: "event", type: "failed", store_id: ALICE, actor: "provisioner", occurred_at: "2026-01-01T00:00:00Z", stream_seq: 3, data: { reason: "no room", code: "quota" } },
      ]),
    });
    render(<AuditLog />);
    expect(await screen.findByText(/no room/)).toBeTruthy();
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText("Type"), "failed");
    await user.type(screen.getByLabelText(/Actor/), "reaper");
    await user.type(screen.getByLabelText("From"), "2026-01-01T08:30");
    await user.click(screen.getByRole("button", { name: "Apply filters" }));
    const query = api.calls.at(-1)?.url.searchParams;
    expect(query?.get("type")).toBe("failed");
    expect(query?.get("actor")).toBe("reaper");
    expect(query?.get("since")).toBe(new Date("2026-01-01T08:30").toISOString());
  });
});

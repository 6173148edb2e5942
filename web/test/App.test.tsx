import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { App } from "../src/App";
import { FakeEventSource, fakeApi, meOf, page, refusal, storeOf } from "./fakes";

function signedOutApi(extra = {}) {
  let signedIn = false;
  const api = fakeApi({
    "GET /api/v1/me": () => (signedIn ? { body: meOf() } : refusal(401, "unauthenticated", "sign in")),
    "POST /api/v1/auth/login": (_url, init) => {
      const { password } = JSON.parse(String(init.body)) as { password: string };
      if (password !== "right") return refusal(401, "unauthenticated", "wrong username or password");
      signedIn = true;
      return { body: meOf() };
    },
    "GET /api/v1/stores": page([storeOf({ name: "Mine" })]),
    ...extra,
  });
  return api;
}

describe("signing in", () => {
  it("asks for a login, refuses a wrong password in words, then shows my stores", async () => {
    FakeEventSource.install();
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    signedOutApi();
    render(<App />);
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/Wrong username or password/);

    await user.type(screen.getByLabelText("Password"), "right");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { name: "My stores" })).toBeTruthy();
    expect(await screen.findByRole("row", { name: /Mine/ })).toBeTruthy();
    expect(FakeEventSource.latest.url).toBe("/api/v1/stream");
    expect(setItem).not.toHaveBeenCalled();
  });

  it("shows only the administrator's links to administrators", async () => {
    FakeEventSource.install();
    fakeApi({ "GET /api/v1/me": { body: meOf(undefined, "root", "admin") }, "GET /api/v1/stores": page([]) });
    render(<App />);
    expect(await screen.findByRole("link", { name: "Audit log" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "All stores" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Certificate queue" }).getAttribute("href")).toBe("/admin/certificates");
  });

  it("hides the administrator's links from everyone else", async () => {
    FakeEventSource.install();
    fakeApi({ "GET /api/v1/me": { body: meOf() }, "GET /api/v1/stores": page([]) });
    render(<App />);
    await screen.findByRole("heading", { name: "My stores" });
    expect(screen.queryByRole("link", { name: "Audit log" })).toBeNull();
    expect(screen.queryByRole("link", { name: "Certificate queue" })).toBeNull();
  });

  it("goes back to the login page, saying why, when the session ends", async () => {
    FakeEventSource.install();
    let valid = true;
    fakeApi({
      "GET /api/v1/me": () => (valid ? { body: meOf() } : refusal(401, "unauthenticated", "sign in")),
      "GET /api/v1/stores": () => (valid ? page([]) : refusal(401, "unauthenticated", "sign in")),
    });
    render(<App />);
    await screen.findByRole("heading", { name: "My stores" });
    valid = false;
    await userEvent.setup().click(screen.getByRole("link", { name: "storefleet" }));
    window.dispatchEvent(new Event("popstate"));
    FakeEventSource.latest.fail(true);
    await waitFor(() => expect(screen.getByText("Your session has ended. Sign in again.")).toBeTruthy(), { timeout: 3000 });
  });

  it("moves between pages with links and the keyboard focus follows", async () => {
    FakeEventSource.install();
    const store = storeOf({ name: "Linked" });
    fakeApi({
      "GET /api/v1/me": { body: meOf() },
      "GET /api/v1/stores": page([store]),
      [`GET /api/v1/stores/${store.id}`]: { body: store },
      [`GET /api/v1/stores/${store.id}/events`]: page([]),
    });
    render(<App />);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("link", { name: "Linked" }));
    const heading = await screen.findByRole("heading", { level: 1, name: "Linked" });
    expect(window.location.pathname).toBe(`/stores/${store.id}`);
    await waitFor(() => expect(document.activeElement).toBe(heading));
  });
});

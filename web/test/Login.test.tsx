import { render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Login } from "../src/views/Login";
import { fakeApi } from "./fakes";

const providers = (password: boolean, sso: boolean) => ({
  "GET /api/v1/auth/providers": { body: { password, sso, sso_name: sso ? "Example SSO" : null } },
});

afterEach(() => window.history.replaceState(null, "", "/"));

describe("the login page", () => {
  it("offers single sign-on as a plain link beside the password form when both are on", async () => {
    fakeApi(providers(true, true));
    render(<Login onSignedIn={() => {}} />);
    const link = await screen.findByRole("link", { name: "Sign in with Example SSO" });
    expect(link.getAttribute("href")).toBe("/api/v1/auth/oidc/login");
    expect(screen.getByLabelText("Password")).toBeTruthy();
  });

  it("hides the password form when local login is off", async () => {
    fakeApi(providers(false, true));
    render(<Login onSignedIn={() => {}} />);
    await screen.findByRole("link", { name: "Sign in with Example SSO" });
    expect(screen.queryByLabelText("Password")).toBeNull();
    expect(screen.queryByRole("button", { name: "Sign in" })).toBeNull();
  });

  it("shows no single sign-on link when it is off", async () => {
    const api = fakeApi(providers(true, false));
    render(<Login onSignedIn={() => {}} />);
    await screen.findByLabelText("Password");
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(api.count("GET /api/v1/auth/providers")).toBe(1);
    expect(screen.queryByRole("link")).toBeNull();
  });

  it("says in words why the provider's callback refused", async () => {
    window.history.replaceState(null, "", "/login?error=sso_user_disabled");
    fakeApi(providers(false, true));
    render(<Login onSignedIn={() => {}} />);
    expect((await screen.findByRole("alert")).textContent).toMatch(/Your account is disabled/);
  });

  it("asks the provider to bring me back to the page I was on", async () => {
    window.history.replaceState(null, "", "/stores/abc?tab=domains");
    fakeApi(providers(true, true));
    render(<Login onSignedIn={() => {}} />);
    const link = await screen.findByRole("link", { name: "Sign in with Example SSO" });
    expect(link.getAttribute("href")).toBe("/api/v1/auth/oidc/login?next=%2Fstores%2Fabc%3Ftab%3Ddomains");
  });
});

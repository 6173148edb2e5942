// Sign in with a username and password, or through the single sign-on provider when the
// gateway has one (GET /auth/providers says which are on). Password login answers with a
// session cookie the page never sees (HttpOnly) and the signed-in person's profile;
// single sign-on is a plain link: the browser leaves for the provider and the gateway's
// callback brings it back signed in, or to /login?error=<code>, shown here in words.

import { useEffect, useState, type FormEvent } from "react";
import { ApiError, authProviders, login, ssoLoginUrl } from "../api/client";
import type { AuthProviders, Me } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

const PASSWORD_ONLY: AuthProviders = { password: true, sso: false, sso_name: null };

const SSO_ERRORS: Record<string, string> = {
  sso_state_invalid: "That sign-in expired or was already used. Sign in again.",
  sso_token_refused: "The sign-in provider's answer could not be verified. Try again; if it keeps failing, tell your administrator.",
  sso_user_disabled: "Your account is disabled. Ask an administrator to enable it.",
  sso_denied: "The sign-in provider did not sign you in.",
  sso_unavailable: "The sign-in provider cannot be reached right now. Try again shortly.",
  rate_limited: "Too many sign-ins from here in a short time. Wait a few minutes and try again.",
};

/** The callback's refusal, from `?error=` on this page's address, in words. */
export function callbackError(search: string): Advice | null {
  const code = new URLSearchParams(search).get("error");
  if (!code) return null;
  return { text: SSO_ERRORS[code] ?? "Single sign-on did not work. Try again." };
}

function returnPath(): string | undefined {
  const { pathname, search } = window.location;
  return pathname === "/" || pathname === "/login" ? undefined : pathname + search;
}

export function Login({ onSignedIn, notice }: { onSignedIn: (me: Me) => void; notice?: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(() => callbackError(window.location.search));
  const [providers, setProviders] = useState<AuthProviders | null>(null);

  useEffect(() => {
    let live = true;
    authProviders()
      .then((found) => live && setProviders(found))
      .catch(() => live && setProviders(PASSWORD_ONLY)); // an older gateway: password only
    return () => {
      live = false;
    };
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setAdvice(null);
    try {
      onSignedIn(await login(username.trim(), password));
    } catch (error) {
      setPassword("");
      if (error instanceof ApiError && error.status === 401) {
        setAdvice({ text: "Wrong username or password. Check both and try again." });
      } else setAdvice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  const ways = providers ?? PASSWORD_ONLY;
  return (
    <main id="main" className="login" tabIndex={-1}>
      <h1>Sign in to storefleet</h1>
      {notice && <p className="notice">{notice}</p>}
      {ways.sso && (
        <p>
          <a className="button primary" href={ssoLoginUrl(returnPath())}>
            Sign in with {ways.sso_name ?? "single sign-on"}
          </a>
        </p>
      )}
      {ways.password ? (
        <form onSubmit={submit} className="card stack" aria-describedby={advice ? "login-error" : undefined}>
          <div className="field">
            <label htmlFor="username">Username</label>
            <input
              id="username"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <ErrorNote advice={advice} id="login-error" />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      ) : (
        <ErrorNote advice={advice} id="login-error" />
      )}
    </main>
  );
}

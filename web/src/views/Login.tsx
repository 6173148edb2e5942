// Sign in with a username and password; the gateway answers with a session cookie the
// page never sees (HttpOnly) and the signed-in person's profile.

import { useState, type FormEvent } from "react";
import { ApiError, login } from "../api/client";
import type { Me } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

export function Login({ onSignedIn, notice }: { onSignedIn: (me: Me) => void; notice?: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

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

  return (
    <main id="main" className="login" tabIndex={-1}>
      <h1>Sign in to storefleet</h1>
      {notice && <p className="notice">{notice}</p>}
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
    </main>
  );
}

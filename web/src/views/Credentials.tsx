// The store's WordPress admin login, for its owner: fetched on request, held only in this
// component's memory while shown, forgotten on "Hide" or when the page changes. Each
// reveal is recorded in the audit log by the gateway.

import { useState } from "react";
import { storeCredentials } from "../api/client";
import type { Credentials as Secret } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

export function Credentials({ storeId }: { storeId: string }) {
  const [secret, setSecret] = useState<Secret | null>(null);
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

  const reveal = async () => {
    setBusy(true);
    setAdvice(null);
    try {
      setSecret(await storeCredentials(storeId));
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="credentials-heading">
      <h2 id="credentials-heading">Admin credentials</h2>
      {secret ? (
        <>
          <dl className="facts secret">
            <dt>Sign-in page</dt>
            <dd>
              <a href={secret.url} target="_blank" rel="noopener noreferrer">
                {secret.url}
              </a>
            </dd>
            <dt>Username</dt>
            <dd>
              <code>{secret.username}</code>
            </dd>
            <dt>Password</dt>
            <dd>
              <code data-testid="store-password">{secret.password}</code>
            </dd>
          </dl>
          <button type="button" onClick={() => setSecret(null)}>
            Hide credentials
          </button>
        </>
      ) : (
        <>
          <p>The store's admin login. Viewing it is recorded in the audit log.</p>
          <ErrorNote advice={advice} />
          <button type="button" onClick={() => void reveal()} disabled={busy}>
            {busy ? "Fetching…" : "Reveal admin credentials"}
          </button>
        </>
      )}
    </section>
  );
}

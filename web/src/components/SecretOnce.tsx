// A webhook's signing secret, right after the answer that made or rotated it: copyable,
// with plain words that it will not be shown again. It lives only in the caller's state
// (never in storage or the URL), so leaving or reloading the page forgets it.

import { Copyable } from "./Copyable";

export function SecretOnce({ secret, rotated, onHide }: { secret: string; rotated: boolean; onHide: () => void }) {
  return (
    <section className="card secret-once" aria-labelledby="secret-heading" data-testid="webhook-secret">
      <h2 id="secret-heading">{rotated ? "New signing secret" : "Signing secret"}</h2>
      <p>
        Copy it now and keep it with your receiver: <strong>it will not be shown again</strong>.
        {rotated ? " The old secret stopped working just now." : ""} Your receiver checks each request's{" "}
        <code>webhook-signature</code> with it.
      </p>
      <Copyable label="Signing secret" value={secret} />
      <p className="actions">
        <button type="button" onClick={onHide}>
          I have saved it
        </button>
      </p>
    </section>
  );
}

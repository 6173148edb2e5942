// Deleting a store, confirmed by typing its name: the button stays off until the name
// matches exactly. The store then shows "deleting" until the reaper reports it gone.

import { useState, type FormEvent } from "react";
import { deleteStore } from "../api/client";
import type { Store } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

export function DeleteStore({ store, onChanged }: { store: Store; onChanged: (store: Store) => void }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const deleting = store.status === "deleting";

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (typed !== store.name) return;
    setBusy(true);
    setAdvice(null);
    try {
      onChanged(await deleteStore(store.id));
      setOpen(false);
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card danger" aria-labelledby="delete-heading">
      <h2 id="delete-heading">Delete this store</h2>
      {deleting ? (
        <p role="status">The store is being deleted: its namespace, data and address go with it.</p>
      ) : !open ? (
        <>
          <p>Deleting removes the store and everything in it, for good.</p>
          <button type="button" className="danger" onClick={() => setOpen(true)}>
            Delete store…
          </button>
        </>
      ) : (
        <form onSubmit={submit} className="stack">
          <div className="field">
            <label htmlFor="confirm-name">
              Type the store's name, <strong>{store.name}</strong>, to confirm
            </label>
            <input
              id="confirm-name"
              autoComplete="off"
              autoFocus
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
            />
          </div>
          <ErrorNote advice={advice} />
          <div className="actions">
            <button type="submit" className="danger" disabled={typed !== store.name || busy}>
              {busy ? "Deleting…" : "Delete this store for good"}
            </button>
            <button type="button" onClick={() => (setOpen(false), setTyped(""))}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

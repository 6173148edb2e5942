// Suspending and resuming a store from its page. A ready store offers "Suspend…",
// confirmed by typing the store's name (an administrator suspending someone else's store
// may also give a reason, which the owner reads); a suspended one says what that means and
// offers "Resume". While the workers stop or start the store's workloads it shows progress;
// the feed's suspend.* and resume.* events move the badge on (web/src/live/status.ts).

import { useState, type FormEvent } from "react";
import { resumeStore, suspendStore } from "../api/client";
import type { Me, Store, StoreOperation } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

const REASON_MAX = 200;

interface Props {
  store: Store;
  me: Me;
  /** Why it was suspended, from its timeline (an administrator's reason), if it says. */
  reason: string | null;
  /** The gateway accepted the command (202). */
  onStarted: (operation: StoreOperation) => void;
}

export function Suspension({ store, me, reason, onStarted }: Props) {
  if (store.status === "ready") return <SuspendCard store={store} me={me} onStarted={onStarted} />;
  if (store.status === "suspended") return <ResumeCard store={store} reason={reason} onStarted={onStarted} />;
  if (store.status === "suspending" || store.status === "resuming") return <UnderWay status={store.status} />;
  return null;
}

const PAUSED =
  "Its workloads are stopped and its data is kept; it still counts toward the store quota, and visitors see a “store paused” page.";

function SuspendCard({ store, me, onStarted }: Omit<Props, "reason">) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const [why, setWhy] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const forSomeoneElse = me.user.role === "admin" && store.owner.id !== me.user.id;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (typed !== store.name) return;
    setBusy(true);
    setAdvice(null);
    try {
      onStarted(await suspendStore(store.id, forSomeoneElse ? why.trim() || undefined : undefined));
    } catch (error) {
      setAdvice(explain(error));
      setBusy(false);
    }
  };

  const cancel = () => {
    setOpen(false);
    setTyped("");
    setWhy("");
    setAdvice(null);
  };

  return (
    <section className="card" aria-labelledby="suspend-heading">
      <h2 id="suspend-heading">Suspend this store</h2>
      <p>Suspending takes the store offline until it is resumed. {PAUSED}</p>
      {!open ? (
        <button type="button" onClick={() => setOpen(true)}>
          Suspend…
        </button>
      ) : (
        <form onSubmit={submit} className="stack" aria-label="Suspend the store">
          <div className="field">
            <label htmlFor="suspend-confirm">
              Type the store's name, <strong>{store.name}</strong>, to suspend it
            </label>
            <input
              id="suspend-confirm"
              autoComplete="off"
              autoFocus
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
            />
          </div>
          {forSomeoneElse && (
            <div className="field">
              <label htmlFor="suspend-reason">Reason, for the owner to read (optional)</label>
              <input
                id="suspend-reason"
                autoComplete="off"
                maxLength={REASON_MAX}
                value={why}
                // One line: the gateway refuses control characters.
                onChange={(e) => setWhy(e.target.value.replace(/[\u0000-\u001f\u007f]/g, " "))}
              />
              <p className="hint">The owner reads “suspended by an administrator” and this reason, not who you are.</p>
            </div>
          )}
          <ErrorNote advice={advice} />
          <div className="actions">
            <button type="submit" className="danger" disabled={typed !== store.name || busy}>
              {busy ? "Suspending…" : "Suspend this store"}
            </button>
            <button type="button" onClick={cancel}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function ResumeCard({ store, reason, onStarted }: Omit<Props, "me">) {
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

  const resume = async () => {
    setBusy(true);
    setAdvice(null);
    try {
      onStarted(await resumeStore(store.id));
    } catch (error) {
      setAdvice(explain(error));
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="suspended-heading">
      <h2 id="suspended-heading">This store is suspended</h2>
      <p>{PAUSED}</p>
      {reason && <p data-testid="suspend-reason">Why: {reason}</p>}
      <p>Resuming starts it again with the same data.</p>
      <ErrorNote advice={advice} />
      <button type="button" className="primary" onClick={() => void resume()} disabled={busy}>
        {busy ? "Resuming…" : "Resume"}
      </button>
    </section>
  );
}

function UnderWay({ status }: { status: "suspending" | "resuming" }) {
  const text =
    status === "suspending"
      ? "Suspending: stopping the store's workloads; its data is kept."
      : "Resuming: starting the store's workloads again with the same data.";
  return (
    <section className="card" aria-labelledby="suspension-heading">
      <h2 id="suspension-heading">{status === "suspending" ? "Suspending" : "Resuming"}</h2>
      <p role="status" className="backup-progress">
        <progress aria-label={`${status} progress`} /> <span className="muted">{text}</span>
      </p>
    </section>
  );
}

// A store's backups on its page: the list (newest first) with a badge and progress per
// backup, moved live by the feed's backup.* events; a warning when its newest verified
// backup is older than its plan allows; "Back up now"; Restore from a verified
// backup, confirmed by typing the store's name; and Clone, which asks the new store's
// name, creates it from the backup and opens it.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { backUpStore, cloneStore, listBackups, restoreStore } from "../api/client";
import type { Backup, Store } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { formatMoment, When } from "../components/When";
import {
  applyToBackups,
  type Freshness,
  isUnderWay,
  mergeBackups,
  progressOf,
  sizeText,
  staleWarning,
  STEPS,
} from "../live/backups";
import { useLink, useLiveEvents } from "../live/live";
import { explain, type Advice } from "../messages";
import { navigate } from "../router";

const newKey = () =>
  typeof crypto.randomUUID === "function" ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;

type Action = { kind: "restore" | "clone"; backup: Backup } | null;

export function Backups({ store }: { store: Store }) {
  const [backups, setBackups] = useState<Backup[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [busy, setBusy] = useState(false);
  const [action, setAction] = useState<Action>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [freshness, setFreshness] = useState<Freshness | null>(null);
  const known = useRef<Backup[]>([]);
  const { resumes } = useLink();

  const commit = (next: Backup[]) => {
    known.current = next;
    setBackups(next);
  };

  useEffect(() => {
    let current = true;
    listBackups(store.id)
      .then((page) => {
        if (!current) return;
        commit(mergeBackups(known.current, page.items));
        setFreshness(page);
      })
      .catch((error: unknown) => current && setAdvice(explain(error)))
      .finally(() => current && setLoaded(true));
    return () => {
      current = false;
    };
  }, [store.id, resumes]);

  useLiveEvents((event) => {
    if (event.store_id === store.id) commit(applyToBackups(known.current, event));
  });

  const backUp = async () => {
    setBusy(true);
    setAdvice(null);
    try {
      const backup = await backUpStore(store.id, newKey());
      // Merged by id: the feed may have brought its `backup.requested` first.
      commit(mergeBackups(known.current, [backup]));
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  const underWay = backups.some(isUnderWay);
  const mayBackUp = store.status === "ready" && !underWay;
  const warning = freshness && staleWarning(freshness, backups, (iso) => formatMoment(iso));
  return (
    <section className="card" aria-labelledby="backups-heading">
      <h2 id="backups-heading">Backups</h2>
      {warning && (
        <p className="warning" role="status" data-testid="backups-stale">
          {warning}
        </p>
      )}
      {store.status !== "deleted" && (
        <p className="actions">
          <button type="button" onClick={() => void backUp()} disabled={!mayBackUp || busy}>
            {busy ? "Asking…" : "Back up now"}
          </button>
          {underWay && <span className="muted"> A backup is under way.</span>}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorNote advice={advice} />
      {!loaded ? (
        <p className="muted">Loading the backups…</p>
      ) : backups.length === 0 ? (
        <p className="muted">No backups yet.</p>
      ) : (
        <BackupTable backups={backups} store={store} onAction={setAction} />
      )}
      {action?.kind === "restore" && (
        <RestoreForm
          store={store}
          backup={action.backup}
          onDone={(text) => {
            setAction(null);
            if (text) setNotice(text);
          }}
        />
      )}
      {action?.kind === "clone" && <CloneForm backup={action.backup} onCancel={() => setAction(null)} />}
    </section>
  );
}

function BackupTable({
  backups,
  store,
  onAction,
}: {
  backups: Backup[];
  store: Store;
  onAction: (action: Action) => void;
}) {
  const mayRestore = store.status === "ready" || store.status === "failed";
  return (
    <table className="backups" data-testid="backups" aria-live="polite">
      <thead>
        <tr>
          <th scope="col">Requested</th>
          <th scope="col">Why</th>
          <th scope="col">Status</th>
          <th scope="col">Size</th>
          <th scope="col">Orders</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {backups.map((backup) => (
          <tr key={backup.id} data-backup={backup.id} data-status={backup.status}>
            <td>
              <When iso={backup.requested_at} precise />
            </td>
            <td>{reasonText(backup.reason)}</td>
            <td>
              <span className={`badge badge-backup-${backup.status}`} data-status={backup.status}>
                {backup.status}
              </span>
              <Progress backup={backup} />
              {backup.error && <span className="step-detail">{backup.error}</span>}
            </td>
            <td>{sizeText(backup.size_bytes)}</td>
            <td>{backup.orders ?? "—"}</td>
            <td>
              {backup.status === "verified" && (
                <span className="actions">
                  {mayRestore && (
                    <button type="button" onClick={() => onAction({ kind: "restore", backup })}>
                      Restore…
                    </button>
                  )}
                  <button type="button" onClick={() => onAction({ kind: "clone", backup })}>
                    Clone…
                  </button>
                </span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Progress({ backup }: { backup: Backup }) {
  const progress = progressOf(backup.status);
  if (!progress) return null;
  return (
    <span className="backup-progress">
      <progress max={STEPS} value={progress.step} aria-label={`backup progress: ${progress.text}`} />
      <span className="muted"> {progress.text}</span>
    </span>
  );
}

function reasonText(reason: Backup["reason"]): string {
  if (reason === "on_demand") return "asked for";
  if (reason === "pre_restore") return "before a restore";
  if (reason === "pre_upgrade") return "before an upgrade";
  return reason ?? "—";
}

function RestoreForm({
  store,
  backup,
  onDone,
}: {
  store: Store;
  backup: Backup;
  onDone: (notice: string | null) => void;
}) {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (typed !== store.name) return;
    setBusy(true);
    setAdvice(null);
    try {
      await restoreStore(store.id, backup.id);
      onDone("Restore requested: the store is backed up first, then restored; it shows restoring meanwhile.");
    } catch (error) {
      setAdvice(explain(error));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="stack" aria-label="Restore from a backup">
      <p>
        Restoring replaces everything in the store with the backup of{" "}
        <When iso={backup.requested_at} precise />. The store is backed up first, so this can be undone.
      </p>
      <div className="field">
        <label htmlFor="restore-confirm">
          Type the store's name, <strong>{store.name}</strong>, to restore it
        </label>
        <input
          id="restore-confirm"
          autoComplete="off"
          autoFocus
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
      </div>
      <ErrorNote advice={advice} />
      <div className="actions">
        <button type="submit" className="danger" disabled={typed !== store.name || busy}>
          {busy ? "Restoring…" : "Restore"}
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function CloneForm({ backup, onCancel }: { backup: Backup; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const key = useRef(newKey());

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setAdvice(null);
    try {
      const created = await cloneStore(name.trim(), backup.id, key.current);
      navigate(`/stores/${created.id}`);
    } catch (error) {
      key.current = newKey();
      setAdvice(explain(error));
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="stack" aria-label="Clone into a new store">
      <p>
        A new store starts with this backup's products, orders and files ({backup.engine ?? "same engine"}).
      </p>
      <div className="field">
        <label htmlFor="clone-name">Name of the new store</label>
        <input
          id="clone-name"
          autoComplete="off"
          autoFocus
          maxLength={40}
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
      </div>
      <ErrorNote advice={advice} />
      <div className="actions">
        <button type="submit" className="primary" disabled={name.trim().length < 3 || busy}>
          {busy ? "Cloning…" : "Clone"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

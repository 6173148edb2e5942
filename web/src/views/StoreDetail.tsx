// One store: its facts and live status, its URL, the timeline of everything that happened
// to it (filled in live), the admin credentials (owner only, kept in memory while shown),
// its plan (changed to another of the catalog's), its backups (back up, restore, clone),
// its custom domains (add, the DNS records to create, remove),
// suspend and resume, retry once it failed, and delete, confirmed by typing the store's name.

import { useCallback, useEffect, useState } from "react";
import { getStore, retryStore, storeEvents } from "../api/client";
import type { AuditEntry, Catalog, Me, PlanChange, Store, StoreOperation } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { StatusBadge } from "../components/StatusBadge";
import { StoreUrl } from "../components/StoreTable";
import { When } from "../components/When";
import { useLink, useLiveEvents } from "../live/live";
import { latestPlanChange, type Asked } from "../live/plans";
import { applyEvent, commanded, newer } from "../live/status";
import { explain, type Advice } from "../messages";
import { Link } from "../router";
import { describe, entryOf, mergeEntries } from "../timeline";
import { Backups } from "./Backups";
import { ChangePlan } from "./ChangePlan";
import { Credentials } from "./Credentials";
import { DeleteStore } from "./DeleteStore";
import { Domains } from "./Domains";
import { Suspension } from "./Suspension";
import { PageHeading } from "../components/PageHeading";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_PAGES = 20;

export function actorName(actor: string, store: Store, me: Me): string {
  if (actor === me.user.id) return "you";
  if (actor === store.owner.id) return store.owner.username || "the owner";
  if (UUID.test(actor)) return "an administrator";
  return actor;
}

async function wholeTimeline(id: string): Promise<AuditEntry[]> {
  let entries: AuditEntry[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await storeEvents(id, cursor);
    entries = mergeEntries(entries, body.items);
    if (!body.next_cursor) break;
    cursor = body.next_cursor;
  }
  return entries;
}

export function StoreDetail({ id, me, catalog }: { id: string; me: Me; catalog: Catalog }) {
  const [store, setStore] = useState<Store | null>(null);
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [retrying, setRetrying] = useState(false);
  const [planAsked, setPlanAsked] = useState<Asked | null>(null);
  const { resumes } = useLink();

  useEffect(() => {
    let current = true;
    setLoadError(null);
    Promise.all([getStore(id), wholeTimeline(id)])
      .then(([found, timeline]) => {
        if (!current) return;
        // Keep whatever the live feed already moved further than this answer.
        setStore((seen) => (seen && seen.id === found.id ? newer(seen, found) : found));
        setEntries((live) => mergeEntries(timeline, live));
      })
      .catch((error: unknown) => current && setLoadError(error));
    return () => {
      current = false;
    };
  }, [id, resumes]);

  useLiveEvents((event) => {
    if (event.store_id !== id) return;
    setStore((s) => (s ? applyEvent(s, event) : s));
    setEntries((list) => mergeEntries(list, [entryOf(event)]));
  });

  const changed = useCallback((next: Store) => setStore((s) => (s ? newer(s, next) : next)), []);
  const planStarted = useCallback((change: PlanChange) => setPlanAsked({ change, at: Date.now() }), []);
  const started = useCallback(
    (operation: StoreOperation) => setStore((s) => (s ? commanded(s, operation.kind, operation.operation_id) : s)),
    [],
  );

  const retry = async () => {
    setRetrying(true);
    setAdvice(null);
    try {
      changed(await retryStore(id));
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setRetrying(false);
    }
  };

  if (loadError) {
    return (
      <>
        <PageHeading>Store not available</PageHeading>
        <ErrorNote advice={explain(loadError)} />
        <p>
          <Link to="/">Back to my stores</Link>
        </p>
      </>
    );
  }
  if (!store) return <p className="muted">Loading the store…</p>;

  const isOwner = store.owner.id === me.user.id;
  const planChange = latestPlanChange(entries, planAsked, Date.now());
  const moving = planChange?.outcome === "under_way" ? ` (moving to ${planChange.plan})` : "";
  return (
    <>
      <p className="crumbs">
        <Link to="/">My stores</Link> <span aria-hidden="true">›</span> {store.name}
      </p>
      <div className="page-head">
        <PageHeading>{store.name}</PageHeading>
        <StatusBadge status={store.status} />
      </div>
      {store.status === "deleted" && (
        <p className="notice" role="status">
          This store has been deleted and everything it had is gone. <Link to="/">Back to my stores</Link>
        </p>
      )}
      <section className="card" aria-labelledby="facts-heading">
        <h2 id="facts-heading">Details</h2>
        <dl className="facts">
          <dt>URL</dt>
          <dd>
            <StoreUrl url={store.status === "ready" ? store.url : null} />
          </dd>
          <dt>Engine</dt>
          <dd data-testid="store-engine">
            {store.engine}
            {store.engine_version && <span className="muted"> {store.engine_version}</span>}
          </dd>
          <dt>Plan</dt>
          <dd data-testid="store-plan">
            {store.plan}
            {moving && <span className="muted">{moving}</span>}
          </dd>
          <dt>Owner</dt>
          <dd>{isOwner ? "you" : store.owner.username}</dd>
          <dt>Namespace</dt>
          <dd>
            <code>{store.namespace}</code>
          </dd>
          <dt>Created</dt>
          <dd>
            <When iso={store.created_at} />
          </dd>
          <dt>Ready since</dt>
          <dd>
            <When iso={store.ready_at} />
          </dd>
        </dl>
      </section>
      {store.status === "failed" && (
        <section className="card failed" aria-labelledby="failed-heading">
          <h2 id="failed-heading">Provisioning failed</h2>
          <p>{store.error || "The store could not be provisioned."}</p>
          <p>Retrying asks for the store again with the same name, engine and plan.</p>
          <ErrorNote advice={advice} />
          <button type="button" className="primary" onClick={() => void retry()} disabled={retrying}>
            {retrying ? "Retrying…" : "Retry"}
          </button>
        </section>
      )}
      {isOwner && store.status === "ready" && <Credentials storeId={store.id} />}
      <ChangePlan store={store} catalog={catalog} change={planChange} onStarted={planStarted} />
      <Suspension store={store} me={me} reason={suspendReason(entries)} onStarted={started} />
      <Backups store={store} />
      <Domains store={store} />
      <section className="card" aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Timeline</h2>
        <Timeline entries={entries} store={store} me={me} />
      </section>
      {store.status !== "deleted" && <DeleteStore store={store} onChanged={changed} />}
    </>
  );
}

/** The reason the newest suspension was asked for, if it gave one. */
function suspendReason(entries: AuditEntry[]): string | null {
  const asked = entries.filter((e) => e.type === "suspend.requested").at(-1);
  const reason = asked?.data.reason;
  return typeof reason === "string" && reason ? reason : null;
}

function Timeline({ entries, store, me }: { entries: AuditEntry[]; store: Store; me: Me }) {
  if (entries.length === 0) return <p className="muted">Nothing recorded yet.</p>;
  return (
    <ol className="timeline" aria-live="polite" data-testid="timeline">
      {entries.map((entry) => {
        const { title, detail } = describe(entry);
        return (
          <li key={entry.id} className={`step step-${entry.type}`} data-type={entry.type}>
            <span className="step-title">{title}</span>
            {detail && <span className="step-detail">{detail}</span>}
            <span className="step-meta">
              <When iso={entry.occurred_at} precise /> · {actorName(entry.actor, store, me)}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

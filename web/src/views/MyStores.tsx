// "My stores": the signed-in person's stores with live badges, their quota use and the
// create form.

import type { Catalog, Me } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { StoreTable } from "../components/StoreTable";
import { useStores } from "../live/useStores";
import { explain } from "../messages";
import { CreateStore } from "./CreateStore";
import { PageHeading } from "../components/PageHeading";

export function quotaText(used: number, max: number): string {
  return `${used} of ${max} ${max === 1 ? "store" : "stores"}`;
}

export function MyStores({ me, catalog }: { me: Me; catalog: Catalog }) {
  // Administrators see everyone's stores by default; this page is about their own.
  const list = useStores({ owner: me.user.role === "admin" ? me.user.id : undefined });
  // With the whole list at hand its length is the live count; otherwise trust /me.
  const used = list.loaded && !list.more && !list.error ? list.stores.length : me.quota.stores;
  const full = used >= me.quota.max_stores;

  return (
    <>
      <div className="page-head">
        <PageHeading>My stores</PageHeading>
        <p className={`quota${full ? " quota-full" : ""}`} aria-live="polite" data-testid="quota">
          {quotaText(used, me.quota.max_stores)}
          {full && <span> (quota reached: delete a store to create another)</span>}
        </p>
      </div>
      <div className="columns">
        <section aria-labelledby="list-heading" className="list-column">
          <h2 id="list-heading" className="visually-hidden">
            Your stores
          </h2>
          <ErrorNote advice={list.error ? explain(list.error) : null} />
          {!list.loaded ? (
            <p className="muted">Loading your stores…</p>
          ) : list.stores.length === 0 && !list.error ? (
            <p className="empty">You have no stores yet. Create one with the form.</p>
          ) : (
            <StoreTable stores={list.stores} caption="Your stores" />
          )}
          {list.more && (
            <button type="button" onClick={() => void list.loadMore()}>
              Show more stores
            </button>
          )}
        </section>
        <CreateStore catalog={catalog} stores={list.stores} onCreated={list.put} />
      </div>
    </>
  );
}

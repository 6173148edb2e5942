// Administrators: every store, filtered by owner and status, with live badges. The owner
// choices are everyone seen so far (and every user, when the gateway lists users).

import { useEffect, useState } from "react";
import { listUsers } from "../api/client";
import { STATUSES, type Owner } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { StoreTable } from "../components/StoreTable";
import { useStores } from "../live/useStores";
import { explain } from "../messages";
import { PageHeading } from "../components/PageHeading";

export function AdminStores() {
  const [owner, setOwner] = useState("");
  const [status, setStatus] = useState("");
  const [owners, setOwners] = useState<Map<string, string>>(new Map());
  const list = useStores({ owner: owner || undefined, status: status || undefined });

  useEffect(() => {
    listUsers()
      .then(({ items }) => remember(items.filter((u) => u.id).map((u) => ({ id: u.id as string, username: u.username }))))
      .catch(() => {}); // without the users route, owners come from the stores themselves
  }, []);
  useEffect(() => remember(list.stores.map((s) => s.owner)), [list.stores]);

  function remember(found: Owner[]) {
    setOwners((old) => {
      if (found.every((o) => old.has(o.id))) return old;
      const next = new Map(old);
      for (const o of found) next.set(o.id, o.username || o.id);
      return next;
    });
  }

  return (
    <>
      <PageHeading>All stores</PageHeading>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter stores">
        <div className="field">
          <label htmlFor="filter-owner">Owner</label>
          <select id="filter-owner" value={owner} onChange={(e) => setOwner(e.target.value)}>
            <option value="">everyone</option>
            {[...owners].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) => (
              <option key={id} value={id}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any but deleted</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote advice={list.error ? explain(list.error) : null} />
      {!list.loaded ? (
        <p className="muted">Loading stores…</p>
      ) : list.stores.length === 0 ? (
        <p className="empty">No store matches these filters.</p>
      ) : (
        <StoreTable stores={list.stores} caption="All stores" showOwner />
      )}
      {list.more && (
        <button type="button" onClick={() => void list.loadMore()}>
          Show more stores
        </button>
      )}
    </>
  );
}

// A list of stores that stays current by itself: loaded once from GET /stores, then moved
// by each event of the live feed (no polling). Events that arrive while the list loads
// are kept and applied to it afterwards; a store someone created elsewhere (a
// `requested` event for an unknown id) is fetched and added when it fits the filter; a
// store that reaches `deleted` leaves the list. After the feed comes back from an outage
// the list is loaded again, in case the outage swallowed an event.

import { useCallback, useEffect, useRef, useState } from "react";
import { getStore, listStores, type StoreFilter } from "../api/client";
import type { Envelope, Store } from "../api/types";
import { useLink, useLiveEvents } from "./live";
import { applyToList, newer } from "./status";

export interface StoreList {
  stores: Store[];
  loaded: boolean;
  error: unknown;
  more: boolean;
  loadMore: () => Promise<void>;
  /** A store the page just created or changed; a stale copy never moves a badge back. */
  put: (store: Store) => void;
}

let firstListMarked = false;

function markFirstList(): void {
  // Page load to first store list, for `performance.getEntriesByName` (see web/README.md).
  if (firstListMarked) return;
  firstListMarked = true;
  performance.mark("storefleet:first-list");
}

export function useStores(filter: Omit<StoreFilter, "cursor">): StoreList {
  const [stores, setStores] = useState<Store[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const known = useRef<Store[]>([]);
  const pending = useRef<Envelope[] | null>(null);
  const gone = useRef(new Set<string>()); // deleted per the feed, maybe not yet per the API
  const { resumes } = useLink();
  const { owner, status } = filter;

  const commit = useCallback((next: Store[]) => {
    known.current = next;
    setStores(next);
  }, []);

  const fits = useCallback(
    (store: Store) => (!owner || store.owner.id === owner) && (!status || store.status === status),
    [owner, status],
  );

  const adopt = useCallback(
    async (storeId: string) => {
      try {
        const store = await getStore(storeId);
        if (fits(store) && !known.current.some((s) => s.id === store.id)) commit([store, ...known.current]);
      } catch {
        // gone already, or not ours: nothing to show
      }
    },
    [commit, fits],
  );

  const absorb = useCallback(
    (event: Envelope) => {
      if (event.type === "deleted") gone.current.add(event.store_id);
      const isNew = event.type === "requested" && !known.current.some((s) => s.id === event.store_id);
      if (isNew && (!owner || event.data.owner === owner)) void adopt(event.store_id);
      else commit(applyToList(known.current, event));
    },
    [adopt, commit, owner],
  );

  useEffect(() => {
    let current = true;
    pending.current = [];
    setError(null);
    listStores({ owner, status })
      .then((page) => {
        if (!current) return;
        commit(merged(known.current, page.items, gone.current));
        setCursor(page.next_cursor);
        const missed = pending.current ?? [];
        pending.current = null;
        missed.forEach(absorb);
        setLoaded(true);
        markFirstList();
      })
      .catch((failure: unknown) => {
        if (!current) return;
        pending.current = null;
        setError(failure);
        setLoaded(true);
      });
    return () => {
      current = false;
    };
  }, [owner, status, resumes, commit, absorb]);

  useLiveEvents((event) => {
    if (pending.current) pending.current.push(event);
    else absorb(event);
  });

  const loadMore = useCallback(async () => {
    if (!cursor) return;
    const page = await listStores({ owner, status, cursor });
    const seen = new Set(known.current.map((s) => s.id));
    const fresh = page.items.filter((s) => !seen.has(s.id) && !gone.current.has(s.id));
    commit([...known.current, ...fresh]);
    setCursor(page.next_cursor);
  }, [cursor, owner, status, commit]);

  const put = useCallback(
    (store: Store) => {
      const list = known.current;
      const index = list.findIndex((s) => s.id === store.id);
      if (store.status === "deleted") commit(list.filter((s) => s.id !== store.id));
      else if (index < 0) commit([store, ...list]);
      else commit(list.map((s) => (s.id === store.id ? newer(s, store) : s)));
    },
    [commit],
  );

  return { stores, loaded, error, more: cursor !== null, loadMore, put };
}

/** A freshly loaded page, without stores the feed saw deleted and no badge moved back. */
function merged(seen: Store[], page: Store[], gone: Set<string>): Store[] {
  const byId = new Map(seen.map((s) => [s.id, s]));
  return page
    .filter((s) => !gone.has(s.id))
    .map((s) => {
      const before = byId.get(s.id);
      return before ? newer(before, s) : s;
    });
}

// Administrators: fleet rollouts of an engine upgrade, newest first, with how far each got
// (its current wave and its stores upgraded, rolled back, failed and pending), and the form
// to start one. The list follows the reaper's driver live (web/src/live/useRollouts.ts).
// Counts come from each rollout's detail: the list route carries none.

import { useCallback, useEffect, useState } from "react";
import { getRollout, listRollouts, listUsers } from "../api/client";
import type { Catalog, Rollout, RolloutDetail } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { PageHeading } from "../components/PageHeading";
import { When } from "../components/When";
import { currentWaveText, totals, type Watched } from "../live/rollouts";
import { useFollowedRollouts } from "../live/useRollouts";
import { explain } from "../messages";
import { Link, navigate } from "../router";
import { StartRollout } from "./StartRollout";

// Counts are read for this many of the newest rollouts; older ones are long settled.
const COUNTED = 20;

interface Listed {
  rollout: Rollout;
  detail: RolloutDetail | null;
}

async function loadListing(): Promise<Listed[]> {
  const { items } = await listRollouts();
  const details = await Promise.all(items.slice(0, COUNTED).map((r) => getRollout(r.id).catch(() => null)));
  return items.map((rollout, i) => ({ rollout, detail: details[i] ?? null }));
}

export function watchedOfListing(listed: Listed[]): Watched[] {
  return listed.map(({ rollout, detail }) => ({
    id: rollout.id,
    state: rollout.state,
    storeIds: new Set(detail?.stores.map((s) => s.store_id) ?? []),
  }));
}

export function Rollouts({ catalog }: { catalog: Catalog }) {
  const followed = useFollowedRollouts(loadListing, watchedOfListing);
  const started = useCallback((rollout: Rollout) => navigate(`/admin/rollouts/${rollout.id}`), []);
  const [names, setNames] = useState<Map<string, string>>(new Map());

  useEffect(() => {
    listUsers()
      .then(({ items }) => setNames(new Map(items.filter((u) => u.id).map((u) => [u.id as string, u.username]))))
      .catch(() => {}); // the creator's id stands
  }, []);

  return (
    <>
      <PageHeading>Rollouts</PageHeading>
      <p className="muted">
        A rollout moves every store of an engine to a version, wave by wave; the reaper drives it and stops it when too many
        upgrades fail.
      </p>
      <div className="columns">
        <section aria-labelledby="rollouts-heading">
          <h2 id="rollouts-heading">All rollouts</h2>
          <ErrorNote advice={followed.error ? explain(followed.error) : null} />
          {followed.value === null ? (
            !followed.error && <p className="muted">Loading rollouts…</p>
          ) : followed.value.length === 0 ? (
            <p className="empty">No rollout yet.</p>
          ) : (
            <RolloutTable listed={followed.value} names={names} />
          )}
        </section>
        <StartRollout catalog={catalog} onStarted={started} />
      </div>
    </>
  );
}

function RolloutTable({ listed, names }: { listed: Listed[]; names: Map<string, string> }) {
  return (
    <table className="responsive" data-testid="rollouts">
      <caption className="visually-hidden">Rollouts, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Rollout</th>
          <th scope="col">State</th>
          <th scope="col">Wave</th>
          <th scope="col">Upgraded</th>
          <th scope="col">Rolled back</th>
          <th scope="col">Failed</th>
          <th scope="col">Pending</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody aria-live="polite">
        {listed.map(({ rollout, detail }) => {
          const counts = detail ? totals(detail.progress) : null;
          const count = (n: number | undefined) => (n === undefined ? "—" : n);
          return (
            <tr key={rollout.id} data-rollout={rollout.id} data-state={rollout.state}>
              <th scope="row" data-label="Rollout">
                <Link to={`/admin/rollouts/${rollout.id}`}>
                  {rollout.engine} to {rollout.target_version}
                </Link>
              </th>
              <td data-label="State">
                <span className={`badge badge-rollout-${rollout.state}`}>{rollout.state}</span>
              </td>
              <td data-label="Wave">{currentWaveText(rollout)}</td>
              <td data-label="Upgraded">{count(counts?.upgraded)}</td>
              <td data-label="Rolled back">{count(counts?.rolledBack)}</td>
              <td data-label="Failed">{count(counts?.failed)}</td>
              <td data-label="Pending">{count(counts?.pending)}</td>
              <td data-label="Created">
                <When iso={rollout.created_at} /> <span className="muted">by {names.get(rollout.created_by) ?? rollout.created_by}</span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

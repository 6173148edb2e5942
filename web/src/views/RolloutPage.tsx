// Administrators: one fleet rollout, followed live: its state (announced as it changes),
// its settings, each wave's size, state and counts, each store's wave, version before and
// state, and Pause / Resume / Abort, each enabled only in the states the gateway allows it
// from (abort asks first).

import { useCallback, useState } from "react";
import { ApiError, getRollout, moveRollout } from "../api/client";
import type { RolloutCommand, RolloutDetail } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { PageHeading } from "../components/PageHeading";
import { When } from "../components/When";
import { allows, currentWaveText, STORE_STATE_TEXT, waveSizeText, waveState, type Watched } from "../live/rollouts";
import { useFollowedRollouts } from "../live/useRollouts";
import { explain, type Advice } from "../messages";
import { Link } from "../router";

const watchedOf = (detail: RolloutDetail): Watched[] => [
  { id: detail.id, state: detail.state, storeIds: new Set(detail.stores.map((s) => s.store_id)) },
];

function advised(error: unknown): Advice {
  if (error instanceof ApiError && error.status === 404) return { text: "There is no such rollout." };
  return explain(error);
}

export function RolloutPage({ id }: { id: string }) {
  const load = useCallback(() => getRollout(id), [id]);
  const followed = useFollowedRollouts(load, watchedOf);
  const detail = followed.value;

  return (
    <>
      <p className="crumbs">
        <Link to="/admin/rollouts">Rollouts</Link>
      </p>
      {detail === null ? (
        <>
          <PageHeading>Rollout</PageHeading>
          {followed.error ? <ErrorNote advice={advised(followed.error)} /> : <p className="muted">Loading the rollout…</p>}
        </>
      ) : (
        <>
          <PageHeading>
            Rollout of {detail.engine} to {detail.target_version}
          </PageHeading>
          {followed.error !== null && <ErrorNote advice={advised(followed.error)} />}
          <Summary detail={detail} />
          <Controls detail={detail} onMoved={followed.reload} />
          <Waves detail={detail} />
          <Stores detail={detail} />
        </>
      )}
    </>
  );
}

function Summary({ detail }: { detail: RolloutDetail }) {
  return (
    <section className="card" aria-labelledby="rollout-summary-heading">
      <h2 id="rollout-summary-heading" className="visually-hidden">
        Summary
      </h2>
      <p role="status" aria-live="polite" data-testid="rollout-state" data-state={detail.state}>
        <span className={`badge badge-rollout-${detail.state}`}>{detail.state}</span> {currentWaveText(detail)}
        {detail.reason && `: ${detail.reason}`}
      </p>
      <dl className="facts">
        <dt>Waves</dt>
        <dd>{detail.waves.join(", ")}</dd>
        <dt>Upgrades at once</dt>
        <dd>{detail.max_concurrent}</dd>
        <dt>Failure threshold</dt>
        <dd>{Math.round(detail.failure_threshold * 1000) / 10}%</dd>
        <dt>Pause between waves</dt>
        <dd>{detail.pause_seconds} s</dd>
        <dt>Next wave</dt>
        <dd>
          <When iso={detail.next_wave_at} />
        </dd>
        <dt>Created</dt>
        <dd>
          <When iso={detail.created_at} />
        </dd>
        <dt>Stores picked</dt>
        <dd>
          <When iso={detail.planned_at} />
          {detail.planned_at && ` (${detail.skipped} of the engine's stores skipped)`}
        </dd>
        <dt>Ended</dt>
        <dd>
          <When iso={detail.ended_at} />
        </dd>
      </dl>
    </section>
  );
}

const DONE: Record<RolloutCommand, string> = { pause: "Paused.", resume: "Resumed.", abort: "Aborted: upgrades in flight finish." };

function Controls({ detail, onMoved }: { detail: RolloutDetail; onMoved: () => void }) {
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [done, setDone] = useState("");

  const run = async (command: RolloutCommand) => {
    setBusy(true);
    setAdvice(null);
    setDone("");
    try {
      await moveRollout(detail.id, command);
      setDone(DONE[command]);
      setConfirming(false);
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setBusy(false);
      onMoved();
    }
  };

  const off = (command: RolloutCommand) => busy || !allows(detail.state, command);
  return (
    <section className="card" aria-labelledby="rollout-controls-heading">
      <h2 id="rollout-controls-heading">Control</h2>
      <div className="actions">
        <button type="button" disabled={off("pause")} onClick={() => void run("pause")}>
          Pause
        </button>
        <button type="button" disabled={off("resume")} onClick={() => void run("resume")}>
          Resume
        </button>
        <button type="button" className="danger" disabled={off("abort") || confirming} onClick={() => setConfirming(true)}>
          Abort…
        </button>
      </div>
      {confirming && allows(detail.state, "abort") && (
        <div className="stack" role="group" aria-labelledby="abort-question">
          <p id="abort-question">
            Abort this rollout? Nothing new is requested; upgrades in flight finish. It cannot be resumed.
          </p>
          <div className="actions">
            <button type="button" className="danger" autoFocus disabled={busy} onClick={() => void run("abort")}>
              Abort the rollout
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <ErrorNote advice={advice} />
      <p className="done" role="status">
        {done}
      </p>
    </section>
  );
}

function Waves({ detail }: { detail: RolloutDetail }) {
  return (
    <section aria-labelledby="waves-heading">
      <h2 id="waves-heading">Waves</h2>
      <table className="responsive" data-testid="rollout-waves">
        <caption className="visually-hidden">Each wave's size, state and stores by state</caption>
        <thead>
          <tr>
            <th scope="col">Wave</th>
            <th scope="col">Size</th>
            <th scope="col">State</th>
            <th scope="col">Stores</th>
            <th scope="col">Upgraded</th>
            <th scope="col">Upgrading</th>
            <th scope="col">Rolled back</th>
            <th scope="col">Failed</th>
            <th scope="col">Pending</th>
          </tr>
        </thead>
        <tbody>
          {detail.progress.map((w) => (
            <tr key={w.wave} data-wave={w.wave} data-state={waveState(detail, w.wave)}>
              <th scope="row" data-label="Wave">
                {w.wave + 1}
              </th>
              <td data-label="Size">{waveSizeText(w.size)}</td>
              <td data-label="State">{waveState(detail, w.wave)}</td>
              <td data-label="Stores">{detail.planned_at ? w.stores : "not picked yet"}</td>
              <td data-label="Upgraded">{w.counts.completed ?? 0}</td>
              <td data-label="Upgrading">{w.counts.requested ?? 0}</td>
              <td data-label="Rolled back">{w.counts.rolled_back ?? 0}</td>
              <td data-label="Failed">{w.counts.failed ?? 0}</td>
              <td data-label="Pending">{w.counts.pending ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Stores({ detail }: { detail: RolloutDetail }) {
  return (
    <section aria-labelledby="rollout-stores-heading">
      <h2 id="rollout-stores-heading">Stores</h2>
      {detail.stores.length === 0 ? (
        <p className="empty">{detail.planned_at ? "No store of this engine needed the upgrade." : "The reaper has not picked the stores yet."}</p>
      ) : (
        <table className="responsive" data-testid="rollout-stores">
          <caption className="visually-hidden">Each store's wave, version before and state</caption>
          <thead>
            <tr>
              <th scope="col">Store</th>
              <th scope="col">Wave</th>
              <th scope="col">From version</th>
              <th scope="col">State</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {detail.stores.map((s) => (
              <tr key={s.store_id} data-store={s.store_id} data-state={s.state}>
                <th scope="row" data-label="Store">
                  <Link to={`/stores/${s.store_id}`}>{s.store_id}</Link>
                </th>
                <td data-label="Wave">{s.wave === null ? "skipped" : s.wave + 1}</td>
                <td data-label="From version">{s.from_version ?? "—"}</td>
                <td data-label="State">{STORE_STATE_TEXT[s.state]}</td>
                <td data-label="Updated">
                  <When iso={s.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

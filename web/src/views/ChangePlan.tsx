// Moving a ready store to another plan from its page: a select of the catalog's other
// plans (with what each offers) and a button that confirms the choice. From the gateway's
// 202 until `plan.changed` or `plan.failed` names the change on the feed, the card shows it
// under way and the control is off; the store stays ready all along. A failure (a smaller
// plan the store's usage does not fit) is said in words, the plan unchanged.

import { useState, type FormEvent } from "react";
import { changePlan } from "../api/client";
import type { Catalog, PlanChange, Store } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import type { PlanChangeState } from "../live/plans";
import { explain, type Advice } from "../messages";

interface Props {
  store: Store;
  catalog: Catalog;
  /** The store's newest plan change (web/src/live/plans.ts), if any. */
  change: PlanChangeState | null;
  /** The gateway accepted the change (202). */
  onStarted: (change: PlanChange) => void;
}

export function ChangePlan({ store, catalog, change, onStarted }: Props) {
  const [choice, setChoice] = useState("");
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  if (store.status !== "ready") return null;

  const others = catalog.plans.filter((p) => p.key !== store.plan);
  const underWay = change?.outcome === "under_way";
  const picked = others.find((p) => p.key === choice);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!picked || underWay) return;
    setBusy(true);
    setAdvice(null);
    try {
      onStarted(await changePlan(store.id, picked.key));
      setChoice("");
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="plan-heading">
      <h2 id="plan-heading">Change plan</h2>
      <p>
        The store is on the <strong>{store.plan}</strong> plan. Another plan moves its quota, limits and workloads;
        the store stays ready meanwhile. Storage never shrinks, so a smaller plan must fit what the store uses now.
      </p>
      <Outcome change={change} />
      {others.length === 0 ? (
        <p className="muted">No other plan is offered.</p>
      ) : (
        <form onSubmit={submit} className="stack" aria-label="Change the store's plan">
          <div className="field">
            <label htmlFor="new-plan">New plan</label>
            <select id="new-plan" value={choice} disabled={underWay || busy} onChange={(e) => setChoice(e.target.value)}>
              <option value="">Choose a plan…</option>
              {others.map((p) => (
                <option key={p.key} value={p.key}>
                  {p.label}
                </option>
              ))}
            </select>
          </div>
          <ErrorNote advice={advice} />
          <div className="actions">
            <button type="submit" className="primary" disabled={!picked || underWay || busy}>
              {busy ? "Changing…" : picked ? `Change to ${picked.key}` : "Change plan"}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function Outcome({ change }: { change: PlanChangeState | null }) {
  if (change?.outcome === "under_way") {
    const from = change.previousPlan ? ` from ${change.previousPlan}` : "";
    return (
      <p role="status" className="backup-progress">
        <progress aria-label="plan change progress" />{" "}
        <span className="muted">
          Moving{from} to {change.plan}: applying the new quota, limits and workloads.
        </span>
      </p>
    );
  }
  if (change?.outcome === "failed") {
    return (
      <div className="error-note" role="alert" data-testid="plan-failed">
        <p>
          The move to {change.plan} did not happen: {change.reason}. The store stays on its plan.
        </p>
      </div>
    );
  }
  return null;
}

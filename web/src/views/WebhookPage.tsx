// One webhook endpoint: what it receives and whether its deliveries gave up, rotating its
// signing secret (asked first; the new one shown once), deleting it (asked first), and its
// delivery log, newest first, each delivery's attempts (HTTP code, latency, the answer's
// first KiB as text), with "send again" for one event or everything since a time, and
// "Send test" (one synthetic webhook.test event to this endpoint, logged like the rest).
//
// The endpoint and its log are read when the page opens, after each redelivery or test
// send, and on
// "Refresh": the webhooks service sends on its own schedule and publishes nothing on the
// feed.

import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, deleteWebhook, getWebhook, listDeliveries, redeliver, rotateWebhookSecret, sendTestWebhook } from "../api/client";
import type { Delivery, Me, RedeliverRequest, Store, Webhook } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { PageHeading } from "../components/PageHeading";
import { SecretOnce } from "../components/SecretOnce";
import { formatMoment, When } from "../components/When";
import {
  answerText,
  appendDeliveries,
  eventTypesText,
  failingText,
  latencyText,
  latestAnswerText,
  OUTCOME_TEXT,
  sinceInstant,
  storeFilterText,
} from "../live/webhooks";
import { explain, type Advice } from "../messages";
import { Link, navigate } from "../router";
import { ownStores } from "./Webhooks";

function advised(error: unknown): Advice {
  if (error instanceof ApiError && error.status === 404) return { text: "There is no such endpoint, or it is not yours." };
  return explain(error);
}

export function WebhookPage({ id, me }: { id: string; me: Me }) {
  const [endpoint, setEndpoint] = useState<Webhook | null>(null);
  const [stores, setStores] = useState<Store[]>([]);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [reads, setReads] = useState(0);
  const reload = useCallback(() => setReads((n) => n + 1), []);

  useEffect(() => {
    let current = true;
    getWebhook(id)
      .then((found) => current && setEndpoint(found))
      .catch((error: unknown) => current && setAdvice(advised(error)));
    return () => {
      current = false;
    };
  }, [id, reads]);

  useEffect(() => {
    ownStores(me).then(setStores, () => {}); // the store's id stands
  }, [me]);

  return (
    <>
      <p className="crumbs">
        <Link to="/webhooks">Webhooks</Link>
      </p>
      <PageHeading>Webhook endpoint</PageHeading>
      <ErrorNote advice={advice} />
      {endpoint === null ? (
        !advice && <p className="muted">Loading the endpoint…</p>
      ) : (
        <>
          {secret && <SecretOnce secret={secret} rotated onHide={() => setSecret(null)} />}
          <Details endpoint={endpoint} stores={stores} />
          <Manage endpoint={endpoint} onRotated={setSecret} />
          <Deliveries endpoint={endpoint} reads={reads} onReload={reload} />
        </>
      )}
    </>
  );
}

function Details({ endpoint, stores }: { endpoint: Webhook; stores: Store[] }) {
  const failing = failingText(endpoint, (iso) => formatMoment(iso));
  return (
    <section className="card" aria-labelledby="webhook-details-heading">
      <h2 id="webhook-details-heading" className="visually-hidden">
        Details
      </h2>
      {failing && (
        <p className="warning" role="status" data-testid="webhook-failing">
          {failing}
        </p>
      )}
      <dl className="facts">
        <dt>URL</dt>
        <dd className="webhook-url" data-testid="webhook-url">
          {endpoint.url}
        </dd>
        <dt>Events</dt>
        <dd>{eventTypesText(endpoint.event_types)}</dd>
        <dt>Stores</dt>
        <dd>{storeFilterText(endpoint.store_id, stores)}</dd>
        {endpoint.description && (
          <>
            <dt>Note</dt>
            <dd>{endpoint.description}</dd>
          </>
        )}
        <dt>Created</dt>
        <dd>
          <When iso={endpoint.created_at} />
        </dd>
      </dl>
    </section>
  );
}

type Asking = "rotate" | "delete" | null;

function Manage({ endpoint, onRotated }: { endpoint: Webhook; onRotated: (secret: string) => void }) {
  const [asking, setAsking] = useState<Asking>(null);
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

  const act = async (what: "rotate" | "delete") => {
    setBusy(true);
    setAdvice(null);
    try {
      if (what === "rotate") {
        onRotated((await rotateWebhookSecret(endpoint.id)).secret);
        setAsking(null);
      } else {
        await deleteWebhook(endpoint.id);
        navigate("/webhooks");
        return;
      }
    } catch (error) {
      setAdvice(advised(error));
    }
    setBusy(false);
  };

  return (
    <section className="card" aria-labelledby="webhook-manage-heading">
      <h2 id="webhook-manage-heading">Secret and removal</h2>
      <div className="actions">
        <button type="button" disabled={busy || asking !== null} onClick={() => setAsking("rotate")}>
          Rotate secret…
        </button>
        <button type="button" className="danger" disabled={busy || asking !== null} onClick={() => setAsking("delete")}>
          Delete…
        </button>
      </div>
      {asking && (
        <div className="stack" role="group" aria-label={asking === "rotate" ? "Rotate the secret" : "Delete the endpoint"}>
          <p>
            {asking === "rotate"
              ? "Make a new signing secret? The current one stops working at once: requests signed with the new one fail your receiver's check until you give it the new secret."
              : "Delete this endpoint? It receives nothing more, and its delivery log goes with it."}
          </p>
          <div className="actions">
            <button type="button" className="danger" autoFocus disabled={busy} onClick={() => void act(asking)}>
              {asking === "rotate" ? "Rotate the secret" : "Delete the endpoint"}
            </button>
            <button type="button" onClick={() => setAsking(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <ErrorNote advice={advice} />
    </section>
  );
}

function Deliveries({ endpoint, reads, onReload }: { endpoint: Webhook; reads: number; onReload: () => void }) {
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [done, setDone] = useState("");
  const [testing, setTesting] = useState(false);

  useEffect(() => {
    let current = true;
    listDeliveries(endpoint.id)
      .then((page) => {
        if (!current) return;
        setItems(page.items);
        setCursor(page.next_cursor);
      })
      .catch((error: unknown) => current && setAdvice(advised(error)));
    return () => {
      current = false;
    };
  }, [endpoint.id, reads]);

  const older = async () => {
    if (!cursor) return;
    try {
      const page = await listDeliveries(endpoint.id, cursor);
      setItems((list) => appendDeliveries(list ?? [], page.items));
      setCursor(page.next_cursor);
    } catch (error) {
      setAdvice(advised(error));
    }
  };

  const send = async (body: RedeliverRequest): Promise<boolean> => {
    setAdvice(null);
    setDone("");
    try {
      const { redelivered } = await redeliver(endpoint.id, body);
      setDone(redelivered === 1 ? "1 delivery queued again." : `${redelivered} deliveries queued again.`);
      onReload();
      return true;
    } catch (error) {
      setAdvice(advised(error));
      return false;
    }
  };

  const sendTest = async () => {
    setAdvice(null);
    setDone("");
    setTesting(true);
    try {
      const { event_id } = await sendTestWebhook(endpoint.id);
      setDone(`Test event ${event_id} queued.`);
      onReload();
    } catch (error) {
      setAdvice(advised(error));
    }
    setTesting(false);
  };

  return (
    <section aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      <RedeliverSince onSend={send} />
      <p className="actions">
        <button type="button" onClick={onReload}>
          Refresh
        </button>
        <button type="button" disabled={testing} onClick={() => void sendTest()} aria-describedby="send-test-hint">
          {testing ? "Sending…" : "Send test"}
        </button>
      </p>
      <p className="hint" id="send-test-hint">
        &ldquo;Send test&rdquo; sends this endpoint one signed <code>webhook.test</code> event, whatever events it receives.
      </p>
      <ErrorNote advice={advice} />
      <p className="done" role="status">
        {done}
      </p>
      {items === null ? (
        !advice && <p className="muted">Loading the deliveries…</p>
      ) : items.length === 0 ? (
        <p className="empty">No delivery yet: events that occur from now on are sent here.</p>
      ) : (
        <DeliveryTable items={items} onRedeliver={(eventId) => void send({ event_id: eventId })} />
      )}
      {cursor && (
        <p className="actions">
          <button type="button" onClick={() => void older()}>
            Show older deliveries
          </button>
        </p>
      )}
    </section>
  );
}

function DeliveryTable({ items, onRedeliver }: { items: Delivery[]; onRedeliver: (eventId: string) => void }) {
  return (
    <table className="responsive" data-testid="deliveries">
      <caption className="visually-hidden">Deliveries, newest event first</caption>
      <thead>
        <tr>
          <th scope="col">Event</th>
          <th scope="col">Outcome</th>
          <th scope="col">Answer</th>
          <th scope="col">Latency</th>
          <th scope="col">Attempts</th>
          <th scope="col">Occurred</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {items.map((d) => (
          <tr key={d.id} data-delivery={d.id} data-event={d.event_id} data-outcome={d.outcome}>
            <th scope="row" data-label="Event">
              <code>{d.event_type}</code> <span className="muted">{d.event_id}</span>
            </th>
            <td data-label="Outcome">
              <span className={`badge badge-delivery-${d.outcome}`}>{OUTCOME_TEXT[d.outcome]}</span>
              {d.next_attempt_at && (
                <span className="muted">
                  {" "}
                  next try <When iso={d.next_attempt_at} precise />
                </span>
              )}
            </td>
            <td data-label="Answer" data-testid="delivery-answer">
              {latestAnswerText(d)}
              {d.attempts.length > 0 && <Attempts delivery={d} />}
            </td>
            <td data-label="Latency">{latencyText(d.latency_ms)}</td>
            <td data-label="Attempts">{d.attempt}</td>
            <td data-label="Occurred">
              <When iso={d.occurred_at} precise />
            </td>
            <td data-label="Actions">
              <button type="button" disabled={d.outcome === "pending"} onClick={() => onRedeliver(d.event_id)} aria-label={`Send ${d.event_id} again`}>
                Send again
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Attempts({ delivery }: { delivery: Delivery }) {
  return (
    <details>
      <summary>Attempts ({delivery.attempts.length})</summary>
      <ol className="attempts">
        {delivery.attempts.map((a) => (
          <li key={`${a.attempt} ${a.attempted_at}`} data-attempt={a.attempt}>
            <p>
              #{a.attempt} <When iso={a.attempted_at} precise />: {answerText(a.status_code, a.error)} in {latencyText(a.latency_ms)}
            </p>
            {a.response && <pre className="response">{a.response}</pre>}
          </li>
        ))}
      </ol>
    </details>
  );
}

function RedeliverSince({ onSend }: { onSend: (body: RedeliverRequest) => Promise<boolean> }) {
  const [local, setLocal] = useState("");
  const [busy, setBusy] = useState(false);
  const since = sinceInstant(local);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!since) return;
    setBusy(true);
    if (await onSend({ since })) setLocal("");
    setBusy(false);
  };

  return (
    <form onSubmit={submit} className="inline-form" aria-label="Send again since a time">
      <div className="field">
        <label htmlFor="redeliver-since">Send again every event since</label>
        <input
          id="redeliver-since"
          type="datetime-local"
          step={1}
          value={local}
          aria-describedby="redeliver-since-hint"
          onChange={(e) => setLocal(e.target.value)}
        />
        <p className="hint" id="redeliver-since-hint">
          Your local time. Deliveries still pending are left as they are.
        </p>
      </div>
      <button type="submit" disabled={!since || busy}>
        {busy ? "Queueing…" : "Send again"}
      </button>
    </form>
  );
}

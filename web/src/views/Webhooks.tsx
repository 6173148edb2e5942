// Every signed-in person's webhook endpoints: the list (URL, event types, store filter, a
// warning when deliveries gave up) and the form to add one. The gateway answers a create
// with the signing secret, shown here once (SecretOnce) and kept nowhere else; a refusal
// is shown next to the field it names.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, createWebhook, listStores, listWebhooks } from "../api/client";
import type { Me, NewWebhook, Store, Webhook } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { PageHeading } from "../components/PageHeading";
import { SecretOnce } from "../components/SecretOnce";
import { formatMoment, When } from "../components/When";
import {
  eventTypesOf,
  eventTypesText,
  failingText,
  fieldMessage,
  fieldOf,
  KNOWN_EVENT_TYPES,
  pickableStores,
  storeFilterText,
  type FormField,
} from "../live/webhooks";
import { explain, type Advice } from "../messages";
import { Link } from "../router";

// Pages of stores read for the store picker; a person has far fewer.
const STORE_PAGES = 10;

/** The caller's own stores, for the picker and to name a filter's store. */
export async function ownStores(me: Me): Promise<Store[]> {
  const stores: Store[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < STORE_PAGES; n += 1) {
    const page = await listStores({ owner: me.user.id, cursor });
    stores.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return stores;
}

export function Webhooks({ me }: { me: Me }) {
  const [endpoints, setEndpoints] = useState<Webhook[] | null>(null);
  const [stores, setStores] = useState<Store[]>([]);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [created, setCreated] = useState<NewWebhook | null>(null);

  useEffect(() => {
    let current = true;
    listWebhooks()
      .then(({ items }) => current && setEndpoints(items))
      .catch((error: unknown) => current && setAdvice(explain(error)));
    ownStores(me)
      .then((found) => current && setStores(found))
      .catch(() => {}); // the filter shows store ids; the picker offers "all"
    return () => {
      current = false;
    };
  }, [me]);

  const added = (endpoint: NewWebhook) => {
    setCreated(endpoint);
    const { secret: _secret, ...listed } = endpoint;
    setEndpoints((list) => [...(list ?? []), listed]);
  };

  return (
    <>
      <PageHeading>Webhooks</PageHeading>
      <p className="muted">
        An endpoint receives your stores' events as they happen, each POSTed as JSON and signed with the endpoint's secret
        (Standard Webhooks). A failed delivery is tried again for about a day.
      </p>
      {created && <SecretOnce secret={created.secret} rotated={false} onHide={() => setCreated(null)} />}
      <div className="columns">
        <section aria-labelledby="webhooks-heading">
          <h2 id="webhooks-heading">Your endpoints</h2>
          <ErrorNote advice={advice} />
          {endpoints === null ? (
            !advice && <p className="muted">Loading your endpoints…</p>
          ) : endpoints.length === 0 ? (
            <p className="empty">No endpoint yet.</p>
          ) : (
            <EndpointTable endpoints={endpoints} stores={stores} />
          )}
        </section>
        <CreateWebhook stores={pickableStores(stores)} onCreated={added} />
      </div>
    </>
  );
}

function EndpointTable({ endpoints, stores }: { endpoints: Webhook[]; stores: Store[] }) {
  return (
    <table className="responsive" data-testid="webhooks">
      <caption className="visually-hidden">Your webhook endpoints, oldest first</caption>
      <thead>
        <tr>
          <th scope="col">URL</th>
          <th scope="col">Events</th>
          <th scope="col">Stores</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {endpoints.map((endpoint) => {
          const failing = failingText(endpoint, (iso) => formatMoment(iso));
          return (
            <tr key={endpoint.id} data-webhook={endpoint.id} data-failing={endpoint.failing}>
              <th scope="row" data-label="URL">
                <Link to={`/webhooks/${endpoint.id}`} className="webhook-url">
                  {endpoint.url}
                </Link>
                {endpoint.description && <span className="muted"> {endpoint.description}</span>}
                {failing && (
                  <p className="warning" data-testid="webhook-failing">
                    {failing}
                  </p>
                )}
              </th>
              <td data-label="Events">{eventTypesText(endpoint.event_types)}</td>
              <td data-label="Stores">{storeFilterText(endpoint.store_id, stores)}</td>
              <td data-label="Created">
                <When iso={endpoint.created_at} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

type FieldErrors = Partial<Record<FormField, string>>;

function CreateWebhook({ stores, onCreated }: { stores: Store[]; onCreated: (endpoint: NewWebhook) => void }) {
  const [url, setUrl] = useState("");
  const [all, setAll] = useState(true);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [storeId, setStoreId] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [advice, setAdvice] = useState<Advice | null>(null);
  const urlInput = useRef<HTMLInputElement>(null);

  const types = eventTypesOf(all, picked);
  const toggle = (type: string) => {
    const next = new Set(picked);
    if (next.has(type)) next.delete(type);
    else next.add(type);
    setPicked(next);
    setErrors({ ...errors, event_types: undefined });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setAdvice(null);
    try {
      const body = { url: url.trim(), event_types: types, description: description.trim() };
      onCreated(await createWebhook(storeId ? { ...body, store_id: storeId } : body));
      setUrl("");
      setDescription("");
    } catch (error) {
      const field = error instanceof ApiError ? fieldOf(error.status, error.field) : null;
      if (error instanceof ApiError && field) {
        const text = error.status === 404 ? "That store is not yours, or no longer exists." : fieldMessage(error.message, error.field);
        setErrors({ [field]: text });
        if (field === "url") urlInput.current?.focus();
      } else {
        setAdvice(explain(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const described = (field: FormField, hint?: string) => ({
    "aria-invalid": errors[field] ? true : undefined,
    "aria-describedby": errors[field] ? `webhook-${field}-error` : hint,
  });
  return (
    <form onSubmit={submit} className="card stack" aria-labelledby="new-webhook-heading">
      <h2 id="new-webhook-heading">Add an endpoint</h2>
      <div className="field">
        <label htmlFor="webhook-url">URL</label>
        <input
          id="webhook-url"
          ref={urlInput}
          type="text"
          inputMode="url"
          autoComplete="off"
          spellCheck={false}
          maxLength={2000}
          value={url}
          {...described("url", "webhook-url-hint")}
          onChange={(e) => {
            setUrl(e.target.value);
            setErrors({ ...errors, url: undefined });
          }}
        />
        <FieldNote id="webhook-url" error={errors.url} hint="An https:// address on the internet that answers 2xx within 10 seconds." />
      </div>
      <fieldset className="field" {...described("event_types")}>
        <legend>Events</legend>
        <label className="check">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> All events, including types
          added later
        </label>
        {!all && (
          <div className="event-types">
            {KNOWN_EVENT_TYPES.map((type) => (
              <label key={type} className="check">
                <input type="checkbox" checked={picked.has(type)} onChange={() => toggle(type)} /> <code>{type}</code>
              </label>
            ))}
          </div>
        )}
        <FieldNote id="webhook-event_types" error={errors.event_types} />
      </fieldset>
      <div className="field">
        <label htmlFor="webhook-store">Store</label>
        <select id="webhook-store" value={storeId} {...described("store_id")} onChange={(e) => setStoreId(e.target.value)}>
          <option value="">All my stores</option>
          {stores.map((store) => (
            <option key={store.id} value={store.id}>
              {store.name}
            </option>
          ))}
        </select>
        <FieldNote id="webhook-store_id" error={errors.store_id} />
      </div>
      <div className="field">
        <label htmlFor="webhook-description">Note (optional)</label>
        <input
          id="webhook-description"
          maxLength={200}
          value={description}
          {...described("description")}
          onChange={(e) => setDescription(e.target.value)}
        />
        <FieldNote id="webhook-description" error={errors.description} />
      </div>
      <ErrorNote advice={advice} />
      <div className="actions">
        <button type="submit" className="primary" disabled={!url.trim() || types.length === 0 || busy}>
          {busy ? "Adding…" : "Add endpoint"}
        </button>
      </div>
    </form>
  );
}

function FieldNote({ id, error, hint }: { id: string; error?: string; hint?: string }) {
  if (error) {
    return (
      <p className="field-error" id={`${id}-error`}>
        {error}
      </p>
    );
  }
  return hint ? (
    <p className="hint" id={`${id}-hint`}>
      {hint}
    </p>
  ) : null;
}

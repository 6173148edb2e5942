// Administrators: the audit log, newest first, filtered by store, actor, type and period.
// Filters apply when the form is submitted; "Show older entries" follows the cursor.
// Stores and people are named from the store list where it knows them (ids otherwise).

import { useEffect, useState, type FormEvent } from "react";
import { auditLog, listStores, type AuditFilter } from "../api/client";
import type { AuditEntry } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { When } from "../components/When";
import { explain } from "../messages";
import { Link } from "../router";
import { describe } from "../timeline";
import { PageHeading } from "../components/PageHeading";

const TYPES = ["requested", "provisioning", "progress", "ready", "failed", "delete", "deleting", "deleted", "credentials_viewed"];

/** The filter the gateway understands, from the form's values (local times to RFC 3339). */
export function auditFilter(form: Record<string, string>): AuditFilter {
  const moment = (value: string | undefined) => (value ? new Date(value).toISOString() : undefined);
  return {
    store_id: form.store_id?.trim() || undefined,
    actor: form.actor?.trim() || undefined,
    type: form.type || undefined,
    since: moment(form.since),
    until: moment(form.until),
  };
}

export function AuditLog() {
  const [form, setForm] = useState<Record<string, string>>({});
  const [filter, setFilter] = useState<AuditFilter>({});
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [names, setNames] = useState<Map<string, string>>(new Map());

  useEffect(() => {
    listStores()
      .then(({ items }) => {
        const known = new Map<string, string>();
        for (const store of items) {
          known.set(store.id, store.name);
          if (store.owner.username) known.set(store.owner.id, store.owner.username);
        }
        setNames(known);
      })
      .catch(() => {}); // ids alone still say who and what
  }, []);

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(null);
    auditLog(filter)
      .then((page) => {
        if (!current) return;
        setEntries(page.items);
        setCursor(page.next_cursor);
      })
      .catch((failure: unknown) => current && setError(failure))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [filter]);

  const older = async () => {
    if (!cursor) return;
    try {
      const page = await auditLog({ ...filter, cursor });
      setEntries((list) => [...list, ...page.items]);
      setCursor(page.next_cursor);
    } catch (failure) {
      setError(failure);
    }
  };

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilter(auditFilter(form));
  };
  const set = (name: string) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [name]: e.target.value }));

  return (
    <>
      <PageHeading>Audit log</PageHeading>
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        <div className="field">
          <label htmlFor="audit-store">Store id</label>
          <input id="audit-store" value={form.store_id ?? ""} onChange={set("store_id")} placeholder="any store" />
        </div>
        <div className="field">
          <label htmlFor="audit-actor">Actor (user id or service)</label>
          <input id="audit-actor" value={form.actor ?? ""} onChange={set("actor")} placeholder="anyone" />
        </div>
        <div className="field">
          <label htmlFor="audit-type">Type</label>
          <select id="audit-type" value={form.type ?? ""} onChange={set("type")}>
            <option value="">any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-since">From</label>
          <input id="audit-since" type="datetime-local" value={form.since ?? ""} onChange={set("since")} />
        </div>
        <div className="field">
          <label htmlFor="audit-until">Until</label>
          <input id="audit-until" type="datetime-local" value={form.until ?? ""} onChange={set("until")} />
        </div>
        <button type="submit" className="primary">
          Apply filters
        </button>
      </form>
      <ErrorNote advice={error ? explain(error) : null} />
      {loading ? (
        <p className="muted">Loading the audit log…</p>
      ) : entries.length === 0 ? (
        <p className="empty">No entries match these filters.</p>
      ) : (
        <table className="responsive audit">
          <caption className="visually-hidden">Audit log entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Store</th>
              <th scope="col">Actor</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => {
              const { title, detail } = describe(entry);
              return (
                <tr key={entry.id}>
                  <td data-label="When">
                    <When iso={entry.occurred_at} precise />
                  </td>
                  <td data-label="What">
                    <strong>{title}</strong>
                    {detail && <span className="step-detail">{detail}</span>}
                  </td>
                  <td data-label="Store">
                    <Link to={`/stores/${entry.store_id}`}>
                      {names.get(entry.store_id) ?? <code>{entry.store_id.slice(0, 8)}</code>}
                    </Link>
                  </td>
                  <td data-label="Actor" title={entry.actor}>
                    {names.get(entry.actor) ?? <code>{entry.actor}</code>}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => void older()}>
          Show older entries
        </button>
      )}
    </>
  );
}

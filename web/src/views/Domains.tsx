// A store's custom domains on its page: the list (oldest first) with a state badge; for a
// domain not yet verified, the DNS records to create, each copyable, with what to do in
// plain words; why a domain failed; for an active one, until when its certificate is
// valid (or that it is served over HTTP); an add form that shows the gateway's refusal next
// to the field; and remove, confirmed. The feed's domain.* events move the badges live.
// The store's address heads the section: an active domain can be made the store's primary
// ("Make primary": its shop takes that address as its own), and "Use <its host>" goes
// back; the change shows as under way until the feed's url.changed (the address moves, as
// the store page shows it) or url.failed (why not).
//
// No polling: the reaper's verifier and issuer publish domain.verified / issuing / active /
// failed / removed on the store's stream, which the page's feed already carries, and the list is read again
// whenever the feed comes back after a loss (`resumes`), so nothing is missed meanwhile.

import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  addDomain,
  ApiError,
  choosePrimaryDomain,
  listDomains,
  removeDomain,
  resetPrimaryDomain,
} from "../api/client";
import type { DnsRecord, Domain, Store } from "../api/types";
import { Copyable } from "../components/Copyable";
import { ErrorNote } from "../components/ErrorNote";
import { When } from "../components/When";
import {
  applyToDomains,
  applyToPrimary,
  askedPrimary,
  awaitsRecords,
  certificateText,
  endedText,
  mayBePrimary,
  mergeDomains,
  needsReload,
  NO_PRIMARY,
  nextStep,
  pendingText,
  type Primary,
  recordInstruction,
  refusalText,
  stateText,
  withDomain,
  zoneLine,
} from "../live/domains";
import { useLink, useLiveEvents } from "../live/live";
import { explain, type Advice } from "../messages";

export function Domains({ store }: { store: Store }) {
  const [domains, setDomains] = useState<Domain[]>([]);
  const [maxDomains, setMaxDomains] = useState<number | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [reloads, setReloads] = useState(0);
  const [primary, setPrimary] = useState<Primary>(NO_PRIMARY);
  const [host, setHost] = useState<string | null>(null);
  const [choosing, setChoosing] = useState(false);
  const known = useRef<Domain[]>([]);
  const { resumes } = useLink();

  const commit = (next: Domain[]) => {
    known.current = next;
    setDomains(next);
  };

  useEffect(() => {
    let current = true;
    listDomains(store.id)
      .then((list) => {
        if (!current) return;
        commit(mergeDomains(known.current, list.items));
        setMaxDomains(list.max_domains);
        setPrimary((p) => ({ ...p, id: list.primary_domain_id ?? null }));
        setHost(list.host ?? null);
      })
      .catch((error: unknown) => current && setAdvice(explain(error)))
      .finally(() => current && setLoaded(true));
    return () => {
      current = false;
    };
  }, [store.id, resumes, reloads]);

  useLiveEvents((event) => {
    if (event.store_id !== store.id) return;
    if (needsReload(known.current, event)) setReloads((n) => n + 1);
    else commit(applyToDomains(known.current, event));
    setPrimary((p) => applyToPrimary(p, event));
  });

  // One change of address at a time, of a ready store only (the gateway says the same).
  const movable = store.status === "ready" && primary.pending === null && !choosing;
  const choose = async (domainId: string | null) => {
    setChoosing(true);
    setAdvice(null);
    try {
      const change = domainId === null ? await resetPrimaryDomain(store.id) : await choosePrimaryDomain(store.id, domainId);
      setPrimary(askedPrimary(change));
    } catch (error) {
      setAdvice(explain(error));
    } finally {
      setChoosing(false);
    }
  };

  const open = store.status !== "deleted" && store.status !== "deleting";
  return (
    <section className="card" aria-labelledby="domains-heading">
      <h2 id="domains-heading">Domains</h2>
      <p className="muted">
        Your store can also answer at a domain you hold. Add it here, then create the DNS records shown at your DNS
        provider.
      </p>
      {loaded && (
        <Address
          store={store}
          primary={primary}
          host={host}
          movable={movable}
          onReset={() => void choose(null)}
        />
      )}
      <ErrorNote advice={advice} />
      {!loaded ? (
        <p className="muted">Loading the domains…</p>
      ) : domains.length === 0 ? (
        <p className="muted">No custom domains yet.</p>
      ) : (
        <ul className="domains" data-testid="domains" aria-live="polite">
          {domains.map((domain) => (
            <DomainItem
              key={domain.id}
              domain={domain}
              store={store}
              primary={domain.id === primary.id}
              onChoose={movable && mayBePrimary(domain, primary) ? () => void choose(domain.id) : null}
              onRemoved={() => commit(known.current.filter((d) => d.id !== domain.id))}
            />
          ))}
        </ul>
      )}
      {open && (
        <AddDomain
          store={store}
          count={domains.length}
          maxDomains={maxDomains}
          onAdded={(domain) => commit(withDomain(known.current, domain))}
        />
      )}
    </section>
  );
}

/** Where the store answers, which domain is its primary, the change under way and why the
 * last one did not happen; "Use <host>" to go back to the store's own host. */
function Address({
  store,
  primary,
  host,
  movable,
  onReset,
}: {
  store: Store;
  primary: Primary;
  host: string | null;
  movable: boolean;
  onReset: () => void;
}) {
  return (
    <div className="stack" data-testid="store-address">
      {store.status === "ready" && store.url ? (
        <p>
          The store answers at <strong data-testid="store-url">{store.url}</strong>
          {host && !store.url.includes(`//${host}`) && <span className="muted"> (and still at {host})</span>}.
        </p>
      ) : (
        <p className="muted">The store has no address yet.</p>
      )}
      {primary.pending && (
        <p role="status" data-testid="primary-pending">
          {pendingText(primary.pending, host)}
        </p>
      )}
      {primary.failure && (
        <p className="warning" data-testid="primary-failure">
          {primary.failure}
        </p>
      )}
      {primary.ended && primary.id === null && <p className="notice">{endedText(primary.ended, host)}</p>}
      {primary.id !== null && host && (
        <p className="actions">
          <button type="button" onClick={onReset} disabled={!movable}>
            Use {host}
          </button>
        </p>
      )}
    </div>
  );
}

function DomainItem({
  domain,
  store,
  primary,
  onChoose,
  onRemoved,
}: {
  domain: Domain;
  store: Store;
  primary: boolean;
  onChoose: (() => void) | null;
  onRemoved: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const pending = awaitsRecords(domain);
  const certificate = certificateText(domain);
  return (
    <li className="domain" data-domain={domain.domain} data-state={domain.state}>
      <p className="domain-head">
        <strong className="domain-name">{domain.domain}</strong>{" "}
        <span className={`badge badge-domain-${domain.state}`} data-testid="domain-state" data-state={domain.state}>
          {stateText(domain.state)}
        </span>{" "}
        {primary && (
          <>
            <span className="badge badge-primary" data-testid="domain-primary">
              primary
            </span>{" "}
          </>
        )}
        <span className="muted">
          added <When iso={domain.requested_at} />
          {domain.checked_at && (
            <>
              {" "}
              · last checked <When iso={domain.checked_at} precise />
            </>
          )}
        </span>
      </p>
      <p className={domain.state === "failed" ? "warning" : undefined} data-testid="domain-next">
        {nextStep(domain)}
      </p>
      {certificate && <p data-testid="domain-certificate">{certificate}</p>}
      {pending ? (
        <Records records={domain.records} />
      ) : (
        <details>
          <summary>DNS records</summary>
          <Records records={domain.records} />
        </details>
      )}
      {store.status !== "deleted" &&
        (confirming ? (
          <RemoveDomain
            store={store}
            domain={domain}
            primary={primary}
            onDone={(removed) => (removed ? onRemoved() : setConfirming(false))}
          />
        ) : (
          <p className="actions">
            {onChoose && (
              <button type="button" onClick={onChoose} aria-label={`Make ${domain.domain} the store's primary domain`}>
                Make primary
              </button>
            )}
            <button type="button" onClick={() => setConfirming(true)}>
              Remove…
            </button>
          </p>
        ))}
    </li>
  );
}

function Records({ records }: { records: DnsRecord[] }) {
  return (
    <table className="records" data-testid="domain-records">
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">Name</th>
          <th scope="col">Value</th>
          <th scope="col">What to do</th>
        </tr>
      </thead>
      <tbody>
        {records.map((record) => (
          <tr key={`${record.type} ${record.name}`} data-type={record.type}>
            <td>
              <code>{record.type}</code>
            </td>
            <td>
              <Copyable label={`${record.type} record name`} value={record.name} />
            </td>
            <td>
              <Copyable label={`${record.type} record value`} value={record.value} />
            </td>
            <td>
              {recordInstruction(record)} <span className="muted">({record.purpose})</span>
              <details>
                <summary>As a zone file line</summary>
                <Copyable label={`${record.type} record as a zone file line`} value={zoneLine(record)} />
              </details>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function AddDomain({
  store,
  count,
  maxDomains,
  onAdded,
}: {
  store: Store;
  count: number;
  maxDomains: number | null;
  onAdded: (domain: Domain) => void;
}) {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const input = useRef<HTMLInputElement>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setFieldError(null);
    setAdvice(null);
    try {
      onAdded(await addDomain(store.id, name.trim()));
      setName("");
    } catch (error) {
      if (error instanceof ApiError && (error.status === 422 || error.status === 409)) {
        setFieldError(refusalText(error.status, error.code, error.message, maxDomains));
        input.current?.focus();
      } else {
        setAdvice(explain(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const hint =
    maxDomains === null
      ? "A domain you hold, such as shop.example.org."
      : `A domain you hold, such as shop.example.org. This store's plan allows ${maxDomains}; it has ${count}.`;
  return (
    <form onSubmit={submit} className="stack" aria-label="Add a domain">
      <div className="field">
        <label htmlFor="domain-name">Domain</label>
        <input
          id="domain-name"
          ref={input}
          autoComplete="off"
          spellCheck={false}
          maxLength={1000}
          value={name}
          aria-invalid={fieldError ? true : undefined}
          aria-describedby={fieldError ? "domain-name-error" : "domain-name-hint"}
          onChange={(e) => {
            setName(e.target.value);
            setFieldError(null);
          }}
        />
        {fieldError ? (
          <p className="field-error" id="domain-name-error">
            {fieldError}
          </p>
        ) : (
          <p className="hint" id="domain-name-hint">
            {hint}
          </p>
        )}
      </div>
      <ErrorNote advice={advice} />
      <div className="actions">
        <button type="submit" className="primary" disabled={!name.trim() || busy}>
          {busy ? "Adding…" : "Add domain"}
        </button>
      </div>
    </form>
  );
}

function RemoveDomain({
  store,
  domain,
  primary,
  onDone,
}: {
  store: Store;
  domain: Domain;
  primary: boolean;
  onDone: (removed: boolean) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [advice, setAdvice] = useState<Advice | null>(null);

  const remove = async () => {
    setBusy(true);
    setAdvice(null);
    try {
      await removeDomain(store.id, domain.domain);
      onDone(true);
    } catch (error) {
      setAdvice(explain(error));
      setBusy(false);
    }
  };

  return (
    <div className="stack" role="group" aria-label={`Remove ${domain.domain}`}>
      <p>
        Remove <strong>{domain.domain}</strong> from this store? The store stops answering at it. To use it again you
        add it anew, with a new token to put in DNS.
        {primary && " It is the store's primary domain: the store goes back to its own host as its address."}
      </p>
      <ErrorNote advice={advice} />
      <div className="actions">
        <button type="button" className="danger" onClick={() => void remove()} disabled={busy}>
          {busy ? "Removing…" : "Remove"}
        </button>
        <button type="button" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

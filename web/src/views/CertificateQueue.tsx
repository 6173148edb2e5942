// Administrators: the certificate queue (GET /admin/domains/queue). Verified custom domains
// wait here, oldest first, until the certificate authority's limits leave room for their
// certificate; below them, the domains whose certificate is being issued. The reaper's
// issuer moves them (services/reaper/domain_issuer.py).
//
// The list is read again when a domain.* event comes on the feed (a few at once make one
// read), when the feed comes back after a loss, and on Refresh.

import { useEffect, useRef, useState } from "react";
import { domainQueue } from "../api/client";
import type { DomainQueue, QueuedDomain } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { PageHeading } from "../components/PageHeading";
import { When } from "../components/When";
import { movesQueue, queueSummary, stateText } from "../live/domains";
import { useLink, useLiveEvents } from "../live/live";
import { explain, type Advice } from "../messages";
import { Link } from "../router";

// Events of one pass of the issuer arrive together: they are read as one.
const SETTLE_MS = 1000;

export function CertificateQueue() {
  const [queue, setQueue] = useState<DomainQueue | null>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [reads, setReads] = useState(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { resumes } = useLink();

  useEffect(() => {
    let current = true;
    domainQueue()
      .then((answer) => {
        if (!current) return;
        setQueue(answer);
        setAdvice(null);
      })
      .catch((error: unknown) => current && setAdvice(explain(error)));
    return () => {
      current = false;
    };
  }, [reads, resumes]);

  useEffect(() => () => clearTimeout(timer.current ?? undefined), []);

  useLiveEvents((event) => {
    if (!movesQueue(event) || timer.current !== null) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      setReads((n) => n + 1);
    }, SETTLE_MS);
  });

  return (
    <>
      <PageHeading>Certificate queue</PageHeading>
      <p className="muted">
        Verified custom domains wait here, oldest first, until the certificate authority's limits leave room to ask for
        their certificate; then they are issued.
      </p>
      <ErrorNote advice={advice} />
      {queue === null ? (
        !advice && <p className="muted">Loading the queue…</p>
      ) : (
        <>
          <p role="status" data-testid="queue-summary">
            {queueSummary(queue)}
          </p>
          {queue.items.length > 0 && <QueueTable items={queue.items} />}
        </>
      )}
      <p className="actions">
        <button type="button" onClick={() => setReads((n) => n + 1)}>
          Refresh
        </button>
      </p>
    </>
  );
}

function QueueTable({ items }: { items: QueuedDomain[] }) {
  return (
    <table className="responsive" data-testid="certificate-queue">
      <caption className="visually-hidden">Domains waiting for a certificate, then those being issued</caption>
      <thead>
        <tr>
          <th scope="col">Position</th>
          <th scope="col">Store</th>
          <th scope="col">Domain</th>
          <th scope="col">State</th>
          <th scope="col">Waiting since</th>
        </tr>
      </thead>
      <tbody>
        {items.map((item) => (
          <tr key={item.id} data-domain={item.domain} data-state={item.state}>
            <td data-label="Position">{item.position ?? "—"}</td>
            <td data-label="Store">
              <Link to={`/stores/${item.store_id}`}>{item.store_name ?? item.store_id}</Link>
            </td>
            <th scope="row" data-label="Domain">
              {item.domain}
            </th>
            <td data-label="State">
              <span className={`badge badge-domain-${item.state}`}>{stateText(item.state)}</span>
            </td>
            <td data-label="Waiting since">
              {item.state === "issuing" ? (
                <>
                  <span className="muted">issuing since</span> <When iso={item.issuing_at} />
                </>
              ) : (
                <When iso={item.verified_at} />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

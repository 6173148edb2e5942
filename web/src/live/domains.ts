// A store's custom domains as its page shows them: how the feed's domain.* events move a
// domain's state (the reaper's verifier and issuer decide them, services/reaper/domains.py
// and domain_issuer.py), the states, reasons, certificates and refusals in words, the DNS
// records in a form a person can copy into their DNS provider, and which domain is the
// store's primary (its address) with the change of address under way (domain.primary,
// then url.changed or url.failed). Pure, no I/O.

import type {
  DnsRecord,
  Domain,
  DomainQueue,
  DomainReason,
  DomainState,
  Envelope,
  PrimaryChange,
} from "../api/types";

// A state only moves up, so a late or repeated event never moves a badge back.
const RANK: Record<DomainState, number> = {
  pending_dns: 0,
  verified: 1,
  issuing: 2,
  active: 3,
  failed: 4,
  removed: 5,
};

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);

/** The domain's id an event names, for domain.* events only. */
function domainIdOf(event: Envelope): string | null {
  return event.type.startsWith("domain.") ? text(event.data.domain_id) : null;
}

/** One domain after `event` (which must name it). */
export function applyDomainEvent(domain: Domain, event: Envelope): Domain {
  const reason = text(event.data.reason) as DomainReason | null;
  const moved = (state: DomainState, extra: Partial<Domain> = {}): Domain =>
    RANK[state] > RANK[domain.state] ? { ...domain, state, ...extra } : domain;
  if (event.type === "domain.verified") return moved("verified", { verified_at: event.occurred_at, reason: null });
  if (event.type === "domain.issuing") return moved("issuing", { issuing_at: event.occurred_at, reason: null });
  // No not_after: served over HTTP, the platform having no certificate issuer.
  if (event.type === "domain.active") return moved("active", { not_after: text(event.data.not_after), reason: null });
  if (event.type === "domain.failed") return moved("failed", { reason });
  if (event.type === "domain.removed") return moved("removed", { reason });
  return domain;
}

/** The list after one event of the feed; the same array when it changes nothing. The
 * owner's own removal takes the domain off the list, as the gateway's list does. */
export function applyToDomains(list: Domain[], event: Envelope): Domain[] {
  const id = domainIdOf(event);
  const index = id === null ? -1 : list.findIndex((d) => d.id === id);
  if (index < 0) return list;
  if (event.type === "domain.removed" && event.data.reason === "owner") return list.filter((d) => d.id !== id);
  const updated = applyDomainEvent(list[index] as Domain, event);
  if (updated === list[index]) return list;
  const copy = list.slice();
  copy[index] = updated;
  return copy;
}

/** A domain.* event about a domain this page has not seen (added from another tab, say):
 * its DNS records come only from the gateway, so the list is read again. */
export function needsReload(list: Domain[], event: Envelope): boolean {
  const id = domainIdOf(event);
  return id !== null && event.type !== "domain.removed" && !list.some((d) => d.id === id);
}

/** A freshly read list merged with what the feed already showed: the further along wins;
 * the gateway's list says which domains there are. */
export function mergeDomains(seen: Domain[], page: Domain[]): Domain[] {
  const byId = new Map(seen.map((d) => [d.id, d]));
  return page.map((d) => {
    const before = byId.get(d.id);
    return before && RANK[before.state] > RANK[d.state] ? before : d;
  });
}

/** `list` with `domain` (the answer of an add) in it, once, oldest first. */
export function withDomain(list: Domain[], domain: Domain): Domain[] {
  if (list.some((d) => d.id === domain.id)) {
    return list.map((d) => (d.id === domain.id && RANK[domain.state] > RANK[d.state] ? domain : d));
  }
  return [...list, domain].sort(
    (a, b) => a.requested_at.localeCompare(b.requested_at) || a.id.localeCompare(b.id),
  );
}

/** The badge's words. */
export function stateText(state: DomainState): string {
  const words: Record<DomainState, string> = {
    pending_dns: "waiting for DNS",
    verified: "verified",
    issuing: "getting a certificate",
    active: "active",
    failed: "failed",
    removed: "removed",
  };
  return words[state];
}

/** Why a domain failed or was removed, in words. */
export function reasonText(reason: DomainReason | null): string {
  if (reason === "dns_missing") return "the TXT record with the token was not found at your DNS provider";
  if (reason === "expired") return "the TXT record with the token was not found in time";
  if (reason === "challenge_failed") return "the certificate authority could not confirm the domain";
  if (reason === "rate_limited") return "the certificate authority is turning down requests for a while";
  if (reason === "owner") return "you removed it";
  if (reason === "store_deleted") return "the store was deleted";
  return "no reason was given";
}

/** What the owner should know or do next, for a domain in `state`. */
export function nextStep(domain: Pick<Domain, "state" | "reason">): string {
  switch (domain.state) {
    case "pending_dns":
      return "Create these records at your DNS provider. We check every few minutes; this page updates by itself once the TXT record is found.";
    case "verified":
      return "The domain is proven to be yours and waits for its certificate, asked for as soon as the certificate authority's limits allow. Keep the TXT record while the domain is in use.";
    case "issuing":
      return "A certificate is being issued for the domain; nothing to do. It usually takes a few minutes.";
    case "active":
      return "The store answers at this domain. Keep the TXT record while the domain is in use.";
    case "failed":
      return `Failed: ${reasonText(domain.reason)}. ${retryAdvice(domain.reason)}`;
    case "removed":
      return domain.reason === "dns_missing"
        ? "Unlinked: the TXT record with the token disappeared. Add it again to prove the domain anew."
        : `Removed: ${reasonText(domain.reason)}.`;
  }
}

function retryAdvice(reason: DomainReason | null): string {
  if (reason === "challenge_failed") {
    return "Check that the CNAME (or A) record points at the platform, then add the domain again.";
  }
  if (reason === "rate_limited") return "Add the domain again in an hour or two.";
  return "Add it again to get a new token and try once more.";
}

const DAY = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

function dayOf(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : DAY.format(date);
}

/** How an active domain is served: until when its certificate is valid, or over plain
 * HTTP when the platform issues none (no `not_after`); null for any other state. */
export function certificateText(domain: Pick<Domain, "state" | "not_after">, day = dayOf): string | null {
  if (domain.state !== "active") return null;
  return domain.not_after ? `Certificate valid until ${day(domain.not_after)}.` : "Served over HTTP, without a certificate.";
}

/** What to do with one record, in plain words. */
export function recordInstruction(record: DnsRecord): string {
  if (record.type === "TXT") return "Create this TXT record at your DNS provider; we check every few minutes.";
  if (record.type === "CNAME") return "Create this CNAME record so the domain's visitors reach your store.";
  return `For a domain's apex, which cannot have a CNAME, create this ${record.type} record instead.`;
}

/** The record as one line of a zone file, for providers that import them. A TXT value is
 * quoted with its quotes and backslashes escaped; a host name target ends with a dot. */
export function zoneLine(record: DnsRecord, ttl = 3600): string {
  const value =
    record.type === "TXT"
      ? `"${record.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
      : record.type === "CNAME"
        ? `${record.value}.`
        : record.value;
  return `${record.name}. ${ttl} IN ${record.type} ${value}`;
}

/** The records to show first: a domain not yet verified needs all of them. */
export function awaitsRecords(domain: Pick<Domain, "state">): boolean {
  return domain.state === "pending_dns";
}

/** Why adding a domain was refused, in words: a 409's code explained, a 422's message
 * with its code (the gateway's `shared.domains` codes). */
export function refusalText(status: number, code: string, message: string, maxDomains: number | null): string {
  if (code === "domain_taken") {
    return "Another store already holds this domain. If it is yours, remove it from that store first.";
  }
  if (code === "domain_exists") return "This store already has this domain; see it in the list.";
  if (code === "domain_limit") {
    const allowed = maxDomains === null ? "no more" : `${maxDomains}`;
    return `This store's plan allows ${allowed} custom domains. Remove one, or move the store to a larger plan.`;
  }
  if (code === "store_deleting") return "The store is being deleted; it takes no new domains.";
  const said = message.trim().replace(/\.+$/, "") || "not a domain a store can have";
  const first = said[0]?.toUpperCase() + said.slice(1);
  return status === 422 ? `${first} (${code}).` : `${first}.`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The certificate queue in one line, saying when the list shows only its first rows. */
export function queueSummary(queue: DomainQueue): string {
  const waiting = `${plural(queue.queued, "domain waits", "domains wait")} for a certificate`;
  const issuing = `${plural(queue.issuing, "is", "are")} being issued`;
  const total = queue.queued + queue.issuing;
  const shown = queue.items.length < total ? ` Showing the first ${queue.items.length} of ${total}.` : "";
  return `${waiting}; ${issuing}.${shown}`;
}

/** A domain.* event that can change the certificate queue. */
export function movesQueue(event: Envelope): boolean {
  return event.type.startsWith("domain.") && event.type !== "domain.added";
}

/** What the Domains section knows of the store's primary domain: which domain it is (the
 * gateway's list, then the feed), the change under way until its url.changed or
 * url.failed, why the last one did not happen, and the primary domain that stopped being
 * served (the reaper then sends the store back to its own host). */
export interface Primary {
  id: string | null;
  pending: { operation_id: string; domain: string | null } | null;
  failure: string | null;
  ended: string | null;
}

export const NO_PRIMARY: Primary = { id: null, pending: null, failure: null, ended: null };

/** The primary after the gateway accepted a change (its 202). */
export function askedPrimary(change: PrimaryChange): Primary {
  return { id: change.domain_id, pending: { operation_id: change.operation_id, domain: change.domain }, failure: null, ended: null };
}

/** The primary after one event of the feed; the same object when it changes nothing. */
export function applyToPrimary(primary: Primary, event: Envelope): Primary {
  const operation = text(event.data.operation_id);
  if (event.type === "domain.primary") {
    const ended = event.data.reason === "domain_ended" ? text(event.data.ended_domain) : null;
    const pending = operation ? { operation_id: operation, domain: text(event.data.domain) } : null;
    return { id: text(event.data.domain_id), pending, failure: null, ended };
  }
  if (event.type === "domain.failed" || event.type === "domain.removed") {
    return primary.id !== null && text(event.data.domain_id) === primary.id ? { ...primary, id: null } : primary;
  }
  if ((event.type === "url.changed" || event.type === "url.failed") && primary.pending?.operation_id === operation) {
    const failure = event.type === "url.failed" ? urlFailureText(text(event.data.code), text(event.data.reason)) : null;
    return { ...primary, pending: null, failure };
  }
  return primary;
}

/** Whether `domain` may be made the store's primary: an active domain that is not already. */
export function mayBePrimary(domain: Pick<Domain, "id" | "state">, primary: Primary): boolean {
  return domain.state === "active" && domain.id !== primary.id;
}

/** The change under way, in words. */
export function pendingText(pending: NonNullable<Primary["pending"]>, host: string | null): string {
  const where = pending.domain ?? host ?? "its own host";
  return `Moving the store's address to ${where}: its shop is set up again for it, which takes a minute or two.`;
}

/** Why a change of address did not happen (`url.failed`), in words. */
export function urlFailureText(code: string | null, reason: string | null): string {
  if (code === "store_not_ready") {
    return "The address was not changed: the store was not ready. It takes the new address when it next starts.";
  }
  if (code === "replaced") return "A later change of the address replaced this one.";
  const said = (reason ?? "").trim().replace(/\.+$/, "");
  return `The address was not changed: ${said || "the change failed"}${code ? ` (${code})` : ""}. Try again.`;
}

/** Why the store went back to its own host. */
export function endedText(domain: string, host: string | null): string {
  return `${domain} stopped being served, so the store went back to ${host ?? "its own host"}.`;
}

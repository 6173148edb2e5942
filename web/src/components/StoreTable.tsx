// Stores as a table on a wide screen and as stacked cards on a phone (styles.css): name
// (to the detail page), live status, engine, plan, URL, created time and, for
// administrators, the owner.

import type { Store } from "../api/types";
import { Link } from "../router";
import { StatusBadge } from "./StatusBadge";
import { When } from "./When";

export function StoreUrl({ url }: { url: string | null }) {
  if (!url) return <span className="muted">not yet</span>;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer">
      {url.replace(/^https?:\/\//, "")}
    </a>
  );
}

export function StoreTable({ stores, caption, showOwner = false }: { stores: Store[]; caption: string; showOwner?: boolean }) {
  return (
    <table className="stores responsive">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Status</th>
          <th scope="col">Engine</th>
          <th scope="col">Plan</th>
          <th scope="col">URL</th>
          <th scope="col">Created</th>
          {showOwner && <th scope="col">Owner</th>}
        </tr>
      </thead>
      <tbody>
        {stores.map((store) => (
          <tr key={store.id} data-store-id={store.id} data-store-name={store.name}>
            <th scope="row" data-label="Name">
              <Link to={`/stores/${store.id}`}>{store.name}</Link>
            </th>
            <td data-label="Status">
              <StatusBadge status={store.status} />
            </td>
            <td data-label="Engine">{store.engine}</td>
            <td data-label="Plan">{store.plan}</td>
            <td data-label="URL">
              <StoreUrl url={store.status === "ready" ? store.url : null} />
            </td>
            <td data-label="Created">
              <When iso={store.created_at} />
            </td>
            {showOwner && <td data-label="Owner">{store.owner.username || store.owner.id}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// Administrators: users with their quotas and how much of them they use. Needs the
// gateway's GET /api/v1/users (see web/README.md); until it has one, says so and how
// operators list users meanwhile.

import { useEffect, useState } from "react";
import { ApiError, listUsers } from "../api/client";
import type { UserRow } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { When } from "../components/When";
import { explain } from "../messages";
import { PageHeading } from "../components/PageHeading";

type State = { kind: "loading" } | { kind: "missing" } | { kind: "failed"; error: unknown } | { kind: "ok"; users: UserRow[] };

export function AdminUsers({ defaultQuota }: { defaultQuota?: number }) {
  const [state, setState] = useState<State>({ kind: "loading" });

  useEffect(() => {
    listUsers()
      .then(({ items }) => setState({ kind: "ok", users: items }))
      .catch((error: unknown) => {
        const missing = error instanceof ApiError && (error.status === 404 || error.status === 405);
        setState(missing ? { kind: "missing" } : { kind: "failed", error });
      });
  }, []);

  return (
    <>
      <PageHeading>Users</PageHeading>
      {state.kind === "loading" && <p className="muted">Loading users…</p>}
      {state.kind === "missing" && (
        <div className="notice" role="status">
          <p>
            <strong>Not available:</strong> this gateway has no users API yet (<code>GET /api/v1/users</code>), so the
            dashboard cannot list users and their quotas.
          </p>
          <p>
            Meanwhile operators list them with <code>python -m services.gateway users list</code> and add one with{" "}
            <code>users add NAME --max-stores N</code>.
          </p>
        </div>
      )}
      {state.kind === "failed" && <ErrorNote advice={explain(state.error)} />}
      {state.kind === "ok" && (
        <table className="responsive">
          <caption className="visually-hidden">Users and their quotas</caption>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Role</th>
              <th scope="col">Stores</th>
              <th scope="col">Quota</th>
              <th scope="col">Created</th>
              <th scope="col">Account</th>
            </tr>
          </thead>
          <tbody>
            {state.users.map((u) => (
              <tr key={u.id ?? u.username}>
                <th scope="row" data-label="Username">
                  {u.username}
                </th>
                <td data-label="Role">{u.role}</td>
                <td data-label="Stores">{u.stores}</td>
                <td data-label="Quota">
                  {u.max_stores ?? (defaultQuota !== undefined ? `${defaultQuota} (default)` : "default")}
                </td>
                <td data-label="Created">
                  <When iso={u.created_at} />
                </td>
                <td data-label="Account">{u.disabled ? "disabled" : "active"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

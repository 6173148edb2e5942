// The dashboard's shell: who is signed in (GET /me; the login page otherwise), the live
// feed for the signed-in person, the header and navigation, and the page for the path.
// Focus moves to each new page's heading so keyboard and screen-reader users know where
// they are.

import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, FALLBACK_CATALOG, loadCatalog, logout, me as fetchMe, whenSignedOut } from "./api/client";
import type { Catalog, Me } from "./api/types";
import { ConnectionBanner } from "./components/ConnectionBanner";
import { ErrorNote } from "./components/ErrorNote";
import { LiveProvider } from "./live/live";
import { LiveStream } from "./live/stream";
import { explain } from "./messages";
import { Link, navigate, routeOf, usePath, type Route } from "./router";
import { AdminStores } from "./views/AdminStores";
import { AdminUsers } from "./views/AdminUsers";
import { AuditLog } from "./views/AuditLog";
import { CertificateQueue } from "./views/CertificateQueue";
import { Login } from "./views/Login";
import { MyStores } from "./views/MyStores";
import { RolloutPage } from "./views/RolloutPage";
import { Rollouts } from "./views/Rollouts";
import { StoreDetail } from "./views/StoreDetail";
import { WebhookPage } from "./views/WebhookPage";
import { Webhooks } from "./views/Webhooks";
import { PageHeading } from "./components/PageHeading";

type Session = { kind: "checking" } | { kind: "out"; notice?: string } | { kind: "in"; me: Me } | { kind: "unreachable"; error: unknown };

async function sessionAlive(): Promise<boolean> {
  try {
    await fetchMe();
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

export function App() {
  const [session, setSession] = useState<Session>({ kind: "checking" });

  const check = useCallback(() => {
    fetchMe()
      .then((me) => setSession({ kind: "in", me }))
      .catch((error: unknown) =>
        setSession(error instanceof ApiError && error.status === 401 ? { kind: "out" } : { kind: "unreachable", error }),
      );
  }, []);

  useEffect(() => {
    whenSignedOut(() =>
      setSession((s) => (s.kind === "in" ? { kind: "out", notice: "Your session has ended. Sign in again." } : s)),
    );
    check();
  }, [check]);

  if (session.kind === "checking") return <p className="muted centered">Loading storefleet…</p>;
  if (session.kind === "unreachable") {
    return (
      <main id="main" className="login">
        <h1>storefleet</h1>
        <ErrorNote advice={explain(session.error)} />
        <button type="button" onClick={check}>
          Try again
        </button>
      </main>
    );
  }
  if (session.kind === "out") {
    return <Login notice={session.notice} onSignedIn={(me) => setSession({ kind: "in", me })} />;
  }
  return <SignedIn me={session.me} onSignedOut={() => setSession({ kind: "out", notice: "You are signed out." })} />;
}

function SignedIn({ me, onSignedOut }: { me: Me; onSignedOut: () => void }) {
  const stream = useMemo(() => new LiveStream(sessionAlive), []);
  const [catalog, setCatalog] = useState<Catalog>(FALLBACK_CATALOG);
  const path = usePath();
  const route = routeOf(path);

  useEffect(() => {
    stream.start();
    return () => stream.stop();
  }, [stream]);

  useEffect(() => {
    loadCatalog().then(setCatalog, () => {}); // the fallback stands
  }, []);

  const signOut = async () => {
    try {
      await logout();
    } finally {
      stream.stop();
      navigate("/", true);
      onSignedOut();
    }
  };

  const admin = me.user.role === "admin";
  return (
    <LiveProvider stream={stream}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          storefleet
        </Link>
        <nav aria-label="Main">
          <ul>
            <NavItem to="/" label="My stores" current={route.page === "stores"} />
            <NavItem to="/webhooks" label="Webhooks" current={route.page === "webhooks" || route.page === "webhook"} />
            {admin && <NavItem to="/admin/stores" label="All stores" current={route.page === "admin-stores"} />}
            {admin && <NavItem to="/admin/users" label="Users" current={route.page === "admin-users"} />}
            {admin && <NavItem to="/admin/audit" label="Audit log" current={route.page === "admin-audit"} />}
            {admin && (
              <NavItem
                to="/admin/rollouts"
                label="Rollouts"
                current={route.page === "admin-rollouts" || route.page === "admin-rollout"}
              />
            )}
            {admin && (
              <NavItem to="/admin/certificates" label="Certificate queue" current={route.page === "admin-certificates"} />
            )}
          </ul>
        </nav>
        <div className="who">
          <span>
            {me.user.username}
            {admin && <span className="role"> (admin)</span>}
          </span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>
        <Page route={route} me={me} catalog={catalog} />
      </main>
    </LiveProvider>
  );
}

function NavItem({ to, label, current }: { to: string; label: string; current: boolean }) {
  return (
    <li>
      <Link to={to} aria-current={current ? "page" : undefined}>
        {label}
      </Link>
    </li>
  );
}

function Page({ route, me, catalog }: { route: Route; me: Me; catalog: Catalog }) {
  const admin = me.user.role === "admin";
  switch (route.page) {
    case "stores":
      return <MyStores me={me} catalog={catalog} />;
    case "store":
      return <StoreDetail key={route.id} id={route.id} me={me} catalog={catalog} />;
    case "webhooks":
      return <Webhooks me={me} />;
    case "webhook":
      return <WebhookPage key={route.id} id={route.id} me={me} />;
    case "admin-stores":
      return admin ? <AdminStores /> : <Forbidden />;
    case "admin-users":
      return admin ? <AdminUsers /> : <Forbidden />;
    case "admin-audit":
      return admin ? <AuditLog /> : <Forbidden />;
    case "admin-rollouts":
      return admin ? <Rollouts catalog={catalog} /> : <Forbidden />;
    case "admin-rollout":
      return admin ? <RolloutPage key={route.id} id={route.id} /> : <Forbidden />;
    case "admin-certificates":
      return admin ? <CertificateQueue /> : <Forbidden />;
    default:
      return (
        <>
          <PageHeading>Page not found</PageHeading>
          <p>
            There is no page at this address. <Link to="/">Go to my stores</Link>.
          </p>
        </>
      );
  }
}

function Forbidden() {
  return (
    <>
      <PageHeading>Administrators only</PageHeading>
      <p>
        This page is for administrators. <Link to="/">Go to my stores</Link>.
      </p>
    </>
  );
}

// The dashboard's few pages as paths (the gateway answers index.html for any of them),
// with the History API; links stay real <a href> so the keyboard, middle-click and
// "open in new tab" behave as people expect.

import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

export type Route =
  | { page: "stores" }
  | { page: "store"; id: string }
  | { page: "webhooks" }
  | { page: "webhook"; id: string }
  | { page: "admin-stores" }
  | { page: "admin-users" }
  | { page: "admin-audit" }
  | { page: "admin-rollouts" }
  | { page: "admin-rollout"; id: string }
  | { page: "admin-certificates" }
  | { page: "not-found" };

export function routeOf(path: string): Route {
  const clean = path.replace(/\/+$/, "") || "/";
  if (clean === "/") return { page: "stores" };
  const store = /^\/stores\/([0-9a-fA-F-]{36})$/.exec(clean);
  if (store?.[1]) return { page: "store", id: store[1].toLowerCase() };
  if (clean === "/webhooks") return { page: "webhooks" };
  const webhook = /^\/webhooks\/([0-9a-fA-F-]{36})$/.exec(clean);
  if (webhook?.[1]) return { page: "webhook", id: webhook[1].toLowerCase() };
  if (clean === "/admin/stores") return { page: "admin-stores" };
  if (clean === "/admin/users") return { page: "admin-users" };
  if (clean === "/admin/audit") return { page: "admin-audit" };
  if (clean === "/admin/rollouts") return { page: "admin-rollouts" };
  const rollout = /^\/admin\/rollouts\/([0-9a-fA-F-]{36})$/.exec(clean);
  if (rollout?.[1]) return { page: "admin-rollout", id: rollout[1].toLowerCase() };
  if (clean === "/admin/certificates") return { page: "admin-certificates" };
  return { page: "not-found" };
}

const NAVIGATED = "storefleet:navigate";
let focusRequested = false;

/** True once after each navigation: whether the next page heading should take the focus. */
export function takeFocusRequest(): boolean {
  const wanted = focusRequested;
  focusRequested = false;
  return wanted;
}

export function navigate(to: string, replace = false): void {
  focusRequested = true;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATED));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    const back = () => {
      focusRequested = true;
      update();
    };
    window.addEventListener("popstate", back);
    window.addEventListener(NAVIGATED, update);
    return () => {
      window.removeEventListener("popstate", back);
      window.removeEventListener(NAVIGATED, update);
    };
  }, []);
  return path;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

export function Link({ to, onClick, ...rest }: LinkProps) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
    if (event.defaultPrevented || event.button !== 0 || modified) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={follow} {...rest} />;
}

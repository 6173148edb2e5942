// React's view of the live feed: the page's one LiveStream, its link state, and a hook
// that hands each store event to a component while it is mounted.

import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import type { Envelope } from "../api/types";
import type { LinkState, LiveStream } from "./stream";

const LiveContext = createContext<LiveStream | null>(null);

export function LiveProvider({ stream, children }: { stream: LiveStream; children: ReactNode }) {
  return <LiveContext.Provider value={stream}>{children}</LiveContext.Provider>;
}

/** Calls `handler` with every store event while the component is mounted. */
export function useLiveEvents(handler: (event: Envelope) => void): void {
  const stream = useContext(LiveContext);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => stream?.subscribe((event) => latest.current(event)), [stream]);
}

/** The link's state, and a counter that grows each time the link comes back after a loss. */
export function useLink(): { state: LinkState; resumes: number } {
  const stream = useContext(LiveContext);
  const [link, setLink] = useState({ state: stream?.state ?? "connecting", resumes: 0 });
  useEffect(
    () =>
      stream?.onState((state, resumed) =>
        setLink((old) => ({ state, resumes: old.resumes + (resumed ? 1 : 0) })),
      ),
    [stream],
  );
  return link;
}

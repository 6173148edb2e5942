// Keeps what the Rollouts pages show in step with the reaper's driver: `load` runs once,
// again when an upgrade event on the feed may concern the rollouts shown, when the feed
// comes back after a loss, and every ROLLOUT_POLL_MS while one of them is running or
// paused (for what no store event says). Nothing polls when nothing can move. Reloads
// asked for while one is in flight run once, after it.

import { useCallback, useEffect, useRef, useState } from "react";
import { useLink, useLiveEvents } from "./live";
import { eventConcerns, pollInterval, type Watched } from "./rollouts";

export interface Followed<T> {
  value: T | null;
  error: unknown;
  reload: () => void;
}

export function useFollowedRollouts<T>(load: () => Promise<T>, watchedOf: (value: T) => Watched[]): Followed<T> {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const running = useRef(false);
  const again = useRef(false);
  const mounted = useRef(true);
  const latestLoad = useRef(load);
  latestLoad.current = load;

  const reload = useCallback(() => {
    if (running.current) {
      again.current = true;
      return;
    }
    running.current = true;
    latestLoad
      .current()
      .then((loaded) => mounted.current && (setValue(loaded), setError(null)))
      .catch((failed: unknown) => mounted.current && setError(failed))
      .finally(() => {
        running.current = false;
        if (again.current && mounted.current) {
          again.current = false;
          reload();
        }
      });
  }, []);

  useEffect(() => {
    mounted.current = true;
    reload();
    return () => {
      mounted.current = false;
    };
  }, [reload]);

  const watched = value === null ? [] : watchedOf(value);
  useLiveEvents((event) => {
    if (eventConcerns(event, watched)) reload();
  });

  const { resumes } = useLink();
  useEffect(() => {
    if (resumes > 0) reload();
  }, [resumes, reload]);

  const every = pollInterval(watched.map((w) => w.state));
  useEffect(() => {
    if (every === null) return;
    const timer = setInterval(reload, every);
    return () => clearInterval(timer);
  }, [every, reload]);

  return { value, error, reload };
}

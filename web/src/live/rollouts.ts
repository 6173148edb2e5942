// What the Rollouts page decides about a fleet rollout, as pure functions: which commands
// its state allows, how its waves read, its totals, when a feed event or the clock should
// make the page read it again, and how the start form's text becomes a request.
//
// The reaper's driver moves rollouts; the page only follows them. A store's upgrade shows
// on the feed as `upgrade.*`, and only `upgrade.requested` names its rollout, so any other
// upgrade event counts for a rollout that lists the store or that is still picking stores.

import type { Envelope, Rollout, RolloutCommand, RolloutState, RolloutStoreState, WaveProgress } from "../api/types";

/** A running rollout is read again this often, for what the feed does not say (a wave
 * ending its pause, the driver moving to the next wave). */
export const ROLLOUT_POLL_MS = 10_000;

const COMMAND_SOURCES: Record<RolloutCommand, readonly RolloutState[]> = {
  pause: ["running"],
  resume: ["paused"],
  abort: ["running", "paused"],
};

export function allows(state: RolloutState, command: RolloutCommand): boolean {
  return COMMAND_SOURCES[command].includes(state);
}

/** Running or paused: something may still happen without anyone asking. */
export function isActive(state: RolloutState): boolean {
  return state === "running" || state === "paused";
}

/** How often to read rollouts again (ms), or null when none of them can still move. */
export function pollInterval(states: readonly RolloutState[]): number | null {
  return states.some(isActive) ? ROLLOUT_POLL_MS : null;
}

/** A rollout as the feed may concern it: its id, state and the stores it picked. */
export interface Watched {
  id: string;
  state: RolloutState;
  storeIds: ReadonlySet<string>;
}

/** Whether `event` may have changed any of `watched`, so they are worth reading again. */
export function eventConcerns(event: Envelope, watched: readonly Watched[]): boolean {
  if (!event.type.startsWith("upgrade.")) return false;
  const rolloutId = event.data.rollout_id;
  if (typeof rolloutId === "string" && rolloutId) return watched.some((w) => w.id === rolloutId);
  return watched.some((w) => w.storeIds.has(event.store_id) || isActive(w.state));
}

/** "1 store", "10 stores", "5% of the stores". */
export function waveSizeText(size: string): string {
  if (size.endsWith("%")) return size === "100%" ? "all the stores" : `${size} of the stores`;
  return size === "1" ? "1 store" : `${size} stores`;
}

export type WaveState = "done" | "current" | "waiting" | "not reached";

/** Where one wave stands in its rollout. */
export function waveState(rollout: Pick<Rollout, "state" | "current_wave">, wave: number): WaveState {
  if (rollout.state === "completed" || wave < rollout.current_wave) return "done";
  if (wave > rollout.current_wave) return isActive(rollout.state) ? "waiting" : "not reached";
  return isActive(rollout.state) ? "current" : "not reached";
}

/** "wave 2 of 4", or "done" once completed. */
export function currentWaveText(rollout: Pick<Rollout, "state" | "current_wave" | "waves">): string {
  if (rollout.state === "completed") return "all waves done";
  return `wave ${rollout.current_wave + 1} of ${rollout.waves.length}`;
}

export interface Totals {
  upgraded: number;
  rolledBack: number;
  failed: number;
  /** Not yet requested, or requested and not settled. */
  pending: number;
}

export function totals(progress: readonly WaveProgress[]): Totals {
  const sum = (state: RolloutStoreState) => progress.reduce((n, w) => n + (w.counts[state] ?? 0), 0);
  return {
    upgraded: sum("completed"),
    rolledBack: sum("rolled_back"),
    failed: sum("failed"),
    pending: sum("pending") + sum("requested"),
  };
}

export const STORE_STATE_TEXT: Record<RolloutStoreState, string> = {
  pending: "pending",
  requested: "upgrading",
  completed: "upgraded",
  rolled_back: "rolled back",
  failed: "failed",
  skipped: "skipped",
};

// -- the start form ------------------------------------------------------------------------

export const DEFAULT_WAVES_TEXT = "1, 5%, 25%, 100%";

/** "1, 5%, 25%, 100%" as the list the gateway reads; the gateway judges the values. */
export function wavesOf(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((w) => w.trim())
    .filter(Boolean);
}

/** A percentage typed in the form ("10") as the gateway's fraction (0.1); NaN stays NaN
 * so the gateway refuses it by name. */
export function thresholdOf(percent: string): number {
  return Number(percent) / 100;
}

/** The form field a gateway refusal names ("waves.0" is the waves field), if one. */
export function formFieldOf<F extends string>(field: string | undefined, fields: readonly F[]): F | null {
  const head = field?.split(".")[0];
  return fields.find((f) => f === head) ?? null;
}

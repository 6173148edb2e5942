// The form that starts a fleet rollout: an engine and a version from the catalog, the
// waves (the gateway's default shown), how many upgrades at once, the failure threshold as
// a percentage and the pause between waves. The gateway judges the values: a refusal that
// names a field (422, or 409 for an engine with a rollout already running) shows next to
// that field, which takes the focus; anything else shows below the form.

import { useEffect, useRef, useState, type FormEvent, type RefObject } from "react";
import { ApiError, startRollout } from "../api/client";
import type { Catalog, Rollout } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { DEFAULT_WAVES_TEXT, formFieldOf, thresholdOf, wavesOf } from "../live/rollouts";
import { explain, type Advice } from "../messages";

const FIELDS = ["engine", "version", "waves", "max_concurrent", "failure_threshold", "pause_seconds"] as const;
type Field = (typeof FIELDS)[number];
type Input = HTMLInputElement | HTMLSelectElement;

const HINTS: Record<Field, string> = {
  engine: "Every store of this engine is moved to the version.",
  version: "The version to move the stores to.",
  waves: `Cumulative sizes, a count or a percentage of the stores, the last 100%. Default: ${DEFAULT_WAVES_TEXT}.`,
  max_concurrent: "Upgrades in flight at once.",
  failure_threshold: "The share of a wave's upgrades that may roll back or fail before the rollout stops; 0: any one stops it.",
  pause_seconds: "The wait between waves, in seconds (300 is 5 minutes).",
};

interface Props {
  catalog: Catalog;
  onStarted: (rollout: Rollout) => void;
}

export function StartRollout({ catalog, onStarted }: Props) {
  const [engine, setEngine] = useState(catalog.defaultEngine);
  const offered = catalog.engines.find((e) => e.key === engine);
  const [version, setVersion] = useState(offered?.defaultVersion ?? "");
  const [waves, setWaves] = useState(DEFAULT_WAVES_TEXT);
  const [maxConcurrent, setMaxConcurrent] = useState("5");
  const [threshold, setThreshold] = useState("0");
  const [pause, setPause] = useState("300");
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<{ field: Field; message: string } | null>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const inputs: Record<Field, RefObject<Input | null>> = {
    engine: useRef<Input>(null),
    version: useRef<Input>(null),
    waves: useRef<Input>(null),
    max_concurrent: useRef<Input>(null),
    failure_threshold: useRef<Input>(null),
    pause_seconds: useRef<Input>(null),
  };

  // The catalog may arrive after the form: its default version then fills an empty field.
  const defaultVersion = offered?.defaultVersion;
  useEffect(() => {
    if (defaultVersion) setVersion((typed) => typed || defaultVersion);
  }, [defaultVersion]);

  const pickEngine = (key: string) => {
    setEngine(key);
    setVersion(catalog.engines.find((e) => e.key === key)?.defaultVersion ?? "");
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setAdvice(null);
    setFieldError(null);
    try {
      const rollout = await startRollout({
        engine,
        version: version.trim(),
        waves: wavesOf(waves),
        max_concurrent: Number(maxConcurrent),
        failure_threshold: thresholdOf(threshold),
        pause_seconds: Number(pause),
      });
      onStarted(rollout);
    } catch (error) {
      refused(error);
    } finally {
      setBusy(false);
    }
  };

  const refused = (error: unknown) => {
    const field = error instanceof ApiError ? formFieldOf(error.field, FIELDS) : null;
    if (field) {
      setFieldError({ field, message: explain(error).text });
      inputs[field].current?.focus();
    } else {
      setAdvice(explain(error));
    }
  };

  const edited = (apply: (value: string) => void) => (e: { target: { value: string } }) => {
    apply(e.target.value);
    setFieldError(null);
  };
  const props = (field: Field) => {
    const error = fieldError?.field === field;
    return {
      id: `rollout-${field}`,
      ref: inputs[field] as RefObject<never>,
      "aria-invalid": error ? true : undefined,
      "aria-describedby": `rollout-${field}-${error ? "error" : "hint"}`,
    };
  };
  const note = (field: Field) => (
    <FieldNote id={`rollout-${field}`} error={fieldError?.field === field ? fieldError.message : null} hint={HINTS[field]} />
  );

  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="start-rollout-heading">
      <h2 id="start-rollout-heading">Start a rollout</h2>
      <div className="field">
        <label htmlFor="rollout-engine">Engine</label>
        <select {...props("engine")} value={engine} onChange={edited(pickEngine)}>
          {catalog.engines.map((e) => (
            <option key={e.key} value={e.key}>
              {e.label}
            </option>
          ))}
        </select>
        {note("engine")}
      </div>
      <div className="field">
        <label htmlFor="rollout-version">Target version</label>
        {offered?.versions?.length ? (
          <select {...props("version")} value={version} onChange={edited(setVersion)}>
            {offered.versions.map((v) => (
              <option key={v} value={v}>
                {v === offered.defaultVersion ? `${v} (default)` : v}
              </option>
            ))}
          </select>
        ) : (
          <input {...props("version")} required autoComplete="off" value={version} onChange={edited(setVersion)} />
        )}
        {note("version")}
      </div>
      <div className="field">
        <label htmlFor="rollout-waves">Waves</label>
        <input {...props("waves")} autoComplete="off" value={waves} onChange={edited(setWaves)} />
        {note("waves")}
      </div>
      <div className="field">
        <label htmlFor="rollout-max_concurrent">Upgrades at once</label>
        <input {...props("max_concurrent")} type="number" min={1} value={maxConcurrent} onChange={edited(setMaxConcurrent)} />
        {note("max_concurrent")}
      </div>
      <div className="field">
        <label htmlFor="rollout-failure_threshold">Failure threshold (%)</label>
        <input {...props("failure_threshold")} type="number" min={0} max={100} step="any" value={threshold} onChange={edited(setThreshold)} />
        {note("failure_threshold")}
      </div>
      <div className="field">
        <label htmlFor="rollout-pause_seconds">Pause between waves (seconds)</label>
        <input {...props("pause_seconds")} type="number" min={0} value={pause} onChange={edited(setPause)} />
        {note("pause_seconds")}
      </div>
      <ErrorNote advice={advice} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Starting…" : "Start rollout"}
      </button>
    </form>
  );
}

function FieldNote({ id, error, hint }: { id: string; error: string | null; hint: string }) {
  return error ? (
    <p className="field-error" id={`${id}-error`}>
      {error}
    </p>
  ) : (
    <p className="hint" id={`${id}-hint`}>
      {hint}
    </p>
  );
}

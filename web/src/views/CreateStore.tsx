// The create form: name, engine and plan. The gateway is the judge of what is valid; its
// refusal is shown next to the field it names (and that field gets the focus), anything
// else below the form: a full quota names the stores worth deleting, a rate limit says
// when to try again and keeps the button off until then.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, createStore } from "../api/client";
import type { Catalog, Store } from "../api/types";
import { ErrorNote } from "../components/ErrorNote";
import { explain, type Advice } from "../messages";

type Field = "name" | "engine" | "plan";
const FIELDS: readonly string[] = ["name", "engine", "plan"];

const newKey = () =>
  typeof crypto.randomUUID === "function" ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;

interface Props {
  catalog: Catalog;
  stores: Store[];
  onCreated: (store: Store) => void;
}

export function CreateStore({ catalog, stores, onCreated }: Props) {
  const [name, setName] = useState("");
  const [engine, setEngine] = useState(catalog.defaultEngine);
  const [plan, setPlan] = useState(catalog.defaultPlan);
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<{ field: Field; message: string } | null>(null);
  const [advice, setAdvice] = useState<Advice | null>(null);
  const [waitUntil, setWaitUntil] = useState(0);
  const [done, setDone] = useState("");
  const key = useRef(newKey());
  const inputs = { name: useRef<HTMLInputElement>(null), engine: useRef<HTMLSelectElement>(null), plan: useRef<HTMLSelectElement>(null) };

  useEffect(() => {
    if (waitUntil <= Date.now()) return;
    const timer = setTimeout(() => setWaitUntil(0), waitUntil - Date.now());
    return () => clearTimeout(timer);
  }, [waitUntil]);

  const edited = (apply: () => void) => {
    apply();
    key.current = newKey(); // a different request deserves a different Idempotency-Key
    setFieldError(null);
    setDone("");
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setAdvice(null);
    setFieldError(null);
    setDone("");
    try {
      const store = await createStore({ name: name.trim(), engine, plan }, key.current);
      onCreated(store);
      setDone(`“${store.name}” was requested. Its badge below follows it to ready.`);
      setName("");
      key.current = newKey();
    } catch (error) {
      refused(error);
    } finally {
      setBusy(false);
    }
  };

  const refused = (error: unknown) => {
    if (error instanceof ApiError && error.field && FIELDS.includes(error.field)) {
      const field = error.field as Field;
      setFieldError({ field, message: explain(error).text });
      inputs[field].current?.focus();
      return;
    }
    if (error instanceof ApiError && error.status === 429) {
      setWaitUntil(Date.now() + (error.retryAfter ?? 60) * 1000);
    }
    setAdvice(explain(error, stores));
  };

  const errorOf = (field: Field) => (fieldError?.field === field ? fieldError.message : null);
  const described = (field: Field) => (errorOf(field) ? `${field}-error` : `${field}-hint`);
  const waiting = waitUntil > Date.now();

  return (
    <form className="card stack create" onSubmit={submit} aria-labelledby="create-heading">
      <h2 id="create-heading">Create a store</h2>
      <div className="field">
        <label htmlFor="name">Store name</label>
        <input
          id="name"
          ref={inputs.name}
          required
          maxLength={40}
          autoComplete="off"
          value={name}
          aria-invalid={errorOf("name") ? true : undefined}
          aria-describedby={described("name")}
          onChange={(e) => edited(() => setName(e.target.value))}
        />
        <FieldNote id="name" error={errorOf("name")} hint="3 to 40 characters; it also names the store's web address." />
      </div>
      <div className="field">
        <label htmlFor="engine">Engine</label>
        <select
          id="engine"
          ref={inputs.engine}
          value={engine}
          aria-invalid={errorOf("engine") ? true : undefined}
          aria-describedby={described("engine")}
          onChange={(e) => edited(() => setEngine(e.target.value))}
        >
          {catalog.engines.map((e) => (
            <option key={e.key} value={e.key}>
              {e.label}
            </option>
          ))}
        </select>
        <FieldNote id="engine" error={errorOf("engine")} hint="The shop software the store runs." />
      </div>
      <div className="field">
        <label htmlFor="plan">Plan</label>
        <select
          id="plan"
          ref={inputs.plan}
          value={plan}
          aria-invalid={errorOf("plan") ? true : undefined}
          aria-describedby={described("plan")}
          onChange={(e) => edited(() => setPlan(e.target.value))}
        >
          {catalog.plans.map((p) => (
            <option key={p.key} value={p.key}>
              {p.label}
            </option>
          ))}
        </select>
        <FieldNote id="plan" error={errorOf("plan")} hint="How much of the cluster the store may use." />
      </div>
      <ErrorNote advice={advice} />
      <p className="done" role="status">
        {done}
      </p>
      <button type="submit" className="primary" disabled={busy || waiting}>
        {busy ? "Creating…" : waiting ? "Create store (wait)" : "Create store"}
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

// A value shown read-only (selected whole on focus) with a button that copies it: DNS
// records, a webhook's signing secret.

import { useState } from "react";

export function Copyable({ label, value }: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      // No clipboard (an insecure origin, a refused permission): the field is still selectable.
      setCopied(false);
    }
  };
  return (
    <span className="copyable">
      <input readOnly aria-label={label} value={value} size={Math.min(Math.max(value.length, 8), 48)} onFocus={(e) => e.target.select()} />
      <button type="button" onClick={() => void copy()} aria-label={`Copy the ${label}`}>
        {copied ? "Copied" : "Copy"}
      </button>
    </span>
  );
}

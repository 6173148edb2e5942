// Says so while the live feed is down (it reconnects by itself, see live/stream.ts), and
// briefly when it is back.

import { useEffect, useState } from "react";
import { useLink } from "../live/live";

export function ConnectionBanner() {
  const { state, resumes } = useLink();
  const [back, setBack] = useState(false);

  useEffect(() => {
    if (resumes === 0) return;
    setBack(true);
    const timer = setTimeout(() => setBack(false), 4000);
    return () => clearTimeout(timer);
  }, [resumes]);

  const lost = state === "reconnecting";
  return (
    <div role="status" aria-live="polite" className="banner-slot">
      {lost ? (
        <p className="banner banner-lost">
          <strong>Connection lost.</strong> Reconnecting… Status updates resume by themselves; nothing you
          see is lost.
        </p>
      ) : back ? (
        <p className="banner banner-back">Reconnected. Statuses are up to date.</p>
      ) : null}
    </div>
  );
}

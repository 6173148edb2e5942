// An error said in words, with what to do about it; for a full quota, links to the stores
// worth deleting.

import type { Advice } from "../messages";
import { Link } from "../router";

export function ErrorNote({ advice, id }: { advice: Advice | null; id?: string }) {
  if (!advice) return null;
  return (
    <div className="error-note" role="alert" id={id}>
      <p>{advice.text}</p>
      {advice.candidates && advice.candidates.length > 0 && (
        <ul className="candidates">
          {advice.candidates.map((store) => (
            <li key={store.id}>
              <Link to={`/stores/${store.id}`}>
                {store.name} ({store.status})
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

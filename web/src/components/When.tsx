// A moment as the reader's local date and time, with the exact instant in the markup.

const FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
// Steps of one provisioning are seconds apart: the timeline shows seconds.
const PRECISE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatMoment(iso: string, precise = false): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : (precise ? PRECISE : FORMAT).format(date);
}

export function When({ iso, precise = false }: { iso: string | null; precise?: boolean }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={iso}>
      {formatMoment(iso, precise)}
    </time>
  );
}

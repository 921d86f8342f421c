/** Number formats shared by the Markdown table and the SVG chart, so both show the same figures. */

function withThousands(integer: number): string {
  return String(integer).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatRps(value: number | null): string {
  if (value == null) return 'n/a';
  if (value >= 100) return withThousands(Math.round(value));
  return value.toFixed(1);
}

/** A short RPS for chart labels: 987, 12.3k, 123k. */
export function formatRpsShort(value: number | null): string {
  if (value == null) return 'n/a';
  if (value >= 100_000) return `${Math.round(value / 1000)}k`;
  if (value >= 10_000) return `${(value / 1000).toFixed(1)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)}k`;
  if (value >= 100) return String(Math.round(value));
  return value.toFixed(1);
}

/** Per-request figures: 3 significant digits at most, never exponent notation; a stray trace of work is `<0.01`. */
export function formatAmount(value: number | null): string {
  if (value == null) return 'n/a';
  if (value >= 100) return withThousands(Math.round(value));
  if (value >= 10) return value.toFixed(1);
  if (value === 0) return '0';
  if (value >= 0.01) return value.toFixed(2);
  return '<0.01';
}

export function formatMs(value: number | null): string {
  if (value == null) return 'n/a';
  return value >= 10 ? String(Math.round(value)) : value.toFixed(1);
}

export function formatRatio(value: number | null): string {
  if (value == null) return 'n/a';
  if (value >= 10) return `${Math.round(value)}x`;
  if (value >= 1) return `${value.toFixed(1)}x`;
  return `${value.toFixed(2)}x`;
}

export function formatPercent(value: number | null): string {
  if (value == null) return 'n/a';
  const percent = value * 100;
  return `${percent >= 10 ? Math.round(percent) : percent.toFixed(1)}%`;
}

export function formatDuration(seconds: number): string {
  const total = Math.round(seconds);
  const minutes = Math.floor(total / 60);
  return minutes > 0 ? `${minutes} min ${total % 60} s` : `${total} s`;
}

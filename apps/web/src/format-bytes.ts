// Byte counts for people: binary units (what the kernel and the dashboards' formulas use).

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const sign = n < 0 ? '−' : '';
  let v = Math.abs(n);
  for (const unit of ['B', 'KiB', 'MiB', 'GiB', 'TiB']) {
    if (v < 1024 || unit === 'TiB') return `${sign}${unit === 'B' ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${unit}`;
    v /= 1024;
  }
  return `${n} B`;
}

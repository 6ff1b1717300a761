// Hand-written SVG charts (no dependencies): line charts (the storm curve, memory per step), box
// plots of latency distributions, and grouped bars. Every engine keeps one colour in every chart.

const W = 860;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

const COLOURS: Array<[RegExp, string]> = [
  [/\.pyc ignored/i, '#a0a0a0'],
  [/^bare/i, '#3b3b3b'],
  [/sharing off/i, '#74a9cf'],
  [/CLI/i, '#17becf'],
  [/^Reg/i, '#0b5cad'],
  [/bubblewrap/i, '#2ca02c'],
  [/crun/i, '#9467bd'],
  [/runc/i, '#8c564b'],
  [/Docker/i, '#d62728'],
  [/closure/i, '#0b5cad'],
  [/image/i, '#d62728'],
];
const FALLBACK = ['#ff7f0e', '#bcbd22', '#e377c2', '#7f7f7f'];

export function colourOf(name: string, i = 0): string {
  return COLOURS.find(([re]) => re.test(name))?.[1] ?? FALLBACK[i % FALLBACK.length]!;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${+(v / 1000).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

interface Scale {
  map: (v: number) => number;
  ticks: number[];
}

function linearScale(min: number, max: number, from: number, to: number): Scale {
  if (max <= min) max = min + 1;
  const raw = (max - min) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { map: (v) => from + ((v - lo) / (hi - lo)) * (to - from), ticks };
}

function logScale(min: number, max: number, from: number, to: number): Scale {
  const lo = 10 ** Math.floor(Math.log10(Math.max(min, 1e-3)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(max, lo * 10)));
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d *= 10) for (const m of [1, 2, 5]) if (d * m >= lo && d * m <= hi) ticks.push(+(d * m).toPrecision(6));
  const l = (v: number) => Math.log10(Math.max(v, lo));
  return { map: (v) => from + ((l(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (to - from), ticks };
}

function frame(h: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" ${FONT} font-size="12">
<rect width="${W}" height="${h}" fill="#fff"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>
${body}
</svg>
`;
}

/** Legend entries left to right, wrapping onto a new line (upwards-compatible: callers leave room). */
function legend(names: string[], x: number, y: number): string {
  let out = '';
  let cx = x;
  let cy = y;
  names.forEach((n, i) => {
    const w = 30 + n.length * 6.6;
    if (cx + w > W - 10 && cx > x) {
      cx = x;
      cy += 16;
    }
    out += `<rect x="${cx}" y="${cy - 9}" width="12" height="12" fill="${colourOf(n, i)}"/><text x="${cx + 16}" y="${cy + 1}">${esc(n)}</text>`;
    cx += w;
  });
  return out;
}

export interface LineSeries {
  name: string;
  points: Array<[number, number]>;
  /** Draw the raw points faintly and this series' rolling median as the line. */
  smooth?: number;
  dashed?: boolean;
}

export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: LineSeries[]; yLog?: boolean; xTicks?: Array<[number, string]>; yMin?: number }): string {
  const H = 440;
  const L = 70, R = W - 20, T = 76, B = H - 50;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v));
  if (!xs.length || !ys.length) return frame(80, `${o.title} (no data)`, '');
  // Categorical x (given ticks): half a step of room on both sides for the labels.
  const x: Scale = o.xTicks
    ? (() => {
        const lo = Math.min(...xs) - 0.5;
        const hi = Math.max(...xs) + 0.5;
        return { map: (v: number) => L + ((v - lo) / (hi - lo)) * (R - L), ticks: [] };
      })()
    : linearScale(Math.min(...xs), Math.max(...xs), L, R);
  const yMin = o.yMin ?? (o.yLog ? Math.min(...ys) : Math.min(0, ...ys));
  const y = o.yLog ? logScale(yMin, Math.max(...ys), B, T) : linearScale(yMin, Math.max(...ys), B, T);
  let body = '';
  for (const t of y.ticks) body += `<line x1="${L}" x2="${R}" y1="${y.map(t)}" y2="${y.map(t)}" stroke="#e5e5e5"/><text x="${L - 6}" y="${y.map(t) + 4}" text-anchor="end">${fmt(t)}</text>`;
  const xTicks = o.xTicks ?? x.ticks.map((t): [number, string] => [t, fmt(t)]);
  for (const [t, label] of xTicks) body += `<line x1="${x.map(t)}" x2="${x.map(t)}" y1="${B}" y2="${B + 5}" stroke="#999"/><text x="${x.map(t)}" y="${B + 18}" text-anchor="middle">${esc(label)}</text>`;
  body += `<line x1="${L}" x2="${R}" y1="${B}" y2="${B}" stroke="#999"/><line x1="${L}" x2="${L}" y1="${T}" y2="${B}" stroke="#999"/>`;
  body += `<text x="${(L + R) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`;
  body += `<text transform="translate(16 ${(T + B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`;
  o.series.forEach((s, i) => {
    const c = colourOf(s.name, i);
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (s.smooth) {
      // One path of zero-length round-capped segments: a dot per point at a fraction of the bytes of <circle>s.
      const dots = pts.map(([px, py]) => `M${x.map(px).toFixed(1)} ${y.map(py).toFixed(1)}h0`).join('');
      body += `<path d="${dots}" stroke="${c}" stroke-opacity="0.35" stroke-width="2.6" stroke-linecap="round" fill="none"/>`;
      const k = s.smooth;
      const smoothed = pts.map(([px], j): [number, number] => {
        const win = pts.slice(Math.max(0, j - k), j + k + 1).map((p) => p[1]).sort((a, b) => a - b);
        return [px, win[win.length >> 1]!];
      });
      body += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${smoothed.map(([px, py]) => `${x.map(px).toFixed(1)},${y.map(py).toFixed(1)}`).join(' ')}"/>`;
    } else {
      body += `<polyline fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(([px, py]) => `${x.map(px).toFixed(1)},${y.map(py).toFixed(1)}`).join(' ')}"/>`;
      for (const [px, py] of pts) body += `<circle cx="${x.map(px).toFixed(1)}" cy="${y.map(py).toFixed(1)}" r="3" fill="${c}"/>`;
    }
  });
  body += legend(o.series.map((s) => s.name), L, 44);
  return frame(H, o.title, body);
}

export interface BoxRow {
  label: string;
  samples: number[];
}

/** Horizontal box plots on a log axis: box p25–p75, bar at the median, whiskers p5–p99, dots beyond. */
export function boxChart(o: { title: string; xLabel: string; rows: BoxRow[] }): string {
  const rows = o.rows.filter((r) => r.samples.length);
  const rowH = 28;
  const L = 230, R = W - 20, T = 40;
  const B = T + rowH * rows.length + 10;
  const H = B + 45;
  const all = rows.flatMap((r) => r.samples);
  if (!all.length) return frame(80, `${o.title} (no data)`, '');
  const x = logScale(Math.min(...all), Math.max(...all), L, R);
  let body = '';
  for (const t of x.ticks) body += `<line x1="${x.map(t)}" x2="${x.map(t)}" y1="${T}" y2="${B}" stroke="#e5e5e5"/><text x="${x.map(t)}" y="${B + 16}" text-anchor="middle">${fmt(t)}</text>`;
  body += `<text x="${(L + R) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`;
  rows.forEach((r, i) => {
    const s = [...r.samples].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
    const cy = T + rowH * i + rowH / 2;
    const c = colourOf(r.label, i);
    body += `<text x="${L - 8}" y="${cy + 4}" text-anchor="end">${esc(r.label)}</text>`;
    body += `<line x1="${x.map(q(0.05))}" x2="${x.map(q(0.99))}" y1="${cy}" y2="${cy}" stroke="${c}"/>`;
    body += `<rect x="${x.map(q(0.25))}" y="${cy - 8}" width="${Math.max(1, x.map(q(0.75)) - x.map(q(0.25)))}" height="16" fill="${c}" fill-opacity="0.3" stroke="${c}"/>`;
    body += `<line x1="${x.map(q(0.5))}" x2="${x.map(q(0.5))}" y1="${cy - 9}" y2="${cy + 9}" stroke="${c}" stroke-width="3"/>`;
    for (const v of s) if (v > q(0.99) || v < q(0.05)) body += `<circle cx="${x.map(v).toFixed(1)}" cy="${cy}" r="2" fill="${c}"/>`;
  });
  return frame(H, o.title, body);
}

export interface BarGroup {
  label: string;
  bars: Array<{ name: string; value: number }>;
}

export function barChart(o: { title: string; yLabel: string; groups: BarGroup[] }): string {
  const H = 380;
  const L = 70, R = W - 20, T = 60, B = H - 50;
  const values = o.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite);
  if (!values.length) return frame(80, `${o.title} (no data)`, '');
  const y = linearScale(0, Math.max(...values), B, T);
  const names = [...new Set(o.groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const gw = (R - L) / o.groups.length;
  const bw = Math.min(40, (gw * 0.8) / names.length);
  let body = '';
  for (const t of y.ticks) body += `<line x1="${L}" x2="${R}" y1="${y.map(t)}" y2="${y.map(t)}" stroke="#e5e5e5"/><text x="${L - 6}" y="${y.map(t) + 4}" text-anchor="end">${fmt(t)}</text>`;
  o.groups.forEach((g, gi) => {
    const x0 = L + gw * gi + (gw - bw * names.length) / 2;
    g.bars.forEach((b) => {
      const k = names.indexOf(b.name);
      if (!Number.isFinite(b.value)) return;
      const top = y.map(b.value);
      body += `<rect x="${x0 + k * bw}" y="${top}" width="${bw - 2}" height="${Math.max(0, B - top)}" fill="${colourOf(b.name, k)}"/>`;
      body += `<text x="${x0 + k * bw + bw / 2 - 1}" y="${top - 4}" text-anchor="middle" font-size="10">${fmt(b.value)}</text>`;
    });
    body += `<text x="${L + gw * gi + gw / 2}" y="${B + 18}" text-anchor="middle">${esc(g.label)}</text>`;
  });
  body += `<line x1="${L}" x2="${R}" y1="${B}" y2="${B}" stroke="#999"/>`;
  body += `<text transform="translate(16 ${(T + B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`;
  body += legend(names, L, 44);
  return frame(H, o.title, body);
}

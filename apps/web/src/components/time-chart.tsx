'use client';

// A live time-series chart (uPlot: small, fast, made for streaming series). One instance per
// chart; data updates go through setData, so a 2 s stream does not rebuild the canvas.

import { useEffect, useRef } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatBytes } from '@/format-bytes';

export interface Series {
  label: string;
  color: string;
  values: Array<number | null>;
}

function latest(values: ArrayLike<number | null | undefined> | undefined): number | null {
  for (let i = (values?.length ?? 0) - 1; i >= 0; i--) {
    const v = values![i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

export default function TimeChart({ times, series, height = 220, bytes = true, title }: { times: number[]; series: Series[]; height?: number; bytes?: boolean; title: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    if (!host.current) return;
    const fmt = (v: number | null) => (v === null ? '–' : bytes ? formatBytes(v) : v.toFixed(1));
    const opts: Options = {
      title,
      width: host.current.clientWidth || 600,
      height,
      // The legend shows the point under the cursor, else the latest value (not "–").
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, value: (u: uPlot, v: number | null, si: number, idx: number | null) => fmt(idx === null ? latest(u.data[si]) : v) }))],
      axes: [
        { stroke: '#8b96a3', grid: { stroke: '#232b34' } },
        { stroke: '#8b96a3', grid: { stroke: '#232b34' }, size: 70, values: (_u, ticks) => ticks.map((t) => fmt(t)) },
      ],
      scales: { x: { time: true } },
      legend: { live: true },
    };
    const p = new uPlot(opts, [[], ...series.map(() => [])] as unknown as AlignedData, host.current);
    plot.current = p;
    const resize = () => host.current && p.setSize({ width: host.current.clientWidth, height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      p.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data flows through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height, bytes, title]);

  useEffect(() => {
    plot.current?.setData([times.map((t) => t / 1000), ...series.map((s) => s.values)] as unknown as AlignedData);
  }, [times, series]);

  return <div className="chart" ref={host} />;
}

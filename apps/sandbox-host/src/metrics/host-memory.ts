// The host's own memory figures: /proc/meminfo and, where the kernel has it (4.20+ with PSI
// enabled), /proc/pressure/memory. Read once per dashboard sample; both are tiny files.

import { readFile } from 'node:fs/promises';

export interface Meminfo {
  total: number;
  free: number;
  available: number;
  /** Cached + Buffers − Shmem: file pages the kernel can drop (Shmem is counted as used). */
  pageCache: number;
  swapTotal: number;
  swapFree: number;
}

export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalUs: number;
}
export interface Psi {
  some: PsiLine;
  full: PsiLine | null;
}

export function parseMeminfo(text: string): Meminfo {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return {
    total: kb('MemTotal'),
    free: kb('MemFree'),
    available: kb('MemAvailable'),
    pageCache: Math.max(0, kb('Cached') + kb('Buffers') - kb('Shmem')),
    swapTotal: kb('SwapTotal'),
    swapFree: kb('SwapFree'),
  };
}

export function parsePsi(text: string): Psi | null {
  const line = (kind: 'some' | 'full'): PsiLine | null => {
    const m = new RegExp(`^${kind} avg10=([\\d.]+) avg60=([\\d.]+) avg300=([\\d.]+) total=(\\d+)`, 'm').exec(text);
    return m ? { avg10: Number(m[1]), avg60: Number(m[2]), avg300: Number(m[3]), totalUs: Number(m[4]) } : null;
  };
  const some = line('some');
  return some ? { some, full: line('full') } : null;
}

export async function readMeminfo(path = '/proc/meminfo'): Promise<Meminfo> {
  return parseMeminfo(await readFile(path, 'latin1'));
}

/** null where the kernel has no PSI (or it is disabled: reading fails with EOPNOTSUPP). */
export async function readPsi(path = '/proc/pressure/memory'): Promise<Psi | null> {
  try {
    return parsePsi(await readFile(path, 'latin1'));
  } catch {
    return null;
  }
}

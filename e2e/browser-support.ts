// What every browser test shares: Debian's Chromium launched the way this machine needs it, free
// loopback ports for the stack, why a test must skip, and reading the terminal as the user sees it
// (the xterm buffer the page exposes as window.term).

import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const PASSWORD = 'e2e-password';
export const SHOTS = '/tmp/shots';

/** Why the browser tests cannot run here (printed by the caller), or false. */
export const skipReason: string | false =
  process.getuid?.() !== 0
    ? 'needs root (containers)'
    : !existsSync(CHROMIUM)
      ? `needs ${CHROMIUM} (apt-get install chromium)`
      : !existsSync(new URL('../apps/web/.next/BUILD_ID', import.meta.url))
        ? 'needs the built web app (npm run build)'
        : false;

/** Headless Chromium without the background traffic a closed network refuses. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--headless'] });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The terminal's whole buffer as text, line by line. */
export async function screen(page: Page): Promise<string> {
  return page.evaluate(() => {
    const term = (window as unknown as { term?: { buffer: { active: { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined } } } }).term;
    if (!term) return '';
    const b = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  });
}

export async function waitScreen(page: Page, re: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await screen(page);
    if (re.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`screen never matched ${re}:\n${s.split('\n').filter(Boolean).slice(-15).join('\n')}`);
    await page.waitForTimeout(50);
  }
}

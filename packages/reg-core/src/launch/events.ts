// The launcher's status events (JSON lines it appends to events.jsonl, see
// packages/native/src/status.h), and a tail that waits for the next matching one.

import { watch, type FSWatcher } from 'node:fs';
import { open, readFile } from 'node:fs/promises';

export interface LaunchEvent {
  event: 'pid' | 'started' | 'exit' | 'signaled' | 'exec-failed' | 'setup-failed' | 'inserted';
  pid?: number;
  code?: number;
  signal?: number;
  errno?: number;
  error?: string;
  step?: string;
  dir?: string;
}

export function parseEvents(text: string): LaunchEvent[] {
  const out: LaunchEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LaunchEvent);
    } catch {
      // a torn last line cannot happen (one write per line); ignore garbage
    }
  }
  return out;
}

export async function readEvents(file: string): Promise<LaunchEvent[]> {
  return parseEvents(await readFile(file, 'utf8').catch(() => ''));
}

/** Follows events.jsonl as the launcher appends to it (inotify, with a slow poll as a backstop). */
export class EventTail {
  private offset = 0;
  private buffered = '';
  private readonly seen: LaunchEvent[] = [];
  private watcher: FSWatcher | undefined;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Set by every notification, cleared before each read: a change that lands while we are
   * reading is never lost (waiting only when nothing happened since the last read). */
  private dirty = true;

  constructor(private readonly file: string) {
    const poke = () => {
      this.dirty = true;
      this.wake?.();
    };
    this.watcher = watch(file, poke);
    this.watcher.on('error', () => {});
    this.timer = setInterval(poke, 25); // a backstop: inotify is the fast path
    this.timer.unref();
  }

  private async readMore(): Promise<void> {
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        this.buffered += buf.subarray(0, bytesRead).toString('utf8');
      }
    } finally {
      await fh.close();
    }
    const nl = this.buffered.lastIndexOf('\n');
    if (nl >= 0) {
      this.seen.push(...parseEvents(this.buffered.slice(0, nl)));
      this.buffered = this.buffered.slice(nl + 1);
    }
  }

  /** Resolves with the first event (seen so far or later) that matches, or undefined when `until` settles first. */
  async next(match: (e: LaunchEvent) => boolean, until: Promise<unknown>): Promise<LaunchEvent | undefined> {
    let done = false;
    const finish = () => {
      done = true;
      this.dirty = true;
      this.wake?.();
    };
    until.then(finish, finish);
    for (;;) {
      this.dirty = false;
      await this.readMore();
      const hit = this.seen.find(match);
      if (hit) return hit;
      if (done) {
        await this.readMore();
        return this.seen.find(match);
      }
      if (!this.dirty) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  get events(): readonly LaunchEvent[] {
    return this.seen;
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    this.watcher = undefined;
  }
}

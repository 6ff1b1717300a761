// Transfer progress. push and pull report events (what a RET will transfer, bytes as they move,
// files as they finish, the RET's outcome); the CLI renders them with ProgressDisplay: on a TTY a
// few live lines, one per RET in flight (files, bytes, rate) plus a summary of the rest, redrawn
// at most ten times a second; elsewhere (logs, CI, pipes) one plain line per RET as it completes
// and a heartbeat line every few seconds during long transfers.

export type TransferEvent =
  | { type: 'plan'; ret: string; files: number; bytes: number }
  | { type: 'bytes'; ret: string; bytes: number }
  | { type: 'file'; ret: string }
  | { type: 'done'; ret: string; outcome: string };

export type ProgressSink = (e: TransferEvent) => void;

interface RetProgress {
  ret: string;
  files: number;
  bytes: number;
  filesDone: number;
  bytesDone: number;
  started?: number;
  ended?: number;
  outcome?: string;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

function rate(bytes: number, ms: number): string {
  return ms > 0 ? `${humanBytes(Math.round((bytes * 1000) / ms))}/s` : '';
}

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export class ProgressDisplay {
  private readonly rets = new Map<string, RetProgress>();
  private readonly tty: boolean;
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastHeartbeat = Date.now();
  private readonly maxLines = 8;

  constructor(
    private readonly verb: 'pull' | 'push',
    private readonly stream: ProgressStream = process.stderr,
    tty?: boolean,
  ) {
    this.tty = tty ?? stream.isTTY === true;
  }

  readonly handle: ProgressSink = (e) => {
    const p = this.rets.get(e.ret) ?? { ret: e.ret, files: 0, bytes: 0, filesDone: 0, bytesDone: 0 };
    this.rets.set(e.ret, p);
    const now = Date.now();
    switch (e.type) {
      case 'plan':
        p.files += e.files;
        p.bytes += e.bytes;
        break;
      case 'bytes':
        p.started ??= now;
        p.bytesDone += e.bytes;
        break;
      case 'file':
        p.started ??= now;
        p.filesDone++;
        break;
      case 'done':
        p.ended = now;
        p.outcome = e.outcome;
        if (!this.tty) this.stream.write(`${this.verb} ${this.doneLine(p)}\n`);
        break;
    }
    if (this.tty) this.schedule();
    else if (now - this.lastHeartbeat > 5000 && e.type === 'bytes') {
      this.lastHeartbeat = now;
      this.stream.write(`${this.verb}: ${this.totals()}\n`);
    }
  };

  private doneLine(p: RetProgress): string {
    if (p.files === 0) return `${p.ret}: ${p.outcome}`;
    const ms = (p.ended ?? Date.now()) - (p.started ?? p.ended ?? Date.now());
    return `${p.ret}: ${p.outcome}, ${p.filesDone} files, ${humanBytes(p.bytesDone)} in ${(ms / 1000).toFixed(1)} s${ms > 0 ? ` (${rate(p.bytesDone, ms)})` : ''}`;
  }

  private totals(): string {
    let files = 0, filesDone = 0, bytes = 0, bytesDone = 0;
    for (const p of this.rets.values()) {
      files += p.files;
      filesDone += p.filesDone;
      bytes += p.bytes;
      bytesDone += p.bytesDone;
    }
    return `${filesDone}/${files} files, ${humanBytes(bytesDone)}/${humanBytes(bytes)}`;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, 100);
    this.timer.unref();
  }

  private lines(): string[] {
    const all = [...this.rets.values()];
    const active = all.filter((p) => p.outcome === undefined && p.started !== undefined);
    const waiting = all.filter((p) => p.outcome === undefined && p.started === undefined);
    const done = all.filter((p) => p.outcome !== undefined);
    const width = Math.max(12, ...all.map((p) => p.ret.length));
    const now = Date.now();
    const out = active.slice(0, this.maxLines).map((p) => {
      const ms = now - (p.started ?? now);
      return `  ${p.ret.padEnd(width)}  ${`${p.filesDone}/${p.files} files`.padEnd(16)} ${`${humanBytes(p.bytesDone)}/${humanBytes(p.bytes)}`.padEnd(22)} ${rate(p.bytesDone, ms)}`;
    });
    if (active.length > this.maxLines) out.push(`  … and ${active.length - this.maxLines} more in flight`);
    out.push(`  ${this.verb}: ${done.length} RETs done, ${waiting.length} waiting — ${this.totals()}`);
    return out;
  }

  private draw(): void {
    const lines = this.lines();
    let s = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    for (let i = lines.length; i < this.drawnLines; i++) s += '\x1b[2K\n';
    this.stream.write(s);
    this.drawnLines = Math.max(lines.length, this.drawnLines);
  }

  /** Final render: on a TTY the live lines give way to one line per RET. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.tty) return;
    let s = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    for (let i = 0; i < this.drawnLines; i++) s += '\x1b[2K\n';
    if (this.drawnLines > 0) s += `\x1b[${this.drawnLines}F`;
    for (const p of this.rets.values()) if (p.outcome !== undefined) s += `  ${this.doneLine(p)}\n`;
    this.stream.write(s);
    this.drawnLines = 0;
  }
}

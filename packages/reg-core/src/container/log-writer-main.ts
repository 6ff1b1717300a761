// The log helper of a detached container: `node log-writer-main.js PATH MAX_BYTES FILES` copies
// stdin (the container's stdout and stderr) into a RotatingLog until every writer has closed it.
// It runs in its own session, so the CLI that started it may exit and a host may restart.

import { RotatingLog } from './log-writer.js';

const [path, maxBytes, files] = process.argv.slice(2);
const log = new RotatingLog(path!, { maxBytes: Number(maxBytes), files: Number(files) });
for (const sig of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.on(sig, () => {});
process.stdin.on('data', (d: Buffer) => {
  try {
    log.write(d);
  } catch {
    // the disk is full: drop output rather than block the container on a full pipe
  }
});
process.stdin.on('end', () => {
  log.close();
  process.exit(0);
});

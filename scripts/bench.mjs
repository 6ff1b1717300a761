#!/usr/bin/env node
// `npm run bench [-- options]`: runs Reg's benchmarks (bench/src/main.ts, through tsx) with the
// options passed through. `npm run bench -- --help` lists them. Not part of `npm test`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/src/main.ts', ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);

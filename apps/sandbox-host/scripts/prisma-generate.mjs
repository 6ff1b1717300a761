#!/usr/bin/env node
// `prisma generate` for the host's build. Generating needs no database, but the Prisma CLI insists
// on a schema-engine binary that cannot be downloaded offline: any existing file will do for
// generate, so point PRISMA_SCHEMA_ENGINE_BINARY at one unless the caller set it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
const r = spawnSync(process.execPath, [cli, 'generate', '--schema', 'prisma/schema.prisma'], { cwd: root, env, stdio: 'inherit' });
process.exit(r.status ?? 1);

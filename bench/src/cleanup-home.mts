// Removes every container of a REG_HOME (after a crashed benchmark) and its cgroups.
import { rm } from 'node:fs/promises';
import { Engine, regHome } from './reg-core.js';
const root = process.argv[2]!;
const engine = await Engine.open({ home: regHome(root) });
const ids = (await engine.list({ all: true })).map((s) => s.id);
const r = await engine.removeMany(ids, { force: true });
console.log(`removed ${r.done.length}, failed ${r.failed.length}`, r.failed.slice(0, 3).map((f) => `${f.id}: ${(f.error as Error).message}`));
await engine.disposeCgroupParent();
await rm(root, { recursive: true, force: true });

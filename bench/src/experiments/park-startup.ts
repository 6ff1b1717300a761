// Parked launchers, measured alone: `node --import tsx bench/src/experiments/park-startup.ts [--runs N]`.
// One python RET in a temp REG_HOME; R rounds, each running in turn (so a noisy moment of the
// shared machine hits all alike):
//   bare          python3 -c pass on the host
//   bwrap         the same under bubblewrap (--unshare-all, the host's /usr read-only)
//   cold          engine.run of python3 -c pass with an empty pool (the launcher joins the cgroups itself)
//   warm          the same with one parked launcher ready (fill untimed, as a background refill would)
//   launch cold   the launcher alone: spawn `reg-launch run` with the container's argv → "started"
//   launch warm   the launcher alone: spawn `reg-launch attach` to a parked member → "started"
// Prints medians and p90 (ms) and the ratios to bare, all from the same invocation.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, buildFromHost, childProcessSpawner, type SpawnLauncher } from '@reg/core';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 30;

function timeProcess(file: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${file} exited ${code}`))));
  });
}

/** Spawns the launcher and resolves at its "started" event (the command was exec'd). */
function timeToStarted(file: string, args: string[], events: string): Promise<number> {
  writeFileSync(events, '');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const w = watch(events, () => {
      if (readFileSync(events, 'utf8').includes('"started"')) {
        w.close();
        resolve(performance.now() - t0);
      }
    });
    const c = spawn(file, args, { stdio: 'ignore' });
    c.on('exit', (code) => {
      if (readFileSync(events, 'utf8').includes('"started"')) return;
      w.close();
      reject(new Error(`launcher exited ${code}: ${readFileSync(events, 'utf8')}`));
    });
  });
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'reg-park-bench-'));
  const engine = await Engine.open({ home: root });
  const pool = engine.pool!;
  try {
    await buildFromHost(engine.home, '/usr/bin/python3.11');
    const quiet: SpawnLauncher = childProcessSpawner({ stdio: 'ignore' });
    // The launcher argv of a real start (captured from a cold one) for the launcher-only rows.
    let captured: string[] = [];
    const capture: SpawnLauncher = (file, args) => {
      captured = args;
      return quiet(file, args);
    };
    const probe = await engine.run({ ret: 'python@3.11', command: ['python3', '-c', 'pass'], spawn: capture });
    const launcher = process.env.REG_LAUNCHER || (await import('@reg/native')).launcherPath;
    const events = join(root, 'launch-events.jsonl');
    const cgroupArgs: string[] = [];
    const planArgs: string[] = [];
    for (let i = 0; i < captured.length; i++) {
      const a = captured[i]!;
      if (a === '--cgroup-procs') cgroupArgs.push(a, captured[++i]!);
      else if (a === '--status-file') planArgs.push(a, events), i++;
      else if (a === '--die-with-parent') continue;
      else planArgs.push(a);
    }
    // The launcher-only rows reuse the probe container's dirs, in a cgroup of their own per run.
    const rows: Record<string, number[]> = { bare: [], bwrap: [], cold: [], warm: [], 'launch cold': [], 'launch warm': [] };
    const bwrap = ['--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev', '--', '/usr/bin/python3.11', '-c', 'pass'];
    const cgroups = engine.ctx.cgroups;
    for (let i = -2; i < runs; i++) {
      const sample: Record<string, number> = {};
      sample.bare = await timeProcess('/usr/bin/python3.11', ['-c', 'pass']);
      sample.bwrap = await timeProcess('bwrap', bwrap);
      {
        const t0 = performance.now();
        const r = await engine.run({ ret: 'python@3.11', command: ['python3', '-c', 'pass'], rm: true, spawn: quiet });
        if (r.outcome.outcome !== 'exited' || r.outcome.code !== 0) throw new Error(`cold run: ${JSON.stringify(r.outcome)}`);
        sample.cold = performance.now() - t0;
      }
      {
        await pool.fill('isolated', 1);
        const t0 = performance.now();
        const r = await engine.run({ ret: 'python@3.11', command: ['python3', '-c', 'pass'], rm: true, spawn: quiet });
        if (r.outcome.outcome !== 'exited' || r.outcome.code !== 0) throw new Error(`warm run: ${JSON.stringify(r.outcome)}`);
        sample.warm = performance.now() - t0;
      }
      {
        const name = `launch-${i + 2}`;
        const { procsFiles } = await cgroups.create(name, {});
        sample['launch cold'] = await timeToStarted(launcher, [planArgs[0]!, ...procsFiles.flatMap((f) => ['--cgroup-procs', f]), ...planArgs.slice(1)], events);
        await new Promise((r) => setTimeout(r, 50));
        await cgroups.remove(name);
      }
      {
        await pool.fill('isolated', 1);
        const m = (await pool.take('isolated'))!;
        sample['launch warm'] = await timeToStarted(launcher, ['attach', '--control', m.control, '--', ...planArgs], events);
        await new Promise((r) => setTimeout(r, 50));
        await m.handedOver();
        await cgroups.remove(m.cgroup);
      }
      if (i >= 0) for (const [k, v] of Object.entries(sample)) rows[k]!.push(v);
    }
    await engine.remove(probe.state.id, { force: true });
    const bare = quantile(rows.bare!, 0.5);
    console.log(`python3 -c pass, ${runs} interleaved rounds (shared, noisy machine: read the ratios)`);
    console.log('row            median    p90   ×bare');
    for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(13)} ${quantile(v, 0.5).toFixed(1).padStart(7)} ${quantile(v, 0.9).toFixed(1).padStart(6)} ${(quantile(v, 0.5) / bare).toFixed(2).padStart(6)}`);
    console.log(`warm/cold engine.run: ${(quantile(rows.warm!, 0.5) / quantile(rows.cold!, 0.5)).toFixed(2)}; launcher alone warm/cold: ${(quantile(rows['launch warm']!, 0.5) / quantile(rows['launch cold']!, 0.5)).toFixed(2)}`);
  } finally {
    await pool.drain().catch(() => {});
    for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
    await engine.disposeCgroupParent();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();

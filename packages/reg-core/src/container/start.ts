// Start: Generated|Stopped → Running. Create the cgroup with the container's limits, spawn the
// launcher (how is the caller's choice: a child process or a pty), and wait until the command has
// been exec'd. Exec failure is a result (outcome exec-failed, code 127); setup failure is Reg's
// fault (LAUNCH_FAILED). Either way nothing is left running and the cgroup is gone.

import { writeFile } from 'node:fs/promises';
import { RegError } from '../errors.js';
import { EventTail } from '../launch/events.js';
import { tracer } from './trace.js';
import { launcherPath, type SpawnLauncher, type SpawnedLauncher } from '../launch/launcher.js';
import { runArgs } from '../launch/plan.js';
import { cgroupName, cgroupRemovalSettled, type EngineContext } from './context.js';
import { processStartTime } from './proc.js';
import { finalise, refresh } from './refresh.js';
import { hasVolume, saveState, writablePaths, type ContainerState } from './state.js';
import { mountVolume } from '../quota/volume.js';
import { assertTransition } from './status.js';

export interface Started {
  state: ContainerState;
  launcher: SpawnedLauncher;
}

export async function start(ctx: EngineContext, id: string, spawn: SpawnLauncher, opts: { command?: string[]; detached?: boolean } = {}): Promise<Started> {
  const trace = tracer('start');
  const s = await refresh(ctx, id);
  assertTransition(s.id, s.status, 'start');
  trace('refresh');
  const p = writablePaths(ctx.home, s);
  // After a reboot (or an unmount) the quota volume of the writable layer is mounted again
  // (an ephemeral layer is a tmpfs the launcher makes: nothing to do here).
  if (hasVolume(s)) await mountVolume(p.layerImage, p.layer);
  const file = launcherPath();
  await cgroupRemovalSettled(s.id); // the previous run's cgroup, still being torn down
  const { procsFiles } = await ctx.cgroups.create(cgroupName(s.id), s.limits);
  trace('cgroup');
  await writeFile(p.events, ''); // this run's events only
  const tail = new EventTail(p.events);
  let launcher: SpawnedLauncher;
  try {
    // Attached (a terminal, a foreground run) unless detached: the launcher then dies with its spawner.
    launcher = spawn(file, runArgs(s, p, procsFiles, opts.command ?? s.command, { attached: !opts.detached }));
    trace('spawn');
  } catch (e) {
    tail.close();
    await ctx.cgroups.remove(cgroupName(s.id));
    throw e;
  }
  try {
    const first = await tail.next((e) => ['started', 'exec-failed', 'setup-failed'].includes(e.event), launcher.exited);
    const pid = tail.events.find((e) => e.event === 'pid')?.pid;
    trace(first?.event ?? 'no event');
    if (first?.event === 'started' && pid) {
      s.status = 'running';
      s.initPid = pid;
      const startTime = await processStartTime(pid);
      if (startTime) s.initStartTime = startTime;
      s.launcherPid = launcher.pid;
      s.startedAt = new Date().toISOString();
      delete s.outcome;
      delete s.finishedAt;
      await saveState(ctx.home, s);
      trace('saved');
      return { state: s, launcher };
    }
    // The command never ran: wait for the launcher, then record why and clean up.
    await launcher.exited;
    s.status = 'running'; // so that finalise records the outcome and removes the cgroup
    const done = await finalise(ctx, s);
    if (first?.event === 'setup-failed' || !first) {
      throw new RegError('LAUNCH_FAILED', `container ${s.id} could not be set up: ${first ? `${first.step}: ${first.error}` : 'the launcher exited without a word'}`, {
        hint: first?.step === 'overlay' ? 'is REG_HOME on a filesystem that supports an OverlayFS upper dir (ext4, xfs, tmpfs)?' : 'run as root; `reg ps -a` shows the container as stopped',
      });
    }
    return { state: done, launcher };
  } finally {
    tail.close();
  }
}

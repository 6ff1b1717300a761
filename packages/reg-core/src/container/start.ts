// Start: Generated|Stopped → Running. Create the cgroup with the container's limits, spawn the
// launcher (how is the caller's choice: a child process or a pty), and wait until the command has
// been exec'd. Exec failure is a result (outcome exec-failed, code 127); setup failure is Reg's
// fault (LAUNCH_FAILED). Either way nothing is left running and the cgroup is gone.
//
// With a parked launcher (launch/park.ts) the cgroup and the namespaces exist already: its cgroup
// is renamed to the container's, the container's limits are written, and the plan is handed over —
// by `reg-launch attach` spawned with the caller's spawner (its stdio reaches the container), or
// straight from Node (`direct`: the member's own stdio, its pty, is the container's).

import { writeFile } from 'node:fs/promises';
import { RegError } from '../errors.js';
import { EventTail } from '../launch/events.js';
import { tracer } from './trace.js';
import { launcherPath, type SpawnLauncher, type SpawnedLauncher } from '../launch/launcher.js';
import { sendPlan, type PoolMember } from '../launch/park.js';
import { runArgs, type CgroupPlacement } from '../launch/plan.js';
import { release } from 'node:os';
import { dirname } from 'node:path';
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

/** RegError.field of a start whose parked launcher never reported (nothing ran: a cold start may follow). */
export const PARKED_LAUNCHER_LOST = 'parked-launcher';

export interface StartOptions {
  command?: string[];
  detached?: boolean;
  /** A parked launcher taken from the pool for this start (it is discarded if the start fails before its plan). */
  member?: PoolMember;
  /** Send the member its plan from Node instead of through `reg-launch attach` (the member's stdio is the container's). */
  direct?: boolean;
}

/** clone3(CLONE_INTO_CGROUP) exists since Linux 5.7; REG_CLONE_INTO_CGROUP=0 keeps the migration. */
const cloneIntoCgroup = (() => {
  const [major = 0, minor = 0] = release().split('.').map((n) => parseInt(n, 10));
  return (major > 5 || (major === 5 && minor >= 7)) && process.env.REG_CLONE_INTO_CGROUP !== '0';
})();

/** On cgroup v2 pid 1 is born in the container's cgroup; on v1 the launcher joins every controller. */
function cgroupPlacement(ctx: EngineContext, procsFiles: string[]): CgroupPlacement {
  if (ctx.cgroups.version === 2 && cloneIntoCgroup && procsFiles.length === 1) return { into: dirname(procsFiles[0]!) };
  return procsFiles;
}

/** Moves a parked launcher's cgroup to the container's name and gives it the container's limits. */
async function adoptMemberCgroup(ctx: EngineContext, member: PoolMember, s: ContainerState): Promise<boolean> {
  try {
    await ctx.cgroups.rename(member.cgroup, cgroupName(s.id));
  } catch {
    return false; // removed behind our back, or the container's name is still taken
  }
  try {
    // Everything not requested stays unlimited, as in a fresh cgroup (the member's was made with none).
    await ctx.cgroups.setLimits(cgroupName(s.id), s.limits);
    return true;
  } catch (e) {
    await ctx.cgroups.remove(cgroupName(s.id)).catch(() => {}); // kills the member with it
    throw e;
  }
}

export async function start(ctx: EngineContext, id: string, spawn: SpawnLauncher, opts: StartOptions = {}): Promise<Started> {
  const trace = tracer('start');
  let member = opts.member;
  let s: ContainerState;
  let p: ReturnType<typeof writablePaths>;
  let file: string;
  let procsFiles: string[] = [];
  try {
    s = await refresh(ctx, id);
    assertTransition(s.id, s.status, 'start');
    trace('refresh');
    p = writablePaths(ctx.home, s);
    // After a reboot (or an unmount) the quota volume of the writable layer is mounted again
    // (an ephemeral layer is a tmpfs the launcher makes: nothing to do here).
    if (hasVolume(s)) await mountVolume(p.layerImage, p.layer);
    file = launcherPath();
    await cgroupRemovalSettled(s.id); // the previous run's cgroup, still being torn down
    if (member && !(await adoptMemberCgroup(ctx, member, s))) {
      await member.discard();
      member = undefined;
    }
    if (!member) ({ procsFiles } = await ctx.cgroups.create(cgroupName(s.id), s.limits));
    trace(member ? 'cgroup (parked)' : 'cgroup');
  } catch (e) {
    await member?.discard();
    throw e;
  }
  await writeFile(p.events, ''); // this run's events only
  const tail = new EventTail(p.events);
  let launcher: SpawnedLauncher;
  // Until this settles the launcher may still report; a parked member's plan that never arrived ends it too.
  let until: Promise<unknown>;
  try {
    // Attached (a terminal, a foreground run) unless detached: the launcher then dies with its spawner.
    const plan = runArgs(s, p, member ? [] : cgroupPlacement(ctx, procsFiles), opts.command ?? s.command, { attached: !opts.detached });
    if (!member) {
      launcher = spawn(file, plan);
      until = launcher.exited;
    } else if (opts.direct) {
      await sendPlan(member.control, plan);
      launcher = { pid: member.pid, exited: member.exited };
      until = member.exited;
    } else {
      // attach hands over the plan with the caller's stdio; attached, it stays as the container's
      // foreground stand-in (its exit code is the container's); detached, it exits once the plan is sent.
      const attach = spawn(file, ['attach', '--control', member.control, ...(opts.detached ? ['--detach'] : ['--die-with-parent']), '--', ...plan]);
      const own = { pid: member.pid, exited: member.exited };
      launcher = opts.detached ? own : attach;
      until = opts.detached ? Promise.race([member.exited, attach.exited.then((r) => (r.code === 0 ? new Promise(() => {}) : r))]) : attach.exited;
    }
    trace('spawn');
  } catch (e) {
    tail.close();
    await ctx.cgroups.remove(cgroupName(s.id));
    throw e;
  }
  try {
    const first = await tail.next((e) => ['started', 'exec-failed', 'setup-failed'].includes(e.event), until);
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
    // The command never ran: wait for the launcher, then record why and clean up (removing the
    // cgroup also ends a parked member whose plan never arrived).
    await until;
    s.status = 'running'; // so that finalise records the outcome and removes the cgroup
    const done = await finalise(ctx, s);
    if (first?.event === 'setup-failed' || !first) {
      throw new RegError('LAUNCH_FAILED', `container ${s.id} could not be set up: ${first ? `${first.step}: ${first.error}` : member ? 'the parked launcher never took the plan' : 'the launcher exited without a word'}`, {
        hint: first?.step === 'overlay' ? 'is REG_HOME on a filesystem that supports an OverlayFS upper dir (ext4, xfs, tmpfs)?' : 'run as root; `reg ps -a` shows the container as stopped',
        // A member that went bad between its take and the plan: the caller may start again without one.
        ...(member && !first && { field: PARKED_LAUNCHER_LOST }),
      });
    }
    return { state: done, launcher };
  } finally {
    tail.close();
    // Only now: attach may connect to the claimed socket's path until the launcher has reported.
    await member?.handedOver();
  }
}

// The classroom, assembled: class service, workspaces, the runner (terminals in a class, Start and
// Stop class) and their routes. The host creates one and adds its routes to the table; close()
// cancels starts in progress, removes prepared containers and unmounts the workspaces (after the
// host has ended every terminal session).

import { join } from 'node:path';
import { Workspaces, type Engine } from '@reg/core';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { ContainerService } from '../containers/container-service.js';
import type { Db } from '../db/client.js';
import type { ApiRoute } from '../http/api-routes.js';
import type { Log } from '../log.js';
import type { SessionRegistry } from '../terminals/session-registry.js';
import { WorkspaceService } from '../workspaces/workspace-service.js';
import { ClassEvents } from './class-events.js';
import { classRoutes } from './class-routes.js';
import { ClassRunner } from './class-runner.js';
import { ClassService } from './class-service.js';
import { seedDemoClass } from './demo-class.js';

export interface Classroom {
  classes: ClassService;
  runner: ClassRunner;
  workspaces: WorkspaceService;
  events: ClassEvents;
  routes: ApiRoute[];
  /** Cancel starts, remove prepared containers (call before ending the sessions). */
  close(): Promise<void>;
  /** Unmount every workspace (call after every container is gone). */
  unmount(): Promise<void>;
}

export async function createClassroom(o: { db: Db; engine: Engine; sessions: SessionRegistry; containers: ContainerService; dataDir: string; log: Log; events?: ClassEvents; cluster?: ClusterNode }): Promise<Classroom> {
  const events = o.events ?? new ClassEvents();
  // In a cluster, workspaces live in the shared directory (any host can open a student's) and a
  // host mounts one only under a lease; the student uid markers are shared too, so a student's
  // files have one owner on every host.
  const cluster = o.cluster;
  const store = await Workspaces.open(cluster ? cluster.sharedDir : o.engine.home);
  const workspaces = new WorkspaceService(store, o.db, o.dataDir, cluster ? { starterRoot: cluster.sharedDir, lease: (classId, userId) => cluster.leaseWorkspace(classId, userId, join(store.root, classId, userId)) } : {});
  const classes = new ClassService(o.db, o.engine, events, o.engine.home.root);
  const runner = new ClassRunner(o.db, o.engine, o.sessions, o.containers, classes, workspaces, events, o.log, cluster ? { cluster } : {});
  await runner.resumeRuns();
  runner.startScheduler();
  await seedDemoClass(o.db, o.engine, workspaces, o.log).catch((e) => o.log.error('seeding the demo class', e));
  return {
    classes,
    runner,
    workspaces,
    events,
    routes: classRoutes({ db: o.db, classes, runner, workspaces, ...(cluster && { cluster }) }),
    close: () => runner.close(),
    // In a cluster the shared directory holds other hosts' mounts too (on one machine): only the
    // workspaces this host leased are its to unmount.
    unmount: cluster
      ? async () => store.unmountMany(await cluster.leasedWorkspaces(), (l, e) => o.log.error(`unmounting workspace ${l.classId}/${l.userId}`, e))
      : () => store.unmountAll(),
  };
}

// The demo class for the embedded default (`npm start`): "Intro to Python", owned by `teacher`,
// student1 and student2 enrolled, ta1 assisting, python@3.11 with the shell toolbox when this host
// has one (tools@1 from `reg ret build --from-deb`, else a bash RET), and a starter hello.py.
// Made once; a toolbox built later is added to a demo class that has none.

import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { findRet, type Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import type { WorkspaceService } from '../workspaces/workspace-service.js';
import { newJoinCode } from './class-service.js';

export const DEMO_CLASS_NAME = 'Intro to Python';
const TOOLBOXES = ['tools', 'toolbox', 'bash'];
const HELLO = '# Run me: python3 hello.py\nname = input("What is your name? ")\nprint(f"Hello, {name}!")\n';

export async function seedDemoClass(db: Db, engine: Engine, workspaces: WorkspaceService, log: Log): Promise<string | undefined> {
  const teacher = await db.user.findUnique({ where: { username: 'teacher' } });
  if (!teacher) return undefined;
  if (!(await findRet(engine.home, 'python@3.11').then(() => true, () => false))) {
    log.info('demo class: no python@3.11 RET here, not created');
    return undefined;
  }
  let toolbox: string | undefined;
  for (const name of TOOLBOXES) {
    const r = await findRet(engine.home, name).catch(() => undefined);
    if (r) {
      toolbox = `${r.name}@${r.version}`;
      break;
    }
  }
  const existing = await db.class.findFirst({ where: { name: DEMO_CLASS_NAME, ownerId: teacher.id } });
  if (existing) {
    if (toolbox && existing.tools === '[]') await db.class.update({ where: { id: existing.id }, data: { tools: JSON.stringify([toolbox]) } });
    return existing.id;
  }
  const id = randomUUID();
  await db.class.create({ data: { id, name: DEMO_CLASS_NAME, ownerId: teacher.id, ret: 'python@3.11', tools: JSON.stringify(toolbox ? [toolbox] : []), joinCode: newJoinCode() } });
  for (const [username, role] of [['student1', 'student'], ['student2', 'student'], ['ta1', 'ta']] as const) {
    const u = await db.user.findUnique({ where: { username } });
    if (u) await db.enrolment.create({ data: { classId: id, userId: u.id, role } });
  }
  const hello = `${workspaces.starterDir(id)}/hello.py`;
  await mkdir(dirname(hello), { recursive: true });
  await writeFile(hello, HELLO, { mode: 0o644 });
  log.info(`demo class "${DEMO_CLASS_NAME}" created (python@3.11${toolbox ? ` + ${toolbox}` : ', no shell toolbox on this host yet'})`);
  return id;
}

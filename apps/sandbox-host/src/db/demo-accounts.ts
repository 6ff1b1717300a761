// Demo accounts for the embedded default, one for every role (student1, student2, ta1 — a student
// who assists the demo class —, teacher — an instructor — and admin), sharing one password
// that is generated at first start (or REG_DEMO_PASSWORD) and kept in the data dir, so `npm start`
// can print how to sign in without anyone editing files.

import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Role } from '@reg/protocol';
import { hashPassword, verifyPassword } from '../auth/password.js';
import type { Db } from './client.js';

export const DEMO_USERS: ReadonlyArray<{ username: string; role: Role }> = [
  { username: 'student1', role: 'student' },
  { username: 'student2', role: 'student' },
  { username: 'ta1', role: 'student' },
  { username: 'teacher', role: 'instructor' },
  { username: 'admin', role: 'admin' },
];

async function demoPassword(dataDir: string, fixed: string | undefined): Promise<string> {
  if (fixed) return fixed;
  const path = join(dataDir, 'demo-password');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const pw = randomBytes(6).toString('base64url');
    await writeFile(path, pw, { mode: 0o600 });
    return pw;
  }
}

/** Creates the demo accounts that are missing (and resets their password if it changed). */
export async function seedDemoAccounts(db: Db, dataDir: string, fixed?: string): Promise<{ password: string; users: typeof DEMO_USERS }> {
  const password = await demoPassword(dataDir, fixed);
  for (const u of DEMO_USERS) {
    const existing = await db.user.findUnique({ where: { username: u.username } });
    if (!existing) {
      await db.user.create({ data: { id: randomUUID(), username: u.username, role: u.role, passwordHash: await hashPassword(password) } });
    } else if (!(await verifyPassword(password, existing.passwordHash))) {
      await db.user.update({ where: { id: existing.id }, data: { passwordHash: await hashPassword(password) } });
    }
  }
  return { password, users: DEMO_USERS };
}

/**
 * A production start (REG_INITIAL_ADMIN_PASSWORD, e.g. from a Kubernetes Secret): no demo accounts,
 * only an `admin` account with that password and the duty to change it at first sign-in, created
 * once when the database has no admin at all and never touched again (a restarted host does not
 * reset what the admin chose). Hosts starting together on one database create it once.
 */
export async function seedInitialAdmin(db: Db, password: string): Promise<{ created: boolean }> {
  if (await db.user.findFirst({ where: { role: 'admin' }, select: { id: true } })) return { created: false };
  try {
    await db.user.create({ data: { id: randomUUID(), username: 'admin', role: 'admin', passwordHash: await hashPassword(password), mustChangePassword: true } });
    return { created: true };
  } catch (e) {
    // P2002: another host created it a moment ago (or a non-admin user is called admin: say so).
    if ((e as { code?: string }).code !== 'P2002') throw e;
    if (await db.user.findFirst({ where: { role: 'admin' }, select: { id: true } })) return { created: false };
    throw new Error("REG_INITIAL_ADMIN_PASSWORD: a user named admin exists but is not an administrator; rename it or give it the admin role (POST /api/admin/users/:userId over the host's unix socket)", { cause: e });
  }
}

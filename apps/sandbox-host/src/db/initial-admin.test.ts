// A production start (REG_INITIAL_ADMIN_PASSWORD): no demo accounts; one `admin` who must choose
// their own password at first sign-in; a restarted host (or a second host on the same database)
// never resets it. On SQLite and on PostgreSQL.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiClient, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';
import { freshPostgresDatabase, postgresSkipReason } from '../test-support/postgres.js';

const INITIAL = 'first-admin-pass-123';
const skip = isRoot ? false : 'needs root (the host opens the engine: cgroups, mounts)';
const pgSkip = await postgresSkipReason();

async function signIn(base: string, username: string, password: string): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  return { status: r.status, json: await r.json() };
}

for (const provider of ['sqlite', 'postgresql'] as const) {
  describe(`first admin from REG_INITIAL_ADMIN_PASSWORD (${provider})`, { skip: skip || (provider === 'postgresql' && pgSkip) }, () => {
    test('only admin exists, must change the password, and keeps the new one across host restarts', async () => {
      const home = await tempRegHome();
      const database = provider === 'postgresql' ? await freshPostgresDatabase() : undefined;
      const env = { REG_INITIAL_ADMIN_PASSWORD: INITIAL, ...(database && { DATABASE_URL: database.url }) };
      let host = await startTestHost(home.dir, env);
      try {
        assert.deepEqual(host.demo.users, [], 'no demo accounts');
        assert.deepEqual((await host.db.user.findMany({ select: { username: true, role: true, mustChangePassword: true } })), [{ username: 'admin', role: 'admin', mustChangePassword: true }]);
        assert.equal((await signIn(host.base, 'student1', 'test-password')).status, 401);

        const first = await signIn(host.base, 'admin', INITIAL);
        assert.equal(first.status, 200);
        assert.equal(first.json.mustChangePassword, true);
        const admin = new ApiClient(host.base, first.json.token);
        assert.equal((await admin.call('GET', '/api/admin/users')).json.error.code, 'PASSWORD_CHANGE_REQUIRED');
        assert.equal((await admin.call('POST', '/api/auth/password', { newPassword: 'the-admins-own-choice' })).status, 200);

        // A restart (and so a second host on this database) neither resets it nor adds accounts.
        await host.close();
        host = await startTestHost(home.dir, env);
        assert.equal((await signIn(host.base, 'admin', INITIAL)).status, 401, 'the initial password is gone');
        const again = await signIn(host.base, 'admin', 'the-admins-own-choice');
        assert.equal(again.status, 200);
        assert.notEqual(again.json.mustChangePassword, true);
        assert.equal(await host.db.user.count(), 1);
        assert.equal((await new ApiClient(host.base, again.json.token).call('GET', '/api/admin/users')).status, 200);
      } finally {
        await host.close();
        await home.cleanup();
        await database?.drop();
      }
    });
  });
}

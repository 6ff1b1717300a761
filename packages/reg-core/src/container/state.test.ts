import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isRegError } from '../errors.js';
import { tempHome } from '../test-support/temp-home.js';
import { loadState, saveState, type ContainerState } from './state.js';

const home = tempHome('reg-state-');
after(() => home.cleanup());

const state = (id: string, name?: string): ContainerState => ({
  id, ...(name && { name }), ret: 'x@1', rets: [], inserted: [], lowerdirs: [], command: ['x'], env: {}, workdir: '/work',
  projectDir: '/nonexistent', ownsProject: true, uid: 200000, gid: 200000, network: 'none', hostname: 'h', limits: {}, tty: false,
  status: 'generated', createdAt: new Date().toISOString(),
});

test('an empty or blank id is an error, never a match for every container', async () => {
  await saveState(home, state('aaaaaaaaaaaa'));
  for (const ref of ['', ' ', '\t']) {
    await assert.rejects(loadState(home, ref), (e) => isRegError(e, 'USAGE') && /empty/.test(e.message));
  }
});

test('an ambiguous prefix names the candidates; a unique one, a full id or a name finds one', async () => {
  await saveState(home, state('abc000000001', 'lab1'));
  await saveState(home, state('abc000000002'));
  await assert.rejects(loadState(home, 'abc'), (e) => isRegError(e, 'USAGE') && /ambiguous.*abc000000001 \(lab1\).*abc000000002/.test(e.message));
  await assert.rejects(loadState(home, 'a'), (e) => isRegError(e, 'USAGE') && /matches 3 containers/.test(e.message));
  assert.equal((await loadState(home, 'abc000000002')).id, 'abc000000002');
  assert.equal((await loadState(home, 'abc0000000021'.slice(0, 12))).id, 'abc000000002');
  assert.equal((await loadState(home, 'aaa')).id, 'aaaaaaaaaaaa');
  assert.equal((await loadState(home, 'lab1')).id, 'abc000000001');
  await assert.rejects(loadState(home, 'zzz'), (e) => isRegError(e, 'CONTAINER_NOT_FOUND'));
});

test("a container's pty limit becomes its devpts max=", async () => {
  const { runArgs } = await import('../launch/plan.js');
  const paths = { upper: '/u', work: '/w', rootfs: '/r', events: '/e', etc: '/etc-x' };
  const args = runArgs({ ...state('bbbbbbbbbbbb'), ptys: 8 }, paths, []);
  assert.equal(args[args.indexOf('--devpts-max') + 1], '8');
});

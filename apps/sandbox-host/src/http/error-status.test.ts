import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegError } from '@reg/core';
import { AccessError } from '../auth/principal.js';
import { errorResponseFor, withoutHostPaths } from './error-status.js';

test('a RET with no command reads as such to a student, whole to an admin', () => {
  const e = new RegError('USAGE', 'demo@1 names no default command', { field: 'command', hint: 'give one: reg run -t REF -- CMD ARGS' });
  const student = errorResponseFor(e, false);
  assert.equal(student.status, 400);
  assert.deepEqual(student.body, { error: { code: 'USAGE', message: 'this RET has no command to run', field: 'command' } });
  assert.equal(student.redacted, true);
  const admin = errorResponseFor(e, true);
  assert.equal(admin.body.error.hint, 'give one: reg run -t REF -- CMD ARGS');
  assert.equal(admin.redacted, false);
});

test('host paths are cut out of messages and issues; operator hints go, plain advice stays', () => {
  const e = new RegError('STORE_IO', 'cannot write /var/lib/reg/containers/abc/state.json: EACCES', {
    hint: 'check the permissions of ${REG_HOME}',
    issues: [{ path: 'files', message: 'missing /tmp/reg-x/ret.yaml' }],
  });
  const r = errorResponseFor(e, false);
  assert.equal(r.status, 500);
  assert.equal(r.body.error.message, 'cannot write (a path on the host): EACCES');
  assert.equal(r.body.error.hint, undefined);
  assert.deepEqual(r.body.error.issues, [{ path: 'files', message: 'missing (a path on the host)' }]);
  const advice = errorResponseFor(new RegError('ILLEGAL_TRANSITION', 'the class is stopping', { hint: 'wait until it has stopped, then start it again' }), false);
  assert.equal(advice.body.error.hint, 'wait until it has stopped, then start it again');
  assert.equal(advice.redacted, false);
  for (const h of ['run `reg store gc`', 'set REG_REGISTRY=HOST/NS', 'edit /etc/reg/limits.json', 'pass --from-host PATH', 'apt-cache policy python3']) {
    assert.equal(errorResponseFor(new RegError('USAGE', 'x', { hint: h }), false).body.error.hint, undefined, h);
  }
  assert.equal(withoutHostPaths('a relative week1/a.py and / and /x stay'), 'a relative week1/a.py and / and /x stay');
});

test('unexpected errors say only that the host failed; access errors are unchanged', () => {
  const r = errorResponseFor(new Error('ENOENT: open /srv/secret/thing'), false);
  assert.equal(r.status, 500);
  assert.doesNotMatch(r.body.error.message, /srv/);
  assert.match(errorResponseFor(new Error('ENOENT: open /srv/secret/thing'), true).body.error.message, /\/srv\/secret/);
  const denied = errorResponseFor(new AccessError('FORBIDDEN', 'not yours', 'ask the owner'), false);
  assert.deepEqual(denied.body, { error: { code: 'FORBIDDEN', message: 'not yours', hint: 'ask the owner' } });
});

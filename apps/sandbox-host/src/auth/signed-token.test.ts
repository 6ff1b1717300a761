import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { TokenSigner } from './signed-token.js';
import { hashPassword, verifyPassword } from './password.js';

const signer = new TokenSigner(randomBytes(32));

test('a signed attach token verifies and names the user and the container', () => {
  const { token } = signer.sign({ kind: 'attach', sub: 'u1', cid: 'abcdefabcdef' }, 60_000);
  const r = signer.verify(token);
  assert.ok(r.ok);
  assert.deepEqual({ kind: r.payload.kind, sub: r.payload.sub, cid: r.payload.kind === 'attach' && r.payload.cid }, { kind: 'attach', sub: 'u1', cid: 'abcdefabcdef' });
});

test('forged, tampered, foreign-key, malformed and expired tokens are refused with a reason', () => {
  const { token } = signer.sign({ kind: 'session', sub: 'u1' }, 60_000);
  const [body, mac] = token.split('.') as [string, string];
  const tampered = Buffer.from(JSON.stringify({ kind: 'session', sub: 'admin', iat: 0, exp: Date.now() + 1e9 })).toString('base64url');
  assert.deepEqual(signer.verify(`${tampered}.${mac}`), { ok: false, reason: 'forged' });
  assert.deepEqual(new TokenSigner(randomBytes(32)).verify(token), { ok: false, reason: 'forged' });
  assert.deepEqual(signer.verify(`${body}`), { ok: false, reason: 'malformed' });
  assert.deepEqual(signer.verify('a.b.c'), { ok: false, reason: 'malformed' });
  assert.deepEqual(signer.verify(''), { ok: false, reason: 'malformed' });
  const old = signer.sign({ kind: 'session', sub: 'u1' }, 1000, Date.now() - 5000);
  assert.deepEqual(signer.verify(old.token), { ok: false, reason: 'expired' });
});

test('scrypt password hashes verify only the right password', async () => {
  const h = await hashPassword('correct horse');
  assert.match(h, /^scrypt\$16384\$8\$1\$/);
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('wrong', h), false);
  assert.equal(await verifyPassword('x', 'garbage'), false);
});

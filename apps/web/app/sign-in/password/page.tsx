'use client';

// Choosing a new password: required after an initial password or a one-time link (then the
// current password is not asked), and available to anyone signed in. The host signs out every
// other session of the account and ends its terminals.

import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useEffect, useState, type FormEvent } from 'react';
import { api } from '@/api-client';
import { accountApi, AdminApiFailure } from '@/clients/admin-client';

function ChangePassword() {
  const router = useRouter();
  const first = useSearchParams().get('first') === '1';
  const [mustChange, setMustChange] = useState(first);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.me().then(
      (u) => setMustChange(Boolean(u.mustChangePassword)),
      () => router.replace('/sign-in'),
    );
  }, [router]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const newPassword = String(f.get('newPassword'));
    if (newPassword !== String(f.get('again'))) return setError('the two new passwords differ');
    setBusy(true);
    setError(null);
    try {
      await accountApi.changePassword({ ...(!mustChange && { oldPassword: String(f.get('oldPassword')) }), newPassword });
      router.replace('/');
    } catch (err) {
      setError(err instanceof AdminApiFailure ? err.message : 'the host does not answer');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="page">
      <title>Choose a password · Reg</title>
      <h1>{mustChange ? 'Choose your password' : 'Change your password'}</h1>
      <form className="card" onSubmit={submit} aria-label="change password">
        {mustChange ? (
          <p className="muted">Your account was given a first password or a sign-in link. Choose your own password to continue.</p>
        ) : (
          <label>
            Current password
            <input name="oldPassword" type="password" autoComplete="current-password" required />
          </label>
        )}
        <label>
          New password (at least 10 characters)
          <input name="newPassword" type="password" autoComplete="new-password" minLength={10} required />
        </label>
        <label>
          New password again
          <input name="again" type="password" autoComplete="new-password" minLength={10} required />
        </label>
        <button className="primary" type="submit" disabled={busy}>
          Save the password
        </button>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <p className="muted small">Your other sessions are signed out and their terminals end.</p>
      </form>
    </main>
  );
}

export default function ChangePasswordPage() {
  return (
    <Suspense>
      <ChangePassword />
    </Suspense>
  );
}

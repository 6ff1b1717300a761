'use client';

import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { api, ApiFailure } from '@/api-client';

export default function SignInPage() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const r = (await api.signIn(String(form.get('username')), String(form.get('password')))) as { mustChangePassword?: boolean };
      // An initial password (an admin's or a roster's) must be replaced before anything else.
      router.push(r.mustChangePassword ? '/sign-in/password?first=1' : '/');
    } catch (err) {
      setError(err instanceof ApiFailure ? err.message : 'the host does not answer');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="page">
      <title>Sign in · Reg</title>
      <h1>Reg</h1>
      <form className="card" onSubmit={submit} aria-label="sign in">
        <label>
          Username
          <input name="username" autoComplete="username" required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <button className="primary" type="submit" disabled={busy}>
          Sign in
        </button>
        {error && <p className="error" role="alert">{error}</p>}
        <p className="muted">Your instructor gives you your username and password, or a one-time sign-in link.</p>
      </form>
    </main>
  );
}

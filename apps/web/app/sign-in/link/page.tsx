'use client';

// A one-time sign-in link lands here: the token is in the URL's fragment (never sent to a server
// by the browser, so it reaches no log), posted once to the host, which opens a session. Accounts
// with an initial password go on to choose their own.

import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import { accountApi, AdminApiFailure } from '@/clients/admin-client';

export default function LinkSignInPage() {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const used = useRef(false);

  useEffect(() => {
    if (used.current) return; // React's dev double-effect must not spend the link twice
    used.current = true;
    const token = window.location.hash.slice(1);
    history.replaceState(null, '', window.location.pathname);
    if (!token) return setError('this link has no sign-in token: copy the whole link you were given');
    accountApi.linkSignIn(token).then(
      (r) => router.replace(r.mustChangePassword ? '/sign-in/password?first=1' : '/'),
      (e) => setError(e instanceof AdminApiFailure ? `${e.message}${e.hint ? ` — ${e.hint}` : ''}` : 'the host does not answer'),
    );
  }, [router]);

  return (
    <main className="page">
      <title>Signing in · Reg</title>
      <h1>Reg</h1>
      <section className="card">
        {error ? (
          <>
            <p className="error" role="alert">
              {error}
            </p>
            <a href="/sign-in">Sign in with a password instead</a>
          </>
        ) : (
          <p className="muted">Signing you in…</p>
        )}
      </section>
    </main>
  );
}

'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import type { ContainerView, UserView } from '@reg/protocol';
import { api, ApiFailure, TERMINAL_KINDS } from '@/api-client';
import MyClasses from '@/components/my-classes';
import TerminalList from '@/components/terminal-list';

type Kind = keyof typeof TERMINAL_KINDS;

export default function StartPage() {
  const router = useRouter();
  const [user, setUser] = useState<UserView | null>(null);
  const [open, setOpen] = useState<ContainerView[]>([]);
  const [busy, setBusy] = useState<Kind | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api
      .me()
      .then(async (u) => {
        setUser(u);
        setOpen((await api.containers()).filter((c) => c.attachable && c.owner === u.username));
      })
      .catch((e) => {
        if (e instanceof ApiFailure && e.status === 401) router.replace('/sign-in');
        else setError('the host does not answer');
      });
  }, [router]);

  async function openTerminal(kind: Kind) {
    setBusy(kind);
    setError(null);
    try {
      // The command comes from the environment (the RET's own), never from the browser.
      const { ret } = TERMINAL_KINDS[kind];
      const c = await api.create({ ret });
      router.push(`/terminal/${c.id}`);
    } catch (e) {
      setError(e instanceof ApiFailure ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : String(e));
      setBusy(null);
    }
  }

  if (!user) return <main className="page">{error ? <p className="error">{error}</p> : <p className="muted">Loading…</p>}</main>;
  return (
    <main className="page">
      <title>Your terminals · Reg</title>
      <div className="row">
        <h1>Reg</h1>
        <span className="spacer" style={{ flex: 1 }} />
        <span className="muted">
          {user.username} ({user.role})
        </span>
        <button onClick={() => api.signOut().then(() => router.replace('/sign-in'))}>Sign out</button>
      </div>
      <MyClasses teaching={user.role !== 'student'} />
      <section className="card" style={{ marginTop: '1rem' }}>
        <p>Open a terminal in a fresh container:</p>
        <div className="row">
          {(Object.keys(TERMINAL_KINDS) as Kind[]).map((k) => (
            <button key={k} className="primary" disabled={busy !== null} onClick={() => openTerminal(k)} data-kind={k}>
              {busy === k ? 'Starting…' : TERMINAL_KINDS[k].label}
            </button>
          ))}
        </div>
        {error && <p className="error" role="alert">{error}</p>}
      </section>
      <TerminalList terminals={open} onEnded={(id) => setOpen((o) => o.filter((c) => c.id !== id))} />
    </main>
  );
}

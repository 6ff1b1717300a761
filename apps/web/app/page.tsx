'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import type { ClassView, ContainerView, UserView } from '@reg/protocol';
import { api, ApiFailure, TERMINAL_KINDS } from '@/api-client';
import { classApi } from '@/clients/class-client';
import MyClasses from '@/components/my-classes';
import TerminalList from '@/components/terminal-list';

type Kind = keyof typeof TERMINAL_KINDS;

export default function StartPage() {
  const router = useRouter();
  const [user, setUser] = useState<UserView | null>(null);
  const [open, setOpen] = useState<ContainerView[]>([]);
  const [classes, setClasses] = useState<ClassView[]>([]);
  const [busy, setBusy] = useState<Kind | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api
      .me()
      .then(async (u) => {
        setUser(u);
        const [cs, cls] = await Promise.all([api.containers(), classApi.list().catch(() => [] as ClassView[])]);
        setClasses(cls);
        setOpen(cs.filter((c) => c.attachable && c.owner === u.username));
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

  // A student in a class: the class comes first and the scratch prompts are secondary.
  const inClass = classes.some((c) => c.role === 'student');
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
      <section className="card scratch" style={{ marginTop: '1rem' }} aria-labelledby="scratch">
        <h2 id="scratch">Scratch terminals</h2>
        <p className="muted">
          A Python or Node prompt in a fresh container, to try something out: its files are not kept.
          {inClass && ' Class work belongs in your class terminal above, where your files are kept.'}
        </p>
        <div className="row">
          {(Object.keys(TERMINAL_KINDS) as Kind[]).map((k) => (
            <button key={k} className={inClass ? undefined : 'primary'} disabled={busy !== null} onClick={() => openTerminal(k)} data-kind={k}>
              {busy === k ? 'Starting…' : TERMINAL_KINDS[k].label}
            </button>
          ))}
        </div>
        {error && <p className="error" role="alert">{error}</p>}
      </section>
      <TerminalList terminals={open} classNames={new Map(classes.map((c) => [c.id, c.name]))} onEnded={(id) => setOpen((o) => o.filter((c) => c.id !== id))} />
    </main>
  );
}

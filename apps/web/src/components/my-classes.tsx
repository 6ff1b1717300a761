'use client';

// "Your classes" on the start page: each class a student attends with "Open terminal" (a login
// shell in their workspace, in the class environment) and "Download my files"; classes one
// assists or teaches link to their class page; a join-code box for joining a new one.

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState, type FormEvent } from 'react';
import type { ClassView } from '@reg/protocol';
import { classApi, describeFailure } from '@/clients/class-client';

export function runtimeLabel(env: { ret: string; tools: string[] }): string {
  const name = env.ret.split('@')[0] ?? env.ret;
  const runtime = name === 'python' ? 'Python' : name === 'node' ? 'Node' : name;
  return `${runtime} ${env.ret.split('@')[1] ?? ''}`.trim() + (env.tools.length ? ` + ${env.tools.join(', ')}` : '');
}

export default function MyClasses({ teaching = false }: { teaching?: boolean }) {
  const router = useRouter();
  const [classes, setClasses] = useState<ClassView[] | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState('');
  const [joined, setJoined] = useState('');

  const load = () => classApi.list().then(setClasses, (e) => setError(describeFailure(e)));
  useEffect(() => {
    void load();
  }, []);

  async function open(c: ClassView) {
    setBusy(c.id);
    setError('');
    try {
      const t = await classApi.openTerminal(c.id);
      router.push(`/terminal/${t.id}`);
    } catch (e) {
      setError(`${c.name}: ${describeFailure(e)}`);
      setBusy(null);
    }
  }

  async function join(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const code = String(new FormData(form).get('code') ?? '').trim();
    if (!code) return;
    setError('');
    try {
      const c = await classApi.join(code);
      setJoined(`You joined ${c.name}.`);
      form.reset();
      await load();
    } catch (err) {
      setError(describeFailure(err));
    }
  }

  return (
    <section className="card" aria-labelledby="my-classes">
      <div className="row">
        <h2 id="my-classes">Your classes</h2>
        <span className="spacer" />
        {teaching && <Link href="/teach">Teaching: manage and create classes →</Link>}
      </div>
      {classes === null && !error && <p className="muted">Loading…</p>}
      {classes?.length === 0 && <p className="muted">You are in no class yet. Ask your instructor for a join code.</p>}
      {classes && classes.length > 0 && (
        <ul className="class-list">
          {classes.map((c) => (
            <li key={c.id} data-class={c.name}>
              <div>
                <strong>{c.name}</strong>
                <div className="muted small">
                  {runtimeLabel(c.environment)} · {c.role === 'student' ? `taught by ${c.owner}` : c.role === 'ta' ? 'you assist' : 'you teach'}
                  {c.run?.status === 'started' && <span className="ok"> · class started</span>}
                </div>
              </div>
              <span className="spacer" />
              {c.role !== 'student' && <Link href={`/teach/${c.id}`}>Class page</Link>}
              {c.role === 'student' && <Link href={`/follow/${c.id}`}>Follow {c.owner}</Link>}
              <a href={classApi.myWorkspaceUrl(c.id)} download>
                Download my files
              </a>
              <button className="primary" disabled={busy !== null} onClick={() => open(c)}>
                {busy === c.id ? 'Opening…' : 'Open terminal'}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="row" onSubmit={join}>
        <label className="inline">
          Join a class
          <input name="code" placeholder="join code" autoComplete="off" maxLength={32} style={{ textTransform: 'uppercase', width: '9rem' }} />
        </label>
        <button type="submit">Join</button>
        {joined && <span className="ok">{joined}</span>}
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

'use client';

// The instructor's home: the classes they teach or assist (archived ones on request) and a form
// to create a class from the runtimes and tools this host has.

import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect, useState, type FormEvent } from 'react';
import type { ClassView } from '@reg/protocol';
import { classApi, describeFailure } from '@/clients/class-client';
import { runtimeLabel } from '@/components/my-classes';
import Nav from '@/components/nav';

type Ret = { name: string; version: string; description?: string };
const RUNTIMES = new Set(['python', 'node']);

export default function TeachHome() {
  const router = useRouter();
  const [classes, setClasses] = useState<ClassView[] | null>(null);
  const [rets, setRets] = useState<Ret[]>([]);
  const [archived, setArchived] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    classApi.list(archived).then((cs) => setClasses(cs.filter((c) => c.role !== 'student')), (e) => setError(describeFailure(e)));
  }, [archived]);
  useEffect(() => {
    classApi.rets().then(setRets, () => {});
  }, []);

  const runtimes = rets.filter((r) => RUNTIMES.has(r.name));
  const tools = rets.filter((r) => !RUNTIMES.has(r.name) && !r.name.startsWith('env-') && !r.name.startsWith('lib') && r.name !== 'rootfs' && r.name !== 'tzdata' && r.name !== 'ca-certificates' && r.name !== 'ld-linux-x86-64');

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setBusy(true);
    setError('');
    try {
      const c = await classApi.create({ name: String(f.get('name') ?? ''), ret: String(f.get('ret') ?? ''), tools: f.getAll('tools').map(String) });
      router.push(`/teach/${c.id}`);
    } catch (err) {
      setError(describeFailure(err));
      setBusy(false);
    }
  }

  return (
    <>
      <Nav />
      <main className="page wide">
        <h1>Teaching</h1>
        <section className="card" aria-labelledby="your-classes">
          <div className="row">
            <h2 id="your-classes">Your classes</h2>
            <span className="spacer" />
            <label className="inline">
              <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} /> show archived
            </label>
          </div>
          {classes === null && !error && <p className="muted">Loading…</p>}
          {classes?.length === 0 && <p className="muted">No classes yet: create one below.</p>}
          {classes && classes.length > 0 && (
            <table className="roster">
              <thead>
                <tr>
                  <th>Class</th>
                  <th>Environment</th>
                  <th>Students</th>
                  <th>Your role</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {classes.map((c) => (
                  <tr key={c.id}>
                    <td>
                      <Link href={`/teach/${c.id}`}>{c.name}</Link>
                    </td>
                    <td>{runtimeLabel(c.environment)}</td>
                    <td>{c.students}</td>
                    <td>{c.role === 'ta' ? 'TA' : 'instructor'}</td>
                    <td>{c.archived ? <span className="muted">archived</span> : c.run?.status === 'started' || c.run?.status === 'starting' ? <span className="ok">{c.run.status}</span> : <span className="muted">not started</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <form className="card" onSubmit={create} aria-labelledby="new-class" style={{ marginTop: '1rem' }}>
          <h2 id="new-class">New class</h2>
          <label>
            Name
            <input name="name" required maxLength={120} placeholder="Intro to Python" />
          </label>
          <label>
            Runtime
            <select name="ret" required>
              {runtimes.map((r) => (
                <option key={`${r.name}@${r.version}`} value={`${r.name}@${r.version.split('.').slice(0, 2).join('.')}`}>
                  {r.name} {r.version}
                </option>
              ))}
            </select>
          </label>
          {tools.length > 0 && (
            <fieldset className="tools">
              <legend className="muted">Tools beside the runtime (a shell and an editor make it a real terminal)</legend>
              {tools.map((r) => (
                <label key={`${r.name}@${r.version}`} className="inline">
                  <input type="checkbox" name="tools" value={`${r.name}@${r.version}`} defaultChecked={r.name.startsWith('tools') || r.name === 'bash'} />
                  {r.name} {r.version}
                  {r.description && <span className="muted small"> · {r.description}</span>}
                </label>
              ))}
            </fieldset>
          )}
          <div className="row">
            <button className="primary" type="submit" disabled={busy || runtimes.length === 0}>
              {busy ? 'Creating…' : 'Create class'}
            </button>
          </div>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
        </form>
      </main>
    </>
  );
}

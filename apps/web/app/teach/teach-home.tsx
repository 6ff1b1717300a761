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

type Ret = { name: string; version: string; description?: string; kind?: string; requires?: string[] };
const RUNTIMES = ['python', 'node'];
const nameOf = (ref: string) => ref.split('@')[0];

/**
 * What the new-class form offers beside the runtime: bundles (tools@1) first, then course packages
 * (kind `package`) that no other package pulls in. The parts of a bundle and packages' dependencies
 * (bash, vim-common, base-files…) are under "more packages"; libraries, base files, data, runtime
 * bundles (python-tools) and class environments (env-…) are not tools.
 */
function toolChoices(rets: Ret[]): { main: Ret[]; more: Ret[] } {
  const isTool = (r: Ret) =>
    !RUNTIMES.includes(r.name) &&
    !r.name.startsWith('env-') &&
    // A program built from this host (bash) is a runtime RET too; a runtime bundle (python-tools) is not a tool.
    (r.kind ? r.kind === 'package' || (r.kind === 'runtime' && !(r.requires ?? []).some((q) => RUNTIMES.includes(nameOf(q)))) : !r.name.startsWith('lib') && !r.name.endsWith('-tools') && !['rootfs', 'tzdata', 'ca-certificates', 'ld-linux-x86-64'].includes(r.name));
  const packages = rets.filter(isTool);
  const pulledIn = new Set(packages.flatMap((r) => (r.requires ?? []).map(nameOf)));
  // Debian names its shared-library packages lib*: a course wants the program, not the library.
  const hidden = (r: Ret) => pulledIn.has(r.name) || r.name.startsWith('lib');
  const main = packages.filter((r) => !hidden(r));
  const bundle = (r: Ret) => (r.name === 'tools' ? 0 : 1);
  main.sort((a, b) => bundle(a) - bundle(b) || a.name.localeCompare(b.name));
  return { main, more: packages.filter(hidden) };
}

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

  // Python first (the usual first course), then Node.
  const runtimes = rets.filter((r) => RUNTIMES.includes(r.name) && (!r.kind || r.kind === 'runtime')).sort((a, b) => RUNTIMES.indexOf(a.name) - RUNTIMES.indexOf(b.name));
  const tools = toolChoices(rets);
  const hasBundle = tools.main.some((r) => r.name === 'tools');

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
          {tools.main.length + tools.more.length > 0 && (
            <fieldset className="tools">
              <legend className="muted">Tools beside the runtime (a shell and an editor make it a real terminal)</legend>
              {tools.main.map((r) => (
                <ToolChoice key={`${r.name}@${r.version}`} ret={r} checked={r.name === 'tools' || (!hasBundle && r.name === 'bash')} />
              ))}
              {tools.more.length > 0 && (
                <details>
                  <summary className="muted small">
                    {tools.more.length} more package{tools.more.length === 1 ? '' : 's'} (parts of the bundles above, libraries, dependencies)
                  </summary>
                  {tools.more.map((r) => (
                    <ToolChoice key={`${r.name}@${r.version}`} ret={r} checked={!hasBundle && r.name === 'bash'} />
                  ))}
                </details>
              )}
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

function ToolChoice({ ret: r, checked }: { ret: Ret; checked: boolean }) {
  return (
    <label className="inline">
      <input type="checkbox" name="tools" value={`${r.name}@${r.version}`} defaultChecked={checked} />
      {r.name} {r.version}
      {r.description && <span className="muted small"> · {r.description}</span>}
    </label>
  );
}

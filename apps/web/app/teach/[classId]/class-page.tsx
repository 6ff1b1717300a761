'use client';

// A class for its instructor (and, read-only where it must be, its TAs): Start/Stop class with
// live progress, the join code, the roster (import a CSV, add TAs, download a student's files),
// the environment editor, starter files, distribute and collect, add a package now, archive.

import Link from 'next/link';
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import type { ClassRunView, ClassView, MemberView, RosterReply } from '@reg/protocol';
import { ClassApiFailure, classApi, describeFailure } from '@/clients/class-client';
import { runtimeLabel } from '@/components/my-classes';
import Nav from '@/components/nav';

const MiB = 1024 * 1024;
/** An ISO time as a datetime-local input's value, in the browser's zone. */
const localInput = (iso: string) => {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const size = (b: number) => (b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${Math.ceil(b / 1024)} KiB`);

export default function ClassPage({ classId }: { classId: string }) {
  const [cls, setCls] = useState<ClassView | null>(null);
  const [error, setError] = useState('');
  // Bumped when a class start or stop settles: the roster's Workspace column then shows what it made.
  const [rosterTick, setRosterTick] = useState(0);
  const rosterChanged = useCallback(() => setRosterTick((t) => t + 1), []);
  const reload = useCallback(() => classApi.get(classId).then(setCls, (e) => setError(describeFailure(e))), [classId]);
  useEffect(() => {
    void reload();
  }, [reload]);

  if (!cls)
    return (
      <>
        <Nav />
        <main className="page wide">{error ? <p className="error">{error}</p> : <p className="muted">Loading…</p>}</main>
      </>
    );
  if (cls.role === 'student')
    return (
      <>
        <Nav />
        <title>{`${cls.name} · Reg`}</title>
        <main className="page" data-testid="staff-only">
          <h1>{cls.name}</h1>
          <p>This page is for the class&apos;s instructors and TAs.</p>
          <p>
            <Link href="/">Back to your classes</Link>
          </p>
        </main>
      </>
    );
  const manage = cls.role === 'instructor';
  return (
    <>
      <Nav />
      <title>{`${cls.name} · Reg`}</title>
      <main className="page wide class-page">
        <div className="row">
          <h1>{cls.name}</h1>
          {cls.archived && <span className="badge">archived</span>}
          <span className="spacer" />
          <Link href={`/teach/${cls.id}/live`}>Live class view</Link>
        </div>
        <p className="muted">
          {runtimeLabel(cls.environment)} · {cls.students} student{cls.students === 1 ? '' : 's'}, {cls.tas} TA{cls.tas === 1 ? '' : 's'} · instructor {cls.owner}
          {!manage && ' · you assist this class'}
        </p>
        <RunPanel cls={cls} manage={manage && !cls.archived} onSettled={rosterChanged} />
        {manage && <JoinCode cls={cls} onChange={reload} />}
        <Roster cls={cls} manage={manage && !cls.archived} onChange={reload} tick={rosterTick} />
        {manage && !cls.archived && <Environment cls={cls} onSaved={setCls} />}
        <StarterFiles cls={cls} manage={manage && !cls.archived} />
        {manage && !cls.archived && <DistributeCollect cls={cls} />}
        {manage && <Archive cls={cls} onChange={setCls} />}
      </main>
    </>
  );
}

function RunPanel({ cls, manage, onSettled }: { cls: ClassView; manage: boolean; onSettled: () => void }) {
  const [run, setRun] = useState<ClassRunView | null>(cls.run);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const wasBusy = useRef(false);

  const poll = useCallback(async () => {
    clearTimeout(timer.current);
    try {
      const r = await classApi.run(cls.id);
      setRun(r);
      const busy = !!r && (r.status === 'starting' || r.status === 'stopping');
      if (busy) timer.current = setTimeout(poll, 500);
      else if (wasBusy.current) onSettled();
      wasBusy.current = busy;
    } catch {
      timer.current = setTimeout(poll, 2000);
    }
  }, [cls.id, onSettled]);
  useEffect(() => {
    void poll();
    return () => clearTimeout(timer.current);
  }, [poll]);

  async function act(what: 'start' | 'stop') {
    setBusy(true);
    setMsg('');
    try {
      if (what === 'start') {
        const r = await classApi.start(cls.id);
        if (r.already) setMsg('The class is already started.');
        setRun(r.run);
      } else {
        const r = await classApi.stop(cls.id);
        setMsg(`Class stopped: ${r.ended} terminal${r.ended === 1 ? '' : 's'} ended; every workspace is kept.`);
        setRun(r.run);
      }
      void poll();
    } catch (e) {
      setMsg(describeFailure(e));
    } finally {
      setBusy(false);
    }
  }

  const live = run && (run.status === 'starting' || run.status === 'started');
  const pct = run && run.total > 0 ? Math.round(((run.ready + run.failed) / run.total) * 100) : 0;
  return (
    <section className="card" aria-labelledby="run">
      <div className="row">
        <h2 id="run">Class session</h2>
        <span className="spacer" />
        {manage && (
          <>
            <button className="primary" disabled={busy || !!live} onClick={() => act('start')}>
              Start class
            </button>
            <button disabled={busy || !live} onClick={() => act('stop')}>
              Stop class
            </button>
          </>
        )}
      </div>
      {!run && <p className="muted">Not started. Start class prepares every student&apos;s environment ahead of time, so their terminals open at once.</p>}
      {run && (
        <div className="run" data-status={run.status}>
          <p role="status" aria-live="polite">
            <strong className={`run-${run.status}`}>{run.status}</strong> ·{' '}
            <span data-testid="run-progress">
              {run.ready} of {run.total} ready
            </span>
            {run.failed > 0 && <span className="error"> · {run.failed} failed</span>}
            {run.startedBy && <span className="muted"> · started by {run.startedBy} at {new Date(run.startedAt).toLocaleTimeString()}</span>}
          </p>
          <progress max={100} value={pct} aria-label="students ready" />
          {run.failures.length > 0 && (
            <ul className="failures">
              {run.failures.map((f) => (
                <li key={f.userId}>
                  <strong>{f.username}</strong>: {f.message} <span className="muted">({f.code})</span>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {msg && <p className="muted">{msg}</p>}
    </section>
  );
}

function JoinCode({ cls, onChange }: { cls: ClassView; onChange: () => void }) {
  const [error, setError] = useState('');
  const act = (a: 'rotate' | 'disable') =>
    classApi.joinCode(cls.id, a).then(
      () => onChange(),
      (e) => setError(describeFailure(e)),
    );
  return (
    <section className="card" aria-labelledby="join">
      <h2 id="join">Join code</h2>
      <div className="row">
        {cls.joinCode ? <code className="join-code">{cls.joinCode}</code> : <span className="muted">Disabled: students join by roster only.</span>}
        <span className="spacer" />
        {!cls.archived && <button onClick={() => act('rotate')}>{cls.joinCode ? 'New code' : 'Enable'}</button>}
        {cls.joinCode && <button onClick={() => act('disable')}>Disable</button>}
      </div>
      {error && <p className="error">{error}</p>}
    </section>
  );
}

function Roster({ cls, manage, onChange, tick }: { cls: ClassView; manage: boolean; onChange: () => void; tick: number }) {
  const [members, setMembers] = useState<MemberView[] | null>(null);
  const [error, setError] = useState('');
  const [issues, setIssues] = useState<Array<{ path: string; message: string }>>([]);
  const [imported, setImported] = useState<RosterReply | null>(null);
  const load = useCallback(() => classApi.members(cls.id).then(setMembers, (e) => setError(describeFailure(e))), [cls.id]);
  useEffect(() => {
    void load();
  }, [load, tick]);
  const changed = (ms: MemberView[]) => {
    setMembers(ms);
    onChange();
  };

  async function importFile(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const file = (e.currentTarget.elements.namedItem('roster') as HTMLInputElement).files?.[0];
    const credentials = new FormData(e.currentTarget).get('credentials') === 'link' ? 'link' : 'password';
    if (!file) return;
    setError('');
    setIssues([]);
    setImported(null);
    try {
      setImported(await classApi.importRoster(cls.id, file, credentials));
      await load();
      onChange();
    } catch (err) {
      setError(describeFailure(err));
      if (err instanceof ClassApiFailure) setIssues(err.issues);
    }
  }

  async function add(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError('');
    try {
      changed(await classApi.addMember(cls.id, String(f.get('username') ?? ''), f.get('role') === 'ta' ? 'ta' : 'student'));
    } catch (err) {
      setError(describeFailure(err));
    }
  }

  // One student's own memory limit over the class's (e.g. a student whose project needs more).
  const setMemory = (m: MemberView) => {
    const now = m.limits?.memoryBytes ? String(Math.round(m.limits.memoryBytes / 2 ** 20)) : '';
    const answer = prompt(`Memory for ${m.username}'s terminals in ${cls.name}, in MiB (empty: the class's limit). Applies to their next terminal.`, now);
    if (answer === null) return;
    const mib = answer.trim() === '' ? undefined : Number(answer);
    if (mib !== undefined && !(Number.isFinite(mib) && mib > 0)) return setError(`"${answer}" is not a number of MiB`);
    const limits = { ...(m.limits ?? {}) };
    if (mib === undefined) delete limits.memoryBytes;
    else limits.memoryBytes = Math.round(mib * 2 ** 20);
    classApi.setMemberLimits(cls.id, m.userId, limits).then(changed, (e) => setError(describeFailure(e)));
  };

  const remove = (m: MemberView) => {
    if (!confirm(`Remove ${m.username} from ${cls.name}? Their workspace is kept.`)) return;
    classApi.removeMember(cls.id, m.userId).then(changed, (e) => setError(describeFailure(e)));
  };

  return (
    <section className="card" aria-labelledby="roster">
      <h2 id="roster">Roster</h2>
      {members && (
        <table className="roster">
          <thead>
            <tr>
              <th>Username</th>
              <th>Name</th>
              <th>Role</th>
              <th>Workspace</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.userId} data-username={m.username}>
                <td>{m.username}</td>
                <td>{m.displayName ?? <span className="muted">—</span>}</td>
                <td>{m.role === 'ta' ? 'TA' : m.role}</td>
                <td>{m.role === 'instructor' ? <span className="muted">—</span> : m.workspace ? <a href={classApi.studentWorkspaceUrl(cls.id, m.userId)}>{m.workspace.bytesUsed ? size(m.workspace.bytesUsed) : 'download'}</a> : <span className="muted">none yet</span>}</td>
                <td className="actions">
                  {manage && m.role === 'student' && (
                    <button className="small" onClick={() => setMemory(m)} title="this student's own memory limit in the class">
                      {m.limits?.memoryBytes ? `${Math.round(m.limits.memoryBytes / 2 ** 20)} MiB` : 'Limits'}
                    </button>
                  )}{' '}
                  {manage && m.role !== 'instructor' && <button className="small" onClick={() => remove(m)}>Remove</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {manage && (
        <>
          <form className="row" onSubmit={importFile}>
            <label className="inline">
              Import a roster (CSV: username, display name, email)
              <input type="file" name="roster" accept=".csv,text/csv,text/plain" required />
            </label>
            <select name="credentials" defaultValue="password" aria-label="new accounts get">
              <option value="password">new accounts: initial password</option>
              <option value="link">new accounts: one-time sign-in link</option>
            </select>
            <button type="submit">Import</button>
          </form>
          <form className="row" onSubmit={add}>
            <label className="inline">
              Add
              <input name="username" placeholder="username" required style={{ width: '10rem' }} />
            </label>
            <select name="role" defaultValue="ta" aria-label="role">
              <option value="ta">as TA</option>
              <option value="student">as student</option>
            </select>
            <button type="submit">Add</button>
          </form>
        </>
      )}
      {error && (
        <div className="error" role="alert">
          <p>{error}</p>
          {issues.length > 0 && (
            <ul className="issues">
              {issues.map((i) => (
                <li key={`${i.path}${i.message}`}>
                  <strong>{i.path}</strong>: {i.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {imported && (
        <div className="imported" role="status">
          <p className="ok">
            Imported: {imported.created.length} new account{imported.created.length === 1 ? '' : 's'}, {imported.enrolled.length} existing user{imported.enrolled.length === 1 ? '' : 's'} enrolled, {imported.unchanged.length} already in the class.
          </p>
          {imported.created.length > 0 && (
            <>
              <p className="warn">Hand these out now: they are shown only once (each student chooses a password at first sign-in).</p>
              <table className="roster credentials">
                <tbody>
                  {imported.created.map((c) => (
                    <tr key={c.username}>
                      <td>{c.username}</td>
                      <td>{c.displayName}</td>
                      <td>
                        <code>{c.password ?? (c.signInLink && `${window.location.origin}${c.signInLink}`)}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </div>
      )}
    </section>
  );
}

function Environment({ cls, onSaved }: { cls: ClassView; onSaved: (c: ClassView) => void }) {
  const env = cls.environment;
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const num = (v: FormDataEntryValue | null) => (v === null || String(v).trim() === '' ? null : Number(v));

  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setMsg('');
    setError('');
    const memMiB = num(f.get('memoryMiB'));
    const pids = num(f.get('pids'));
    const cpus = num(f.get('cpus'));
    const idleMin = num(f.get('idleMinutes'));
    try {
      const c = await classApi.updateEnvironment(cls.id, {
        name: String(f.get('name') ?? cls.name),
        ret: String(f.get('ret') ?? env.ret),
        tools: String(f.get('tools') ?? '')
          .split(/[\s,]+/)
          .filter(Boolean),
        limits: { ...(memMiB !== null && { memoryBytes: memMiB * MiB }), ...(pids !== null && { pids }), ...(cpus !== null && { cpus }) },
        workspaceQuotaMiB: num(f.get('quotaMiB')),
        maxContainersPerStudent: num(f.get('maxContainers')),
        idleTimeoutSeconds: idleMin === null ? null : idleMin * 60,
        idleWarnSeconds: num(f.get('idleWarn')),
        scheduledStartAt: f.get('scheduledStartAt') ? new Date(String(f.get('scheduledStartAt'))).toISOString() : null,
      });
      onSaved(c);
      setMsg('Saved: terminals opened from now on use it.');
    } catch (err) {
      setError(describeFailure(err));
    }
  }

  return (
    <form className="card environment" onSubmit={save} aria-labelledby="environment">
      <h2 id="environment">Environment</h2>
      <div className="grid2">
        <label>
          Name
          <input name="name" defaultValue={cls.name} required maxLength={120} />
        </label>
        <label>
          Runtime
          <input name="ret" defaultValue={env.ret} required />
        </label>
        <label>
          Tools (RETs, separated by spaces)
          <input name="tools" defaultValue={env.tools.join(' ')} />
        </label>
        <label>
          Memory per terminal (MiB)
          <input name="memoryMiB" type="number" min={16} defaultValue={env.limits.memoryBytes ? env.limits.memoryBytes / MiB : ''} placeholder="admin default" />
        </label>
        <label>
          Processes per terminal
          <input name="pids" type="number" min={8} defaultValue={env.limits.pids ?? ''} placeholder="admin default" />
        </label>
        <label>
          CPUs per terminal
          <input name="cpus" type="number" min={0.1} step={0.1} defaultValue={env.limits.cpus ?? ''} placeholder="admin default" />
        </label>
        <label>
          Workspace quota (MiB)
          <input name="quotaMiB" type="number" min={1} defaultValue={env.workspaceQuotaMiB ?? ''} placeholder="512" />
        </label>
        <label>
          Terminals per student at once
          <input name="maxContainers" type="number" min={1} max={64} defaultValue={env.maxContainersPerStudent ?? ''} placeholder="admin default" />
        </label>
        <label>
          End idle terminals after (minutes)
          <input name="idleMinutes" type="number" min={0} defaultValue={env.idleTimeoutSeconds != null ? env.idleTimeoutSeconds / 60 : ''} placeholder="host default" />
        </label>
        <label>
          Warn before ending (seconds)
          <input name="idleWarn" type="number" min={0} defaultValue={env.idleWarnSeconds ?? ''} placeholder="60" />
        </label>
        <label>
          Next session starts at (prepared 5 minutes before)
          <input name="scheduledStartAt" type="datetime-local" defaultValue={env.scheduledStartAt ? localInput(env.scheduledStartAt) : ''} />
        </label>
      </div>
      <p className="muted small">Limits stay within the administrator&apos;s ceilings; students cannot choose their own.</p>
      <div className="row">
        <button className="primary" type="submit">
          Save environment
        </button>
        {msg && <span className="ok">{msg}</span>}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <AddPackage cls={cls} onSaved={onSaved} />
    </form>
  );
}

function AddPackage({ cls, onSaved }: { cls: ClassView; onSaved: (c: ClassView) => void }) {
  const [ret, setRet] = useState('');
  const [msg, setMsg] = useState('');
  async function add() {
    if (!ret.trim()) return;
    setMsg('');
    try {
      const r = await classApi.addPackage(cls.id, ret.trim());
      onSaved({ ...cls, environment: r.environment });
      setMsg(`${r.ret} added to the environment and to ${r.inserted} running terminal${r.inserted === 1 ? '' : 's'}${r.failures.length ? `; ${r.failures.length} failed: ${r.failures.map((f) => `${f.username} (${f.message})`).join('; ')}` : ''}.`);
    } catch (e) {
      setMsg(describeFailure(e));
    }
  }
  return (
    <div className="row">
      <label className="inline">
        Add a package now
        <input value={ret} onChange={(e) => setRet(e.target.value)} placeholder="python3-numpy" style={{ width: '12rem' }} />
      </label>
      <button type="button" onClick={add}>
        Add to every terminal
      </button>
      {msg && <span className="muted">{msg}</span>}
    </div>
  );
}

function StarterFiles({ cls, manage }: { cls: ClassView; manage: boolean }) {
  const [files, setFiles] = useState<Array<{ path: string; bytes: number }>>([]);
  const [error, setError] = useState('');
  const load = useCallback(() => classApi.starterFiles(cls.id).then(setFiles, (e) => setError(describeFailure(e))), [cls.id]);
  useEffect(() => {
    void load();
  }, [load]);
  async function upload(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const input = form.elements.namedItem('file') as HTMLInputElement;
    setError('');
    try {
      for (const f of Array.from(input.files ?? [])) await classApi.putStarterFile(cls.id, f.webkitRelativePath || f.name, f);
      form.reset();
      await load();
    } catch (err) {
      setError(describeFailure(err));
    }
  }
  return (
    <section className="card" aria-labelledby="starter">
      <h2 id="starter">Starter files</h2>
      <p className="muted small">Copied into each student&apos;s workspace when it is made; never over a student&apos;s own file.</p>
      {files.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="files">
          {files.map((f) => (
            <li key={f.path}>
              <code>{f.path}</code> <span className="muted">{size(f.bytes)}</span>{' '}
              {manage && (
                <button className="small" onClick={() => classApi.deleteStarterFile(cls.id, f.path).then(load, (e) => setError(describeFailure(e)))}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {manage && (
        <form className="row" onSubmit={upload}>
          <input type="file" name="file" multiple required aria-label="starter files" />
          <button type="submit">Upload</button>
        </form>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
}

function DistributeCollect({ cls }: { cls: ClassView }) {
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const [collectPath, setCollectPath] = useState('');
  async function distribute(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const file = (form.elements.namedItem('file') as HTMLInputElement).files?.[0];
    const folder = Array.from((form.elements.namedItem('folder') as HTMLInputElement).files ?? []);
    const dest = String(new FormData(form).get('dest') ?? '').trim();
    if (!file && folder.length === 0) return;
    setMsg('');
    setError('');
    // A folder goes file by file, each to its relative path (week1/data/a.csv), so the quota
    // check and the "keep the student's own file" rule apply to every file.
    const uploads = file ? [{ f: file, path: dest ? (dest.endsWith('/') ? `${dest}${file.name}` : dest) : file.name }] : folder.map((f) => ({ f, path: `${dest && !dest.endsWith('/') ? `${dest}/` : dest}${f.webkitRelativePath || f.name}` }));
    const done: string[] = [];
    const problems: string[] = [];
    try {
      for (const u of uploads) {
        const r = await classApi.distribute(cls.id, u.path, u.f);
        done.push(`${r.path} (${size(r.bytes)}) is now in ${r.delivered} workspace${r.delivered === 1 ? '' : 's'}.`);
        for (const f of r.failures) problems.push(`${f.username}: ${f.message}`);
      }
    } catch (err) {
      problems.push(describeFailure(err));
    }
    setMsg(done.length > 3 ? `${done.length} files distributed; the last: ${done[done.length - 1]}` : done.join(' '));
    setError(problems.join('\n'));
  }
  return (
    <section className="card" aria-labelledby="distribute">
      <h2 id="distribute">Distribute and collect</h2>
      <form className="row" onSubmit={distribute}>
        <input type="file" name="file" aria-label="file to distribute" />
        <label className="inline">
          or a folder
          <input type="file" name="folder" aria-label="folder to distribute" multiple {...{ webkitdirectory: '' }} />
        </label>
        <label className="inline">
          into
          <input name="dest" placeholder="(home)/ or week1/" style={{ width: '10rem' }} />
        </label>
        <button type="submit">Put in every workspace</button>
      </form>
      {msg && (
        <p className="ok" role="status">
          {msg}
        </p>
      )}
      {error && (
        <p className="error pre" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <label className="inline">
          Collect
          <input value={collectPath} onChange={(e) => setCollectPath(e.target.value)} placeholder="hello.py or week1" style={{ width: '12rem' }} />
        </label>
        <a className={`button${collectPath.trim() ? '' : ' disabled'}`} href={collectPath.trim() ? classApi.collectUrl(cls.id, collectPath.trim()) : undefined} aria-disabled={!collectPath.trim()} download>
          Download a zip (one folder per student)
        </a>
      </div>
    </section>
  );
}

function Archive({ cls, onChange }: { cls: ClassView; onChange: (c: ClassView) => void }) {
  const [error, setError] = useState('');
  const toggle = () => {
    if (!cls.archived && !confirm(`Archive ${cls.name}? Nothing new starts and the join code is disabled; files and records stay.`)) return;
    classApi.archive(cls.id, !cls.archived).then(onChange, (e) => setError(describeFailure(e)));
  };
  return (
    <section className="card danger" aria-labelledby="archive">
      <div className="row">
        <h2 id="archive">{cls.archived ? 'Archived' : 'Archive'}</h2>
        <span className="spacer" />
        <button onClick={toggle}>{cls.archived ? 'Unarchive' : 'Archive class'}</button>
      </div>
      {error && <p className="error">{error}</p>}
    </section>
  );
}

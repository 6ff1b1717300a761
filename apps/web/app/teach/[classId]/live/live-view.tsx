'use client';

// The live class view (instructors and TAs): every student's state, last activity and memory,
// updated live; filter and sort; "Start class" progress; observe a student's terminal or stop
// their session; share your own terminal with the class (follow along).

import { useRouter } from 'next/navigation';
import { useEffect, useMemo, useState } from 'react';
import type { LiveStudent, StudentState } from '@reg/protocol';
import { api, ApiFailure } from '@/api-client';
import { classApi } from '@/clients/class-client';
import { useClassLive } from '@/hooks/use-class-live';

const STATE_LABEL: Record<StudentState, string> = { 'not-started': 'not started', ready: 'ready', connected: 'connected', idle: 'idle', ended: 'ended' };
const STATE_ORDER: Record<StudentState, number> = { connected: 0, idle: 1, ready: 2, ended: 3, 'not-started': 4 };
type SortKey = 'name' | 'state' | 'activity' | 'memory';

function ago(iso: string | null, now: number): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** When the student last did something: a prepared (ready) or never-started environment is no activity. */
const activityOf = (s: LiveStudent) => (s.state === 'ready' || s.state === 'not-started' || !s.lastActivityAt ? 0 : Date.parse(s.lastActivityAt));
const mib = (b: number | null) => (b === null ? '—' : `${(b / 1048576).toFixed(1)} MiB`);
const nameOf = (s: LiveStudent) => s.displayName ?? s.username;

export default function LiveView({ classId }: { classId: string }) {
  const router = useRouter();
  const { snapshot, link, error, stopSession } = useClassLive(classId);
  const [query, setQuery] = useState('');
  const [stateFilter, setStateFilter] = useState<StudentState | 'all'>('all');
  const [sort, setSort] = useState<SortKey>('state');
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState('');

  // "12 s ago" keeps counting between events.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(t);
  }, []);
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    const list = (snapshot?.students ?? []).filter((s) => (stateFilter === 'all' || s.state === stateFilter) && (!q || nameOf(s).toLowerCase().includes(q) || s.username.toLowerCase().includes(q)));
    const by: Record<SortKey, (a: LiveStudent, b: LiveStudent) => number> = {
      name: (a, b) => nameOf(a).localeCompare(nameOf(b)),
      state: (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || nameOf(a).localeCompare(nameOf(b)),
      activity: (a, b) => activityOf(b) - activityOf(a),
      memory: (a, b) => (b.memoryBytes ?? -1) - (a.memoryBytes ?? -1),
    };
    return [...list].sort(by[sort]);
  }, [snapshot, query, stateFilter, sort]);

  const counts = useMemo(() => {
    const c: Record<StudentState, number> = { 'not-started': 0, ready: 0, connected: 0, idle: 0, ended: 0 };
    for (const s of snapshot?.students ?? []) c[s.state]++;
    return c;
  }, [snapshot]);

  async function stop(s: LiveStudent) {
    if (!confirm(`End ${nameOf(s)}'s session? Their files stay in their workspace.`)) return;
    setBusy(s.userId);
    const r = await stopSession(s.userId);
    setBusy(null);
    setMessage(r.ok ? `${nameOf(s)}: ${r.ended} session${r.ended === 1 ? '' : 's'} ended` : r.error.message);
  }

  // A terminal in the class environment (the students see what they have); a plain Python
  // terminal when the class has no environment ready.
  async function share() {
    try {
      const c = await classApi.openTerminal(classId).catch(() => api.create({ ret: 'python@3.11' }));
      router.push(`/terminal/${c.id}?share=${encodeURIComponent(classId)}`);
    } catch (e) {
      setMessage(e instanceof ApiFailure ? e.message : 'the host does not answer');
    }
  }

  if (error?.code === 'FORBIDDEN' && !snapshot) {
    return (
      <main className="page" data-testid="staff-only">
        <h1>Live class</h1>
        <p>This page is for the class&apos;s instructors and TAs.</p>
        <p>
          <a href="/">Back to your classes</a>
        </p>
      </main>
    );
  }
  if (error && !snapshot) {
    return (
      <main className="page">
        <h1>Live class</h1>
        <p className="error" role="alert">
          {error.code === 'UNAUTHENTICATED' ? 'Sign in first.' : error.message}
        </p>
        {error.code === 'UNAUTHENTICATED' && <a href="/sign-in">Sign in</a>}
      </main>
    );
  }
  if (!snapshot) return <main className="page"><p className="muted">Loading the class…</p></main>;

  const run = snapshot.run;
  return (
    <main className="page wide">
      <div className="row">
        <h1>{snapshot.className}</h1>
        <span className={`badge link-${link}`} role="status" aria-live="polite">
          {link === 'live' ? 'live' : link}
        </span>
        <span className="spacer" style={{ flex: 1 }} />
        <button onClick={() => void share()}>Share a terminal with the class</button>
        <a href={`/teach/${encodeURIComponent(classId)}`}>Class page</a>
      </div>
      <p className="muted">
        {counts.connected} connected · {counts.idle} idle · {counts.ready} ready · {counts.ended} ended · {counts['not-started']} not started
        {snapshot.sharing && ' · you are sharing a terminal (students open /follow/' + classId + ')'}
      </p>
      {run && (
        <section className="card" aria-label="class start progress">
          <div className="row">
            <strong>
              {run.status === 'starting' ? 'Starting the class' : run.status === 'stopping' ? 'Stopping the class' : `Class ${run.status}`}
            </strong>
            <span data-testid="run-progress">
              {run.ready} of {run.total} ready{run.failed ? `, ${run.failed} failed` : ''}
            </span>
          </div>
          <progress max={run.total || 1} value={run.ready} style={{ width: '100%' }} />
          {run.failures.length > 0 && (
            <ul className="error">
              {run.failures.map((f) => (
                <li key={f.userId}>
                  {f.username}: {f.message}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <div className="row" style={{ margin: '1rem 0' }}>
        <label className="inline">
          Find
          <input value={query} onChange={(e) => setQuery(e.target.value)} placeholder="name or username" aria-label="filter by name" />
        </label>
        <label className="inline">
          State
          <select value={stateFilter} onChange={(e) => setStateFilter(e.target.value as StudentState | 'all')} aria-label="filter by state">
            <option value="all">all</option>
            {(Object.keys(STATE_LABEL) as StudentState[]).map((s) => (
              <option key={s} value={s}>
                {STATE_LABEL[s]} ({counts[s]})
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Sort by
          <select value={sort} onChange={(e) => setSort(e.target.value as SortKey)} aria-label="sort by">
            <option value="state">state</option>
            <option value="name">name</option>
            <option value="activity">last activity</option>
            <option value="memory">memory</option>
          </select>
        </label>
      </div>
      {message && (
        <p role="status" className="muted">
          {message}
        </p>
      )}
      <table className="roster" aria-label="students">
        <thead>
          <tr>
            <th>Student</th>
            <th>State</th>
            <th>Last activity</th>
            <th title="resident memory of the student's containers (RSS) from the latest sample">Memory</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.userId} data-user={s.username}>
              <td>
                {nameOf(s)} <span className="muted">{s.displayName ? s.username : ''}</span>
              </td>
              <td>
                <span className={`badge state-${s.state}`} data-testid="state">
                  {STATE_LABEL[s.state]}
                </span>
                {s.endMessage && <span className="muted"> ({s.endMessage})</span>}
              </td>
              <td>{s.state === 'ready' || s.state === 'not-started' ? '—' : ago(s.lastActivityAt, now)}</td>
              <td>{mib(s.memoryBytes)}</td>
              <td>
                <div className="actions">
                  {s.containerIds[0] ? <a href={`/teach/${encodeURIComponent(classId)}/observe/${s.containerIds[0]}`}>Observe</a> : null}
                  {s.containerIds.length > 0 && (
                    <button className="small" disabled={busy === s.userId} onClick={() => void stop(s)}>
                      Stop session
                    </button>
                  )}
                </div>
              </td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                {snapshot.students.length ? 'No student matches.' : 'No students enrolled yet.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </main>
  );
}

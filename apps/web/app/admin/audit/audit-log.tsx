'use client';

// The audit log: who did what, when, to what — newest first, filtered by actor, action (or an
// action family such as "user."), class and time range, one page at a time.

import { useEffect, useState } from 'react';
import type { AuditEntryView } from '@reg/protocol';
import { adminApi, AdminApiFailure, type AuditQuery } from '@/clients/admin-client';

const FAMILIES = ['', 'user.', 'class.', 'roster.', 'container.', 'containers.', 'limits.'];

export default function AuditLog() {
  const [q, setQ] = useState<AuditQuery>({ page: 1, pageSize: 50 });
  const [data, setData] = useState<{ entries: AuditEntryView[]; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const t = setTimeout(
      () =>
        adminApi.audit(q).then(
          (d) => (setData(d), setError(null)),
          (e) => setError(e instanceof AdminApiFailure ? e.message : 'the host does not answer'),
        ),
      150,
    );
    return () => clearTimeout(t);
  }, [q]);

  const set = (k: keyof AuditQuery, v: string) => setQ((p) => ({ ...p, [k]: v || undefined, page: 1 }));
  const iso = (local: string) => (local ? new Date(local).toISOString() : '');
  const pages = data ? Math.max(1, Math.ceil(data.total / (q.pageSize ?? 50))) : 1;
  return (
    <div>
      <h1>Audit log</h1>
      <section className="card" aria-label="filters">
        <div className="row">
          <label>
            Actor
            <input placeholder="username" onChange={(e) => set('actor', e.target.value.trim())} aria-label="actor" />
          </label>
          <label>
            Action
            <select onChange={(e) => set('action', e.target.value)} aria-label="action">
              {FAMILIES.map((f) => (
                <option key={f} value={f}>
                  {f ? `${f}*` : 'every action'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Class id
            <input onChange={(e) => set('classId', e.target.value.trim())} aria-label="class" />
          </label>
          <label>
            From
            <input type="datetime-local" onChange={(e) => set('from', iso(e.target.value))} aria-label="from" />
          </label>
          <label>
            To
            <input type="datetime-local" onChange={(e) => set('to', iso(e.target.value))} aria-label="to" />
          </label>
        </div>
      </section>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <section className="card">
        <p className="muted small">{data ? `${data.total} entr${data.total === 1 ? 'y' : 'ies'}` : 'loading…'}</p>
        <table className="roster small" data-testid="audit">
          <thead>
            <tr>
              <th>when</th>
              <th>who</th>
              <th>action</th>
              <th>target</th>
              <th>details</th>
            </tr>
          </thead>
          <tbody>
            {data?.entries.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.at).toLocaleString()}</td>
                <td>
                  {e.actorName} <span className="muted">({e.actorRole})</span>
                  {e.ip && <div className="muted">{e.ip}</div>}
                </td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.targetType ? `${e.targetType} ${e.targetId ?? ''}` : ''}</td>
                <td className="details">{Object.entries(e.details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {pages > 1 && (
          <div className="row small">
            <button className="small" disabled={(q.page ?? 1) <= 1} onClick={() => setQ((p) => ({ ...p, page: (p.page ?? 1) - 1 }))}>
              ‹ newer
            </button>
            <span>
              page {q.page} of {pages}
            </span>
            <button className="small" disabled={(q.page ?? 1) >= pages} onClick={() => setQ((p) => ({ ...p, page: (p.page ?? 1) + 1 }))}>
              older ›
            </button>
          </div>
        )}
      </section>
    </div>
  );
}

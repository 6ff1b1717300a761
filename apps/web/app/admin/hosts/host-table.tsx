'use client';

// The sandbox hosts an admin runs: each host's status (and why it went down), cgroup version,
// memory, open terminals, RETs and last heartbeat, refreshed every 5 s; a live host's memory
// dashboard is one click away (/admin?host=<id>: the web origin sends that socket to that host).
// Single host: the one host, and a note that cluster mode is off.

import { useEffect, useState } from 'react';
import type { AdminHost, AdminHosts } from '@reg/protocol';
import { adminApi, AdminApiFailure } from '@/clients/admin-client';
import { formatBytes } from '@/format-bytes';

const REFRESH_MS = 5000;

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export default function HostTable() {
  const [data, setData] = useState<AdminHosts | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    let gone = false;
    const load = () =>
      adminApi.hosts().then(
        (d) => {
          if (gone) return;
          setData(d);
          setProblem(null);
          setNow(Date.now());
        },
        (e) => !gone && setProblem(e instanceof AdminApiFailure ? e.message : 'the web app does not answer; retrying'),
      );
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => {
      gone = true;
      clearInterval(t);
    };
  }, []);

  if (!data) {
    return (
      <section className="card" aria-busy="true">
        <h1>Hosts</h1>
        <p className={problem ? 'error' : 'muted'}>{problem ?? 'loading…'}</p>
      </section>
    );
  }

  const up = data.hosts.filter((h) => h.status === 'up').length;
  return (
    <div>
      <div className="row">
        <h1>Hosts</h1>
        <span className="spacer" />
        <span className="muted small" data-testid="hosts-summary">
          {data.cluster ? `${up} of ${data.hosts.length} up · refreshed every ${REFRESH_MS / 1000} s` : 'cluster mode is off: this is the only sandbox host'}
        </span>
      </div>
      {problem && <p className="warn small">{problem}</p>}
      <section className="card">
        <table className="roster" aria-label="sandbox hosts">
          <thead>
            <tr>
              <th>host</th>
              <th>status</th>
              <th>cgroup</th>
              <th>memory free / total</th>
              <th>terminals</th>
              <th>RETs</th>
              <th>last heartbeat</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.hosts.map((h) => (
              <HostRow key={h.id} h={h} now={now} self={data.self} cluster={data.cluster} />
            ))}
          </tbody>
        </table>
        <p className="muted small">
          A host is up while it heartbeats (every few seconds) with the cluster&apos;s secret; three missed heartbeats mark it down and its students reopen on another host. Free memory is MemAvailable.
        </p>
      </section>
    </div>
  );
}

function HostRow({ h, now, self, cluster }: { h: AdminHost; now: number; self: string | null; cluster: boolean }) {
  return (
    <tr data-host={h.id} data-status={h.status}>
      <td>
        {h.id}
        {h.id === self && <span className="muted small"> (answered this page)</span>}
        <div className="muted small">v{h.version}</div>
      </td>
      <td>
        <span className={h.status === 'up' ? 'ok' : 'error'}>{h.status}</span>
        {h.status !== 'up' && h.downReason && <div className="muted small">{h.downReason}</div>}
        {h.downAt && <div className="muted small">since {new Date(h.downAt).toLocaleTimeString()}</div>}
      </td>
      <td>v{h.cgroupVersion}</td>
      <td>
        {formatBytes(h.freeMemoryBytes)} / {formatBytes(h.memoryBytes)}
      </td>
      <td>{h.containers}</td>
      <td title={h.rets.join('\n')}>{h.rets.length}</td>
      <td>{ago(h.heartbeatAt, now)}</td>
      <td>{h.status === 'up' && <a href={cluster ? `/admin?host=${encodeURIComponent(h.id)}` : '/admin'}>Watch memory</a>}</td>
    </tr>
  );
}

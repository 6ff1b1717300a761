'use client';

// The limit policy editor: what every container gets unless its class says otherwise (defaults),
// what no class or student setting may exceed (ceilings, never above what this host has), and how
// many containers one user may run at once. Units people think in (MiB, CPUs); bytes on the wire.

import { useEffect, useState, type FormEvent } from 'react';
import { LIMIT_FIELD_NAMES, type LimitPolicyView, type LimitValues } from '@reg/protocol';
import { adminApi, AdminApiFailure } from '@/clients/admin-client';
import { formatBytes } from '@/format-bytes';

type Field = (typeof LIMIT_FIELD_NAMES)[number];
const MiB = 1024 * 1024;
const FIELDS: Record<Field, { label: string; unit: string; scale: number; step: string }> = {
  memoryBytes: { label: 'Memory', unit: 'MiB', scale: MiB, step: 'any' },
  cpus: { label: 'CPUs', unit: 'cores', scale: 1, step: 'any' },
  pids: { label: 'Processes and threads', unit: '', scale: 1, step: '1' },
  diskBytes: { label: 'Disk (writable layer, workspace)', unit: 'MiB', scale: MiB, step: 'any' },
  diskInodes: { label: 'Files (inodes)', unit: '', scale: 1, step: '1' },
  ptys: { label: 'Terminals (ptys)', unit: '', scale: 1, step: '1' },
};

const shown = (k: Field, v: number) => (FIELDS[k].scale === 1 ? v : Math.round((v / FIELDS[k].scale) * 100) / 100);

export default function LimitsEditor() {
  const [policy, setPolicy] = useState<LimitPolicyView | null>(null);
  const [problem, setProblem] = useState<{ message: string; issues: Array<{ path: string; message: string }> } | null>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    adminApi.limits().then(setPolicy, (e) => setProblem({ message: e instanceof AdminApiFailure ? e.message : 'the host does not answer', issues: [] }));
  }, []);

  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    // Only what the admin changed is sent: a value shown rounded (MiB) is not written back rounded.
    const layer = (which: 'defaults' | 'ceilings') =>
      Object.fromEntries(
        LIMIT_FIELD_NAMES.filter((k) => String(f.get(`${which}.${k}`)) !== String(shown(k, policy![which][k]))).map((k) => [k, k === 'cpus' ? Math.round(Number(f.get(`${which}.${k}`)) * 100) / 100 : Math.round(Number(f.get(`${which}.${k}`)) * FIELDS[k].scale)]),
      ) as Partial<LimitValues>;
    setProblem(null);
    setSaved(false);
    try {
      setPolicy(await adminApi.setLimits({ defaults: layer('defaults'), ceilings: layer('ceilings'), maxContainersPerUser: Number(f.get('maxContainersPerUser')) }));
      setSaved(true);
    } catch (err) {
      setProblem(err instanceof AdminApiFailure ? { message: err.message, issues: err.issues } : { message: 'the host does not answer', issues: [] });
    }
  }

  if (!policy) return <p className={problem ? 'error' : 'muted'}>{problem?.message ?? 'loading…'}</p>;
  return (
    <div>
      <h1>Limits</h1>
      <form className="card" onSubmit={save} aria-label="limit policy" key={JSON.stringify(policy)}>
        <p className="muted small">Every container resolves its limits as: these defaults → its class&apos;s environment → never above these ceilings. A student&apos;s request never sets them.</p>
        <table className="roster">
          <thead>
            <tr>
              <th>limit</th>
              <th>default</th>
              <th>ceiling</th>
              <th>this host has</th>
            </tr>
          </thead>
          <tbody>
            {LIMIT_FIELD_NAMES.map((k) => (
              <tr key={k}>
                <td>
                  {FIELDS[k].label} {FIELDS[k].unit && <span className="muted small">({FIELDS[k].unit})</span>}
                </td>
                <td>
                  <input name={`defaults.${k}`} type="number" min="0" step={FIELDS[k].step} defaultValue={shown(k, policy.defaults[k])} aria-label={`default ${k}`} />
                </td>
                <td>
                  <input name={`ceilings.${k}`} type="number" min="0" step={FIELDS[k].step} defaultValue={shown(k, policy.ceilings[k])} aria-label={`ceiling ${k}`} />
                </td>
                <td className="muted">{FIELDS[k].scale === MiB ? formatBytes(policy.host[k]) : policy.host[k].toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <label>
          Containers one user may run at once
          <input name="maxContainersPerUser" type="number" min="1" max="1000" defaultValue={policy.maxContainersPerUser} />
        </label>
        <div className="row">
          <button className="primary" type="submit">
            Save the policy
          </button>
          {saved && <span className="ok">saved; new containers use it</span>}
        </div>
        {problem && (
          <div role="alert">
            <p className="error">{problem.message}</p>
            <ul className="issues">
              {problem.issues.map((i, n) => (
                <li key={n}>
                  <b>{i.path}</b>: {i.message}
                </li>
              ))}
            </ul>
          </div>
        )}
      </form>
    </div>
  );
}

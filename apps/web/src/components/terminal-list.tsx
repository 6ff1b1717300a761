'use client';

// "Your open terminals": each with what it is (its class, or a scratch Python/Node/shell), since
// when, a link to reopen it and "End".

import { useState } from 'react';
import type { ContainerView } from '@reg/protocol';
import { api, ApiFailure } from '@/api-client';

const kindOf = (c: ContainerView) => {
  const cmd = c.command[0]?.split('/').pop() ?? '';
  if (cmd.startsWith('python') || c.ret.startsWith('python')) return 'Python';
  if (cmd === 'node' || c.ret.startsWith('node')) return 'Node';
  return 'shell';
};

/** "Intro to Python terminal" for a class's; "Scratch Python (files are not kept)" otherwise. */
function labelOf(c: ContainerView, classNames: ReadonlyMap<string, string>): string {
  if (c.classId) return `${classNames.get(c.classId) ?? 'Class'} terminal`;
  return `Scratch ${kindOf(c)} (files are not kept)`;
}

export default function TerminalList({ terminals, classNames, onEnded }: { terminals: ContainerView[]; classNames: ReadonlyMap<string, string>; onEnded: (id: string) => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState('');
  if (terminals.length === 0) return null;

  async function end(id: string) {
    setBusy(id);
    setError('');
    try {
      await api.remove(id);
      onEnded(id);
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 404) onEnded(id);
      else setError(e instanceof ApiFailure ? e.message : 'the host does not answer');
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="card" style={{ marginTop: '1rem' }} aria-label="your open terminals">
      <p>Your open terminals:</p>
      <ul className="terminal-list">
        {terminals.map((c) => (
          <li key={c.id} className="row">
            <a href={`/terminal/${c.id}`}>
              {labelOf(c, classNames)} · since {new Date(c.startedAt ?? c.createdAt).toLocaleTimeString()}
            </a>
            <span className="spacer" style={{ flex: 1 }} />
            <button className="small" disabled={busy === c.id} onClick={() => void end(c.id)} aria-label={`end ${labelOf(c, classNames)} ${c.id}`}>
              {busy === c.id ? 'Ending…' : 'End'}
            </button>
          </li>
        ))}
      </ul>
      {error && <p className="error" role="alert">{error}</p>}
    </section>
  );
}

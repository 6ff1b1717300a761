'use client';

// "Your open terminals": each with what it runs, since when, a link to reopen it and "End".

import { useState } from 'react';
import type { ContainerView } from '@reg/protocol';
import { api, ApiFailure } from '@/api-client';

const kindOf = (c: ContainerView) => {
  const cmd = c.command[0]?.split('/').pop() ?? '';
  if (cmd.startsWith('python') || c.ret.startsWith('python')) return 'Python';
  if (cmd === 'node' || c.ret.startsWith('node')) return 'Node';
  return 'Shell';
};

export default function TerminalList({ terminals, onEnded }: { terminals: ContainerView[]; onEnded: (id: string) => void }) {
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
              {kindOf(c)} terminal ({c.ret}) · since {new Date(c.startedAt ?? c.createdAt).toLocaleTimeString()}
            </a>
            <span className="spacer" style={{ flex: 1 }} />
            <button className="small" disabled={busy === c.id} onClick={() => void end(c.id)} aria-label={`end the ${kindOf(c)} terminal ${c.id}`}>
              {busy === c.id ? 'Ending…' : 'End'}
            </button>
          </li>
        ))}
      </ul>
      {error && <p className="error" role="alert">{error}</p>}
    </section>
  );
}

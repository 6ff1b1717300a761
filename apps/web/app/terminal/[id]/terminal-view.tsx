'use client';

// The terminal page: xterm.js fitted to the window (links, Unicode 11 widths, copy/paste through
// the selection and the clipboard), a status line, and "End session".

import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState } from 'react';
import '@xterm/xterm/css/xterm.css';
import type { Outcome, SessionEndReason } from '@reg/protocol';
import type { LinkStatus, TerminalConnection } from '@/terminal-connection';

function describe(outcome: Outcome | null, reason: SessionEndReason | 'gone'): string {
  const why: Record<SessionEndReason | 'gone', string> = {
    exited: 'the program ended',
    ended: 'you ended the session',
    idle: 'nobody typed for a long time',
    grace: 'nobody was connected for too long',
    shutdown: 'the host shut down',
    'host-restart': 'the host restarted',
    removed: 'the container was removed',
    gone: 'this terminal no longer exists',
  };
  if (!outcome) return why[reason];
  const how = outcome.outcome === 'exited' ? `exit code ${outcome.code}` : outcome.outcome === 'signaled' ? `signal ${outcome.signal}` : outcome.outcome;
  return `${why[reason]} (${how})`;
}

export default function TerminalView({ containerId, host }: { containerId: string; host: { url: string | null; port: number } }) {
  const router = useRouter();
  const el = useRef<HTMLDivElement>(null);
  const conn = useRef<TerminalConnection | null>(null);
  const [status, setStatus] = useState<LinkStatus>('connecting');
  const [detail, setDetail] = useState<string>('');
  const [problem, setProblem] = useState<string>('');

  useEffect(() => {
    let disposed = false;
    const cleanups: Array<() => void> = [];
    void (async () => {
      const [{ Terminal }, { FitAddon }, { WebLinksAddon }, { Unicode11Addon }, { TerminalConnection }] = await Promise.all([
        import('@xterm/xterm'),
        import('@xterm/addon-fit'),
        import('@xterm/addon-web-links'),
        import('@xterm/addon-unicode11'),
        import('@/terminal-connection'),
      ]);
      if (disposed || !el.current) return;
      const term = new Terminal({
        allowProposedApi: true,
        cursorBlink: true,
        scrollback: 5000,
        fontFamily: "ui-monospace, 'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, monospace",
        fontSize: 14,
        theme: { background: '#0f1419', foreground: '#e6e1cf' },
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.loadAddon(new WebLinksAddon());
      term.loadAddon(new Unicode11Addon());
      term.unicode.activeVersion = '11';
      term.open(el.current);
      fit.fit();
      // Test hook: the e2e tests read the buffer through it.
      (window as unknown as { term?: unknown }).term = term;

      const hostUrl = host.url ?? `${location.protocol}//${location.hostname}:${host.port}`;
      const c = new TerminalConnection(containerId, term, hostUrl, {
        status: (s, d) => {
          setStatus(s);
          setDetail(d ?? '');
        },
        error: (e) => setProblem(e.message),
        ended: (outcome, reason) => {
          term.write(`\r\n\x1b[2m[session over: ${describe(outcome, reason)}]\x1b[0m\r\n`);
          setDetail(describe(outcome, reason));
        },
        signedOut: () => router.replace('/sign-in'),
      });
      conn.current = c;

      const input = term.onData((d) => c.input(d));
      const resized = term.onResize(({ cols, rows }) => c.resize(cols, rows));
      // Ctrl+C copies when text is selected (otherwise it interrupts); Ctrl+Shift+C/V copy/paste.
      term.attachCustomKeyEventHandler((e) => {
        if (e.type !== 'keydown') return true;
        const copy = (e.ctrlKey || e.metaKey) && (e.key === 'c' || e.key === 'C') && (e.shiftKey || term.hasSelection());
        if (copy && term.hasSelection()) {
          void navigator.clipboard?.writeText(term.getSelection()).catch(() => {});
          term.clearSelection();
          return false;
        }
        if ((e.ctrlKey || e.metaKey) && e.shiftKey && (e.key === 'v' || e.key === 'V')) {
          void navigator.clipboard?.readText().then((t) => term.paste(t)).catch(() => {});
          return false;
        }
        return true;
      });
      const onWindowResize = () => fit.fit();
      window.addEventListener('resize', onWindowResize);
      term.focus();
      cleanups.push(() => {
        window.removeEventListener('resize', onWindowResize);
        input.dispose();
        resized.dispose();
        c.dispose();
        term.dispose();
      });
    })();
    return () => {
      disposed = true;
      for (const f of cleanups) f();
    };
  }, [containerId, host.port, host.url, router]);

  return (
    <div className="terminal-page">
      <div className="terminal-bar">
        <a href="/">Reg</a>
        <span className={`status status-${status}`} data-testid="status">
          {status}
        </span>
        <span className="muted">{detail}</span>
        {problem && <span className="error" role="alert">{problem}</span>}
        <span className="spacer" />
        <button onClick={() => void conn.current?.end()} disabled={status === 'ended'}>
          End session
        </button>
      </div>
      <div className="terminal-host" ref={el} />
    </div>
  );
}

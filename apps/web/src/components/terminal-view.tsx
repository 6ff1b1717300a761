'use client';

// A browser terminal: xterm.js fitted to its box (links, Unicode 11 widths, copy/paste through the
// selection and the clipboard, screen-reader mode), and a bar that says what runs (Python, Node,
// Shell), in which class, whose it is, the link status in words (announced to screen readers),
// who is watching, and the actions this person may take: end the session (the owner), answer a
// helper's request to type, ask to type (an observer), share with the class (an instructor).

import { useRouter } from 'next/navigation';
import { useCallback, useEffect, useRef, useState } from 'react';
import '@xterm/xterm/css/xterm.css';
import type { TerminalInfo, Watcher } from '@reg/protocol';
import type { LinkStatus, TerminalConnection, TerminalTarget } from '@/terminal-connection';

const STATUS_TEXT: Record<LinkStatus, string> = {
  connecting: 'connecting',
  connected: 'connected',
  reconnecting: 'reconnecting',
  offline: 'offline',
  ended: 'ended',
};

export default function TerminalView({ target, shareClassId, backHref = '/' }: { target: TerminalTarget; shareClassId?: string | null; backHref?: string }) {
  const router = useRouter();
  const el = useRef<HTMLDivElement>(null);
  const conn = useRef<TerminalConnection | null>(null);
  const [status, setStatus] = useState<LinkStatus>('connecting');
  const [detail, setDetail] = useState('');
  const [problem, setProblem] = useState('');
  const [info, setInfo] = useState<TerminalInfo | null>(null);
  const [watchers, setWatchers] = useState<Watcher[]>([]);
  const [asks, setAsks] = useState<Array<{ helperId: string; name: string }>>([]);
  const [canType, setCanType] = useState(false);
  const [askState, setAskState] = useState<'none' | 'asked'>('none');
  const [notice, setNotice] = useState('');
  const [sharing, setSharing] = useState(false);
  const [takenOver, setTakenOver] = useState(false);
  const key = target.mode === 'follow' ? `follow:${target.classId}` : `${target.mode}:${target.containerId}`;

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
        cursorBlink: target.mode === 'own',
        // The host keeps 10,000 lines for a reload; keep as many here.
        scrollback: 10_000,
        // Output goes to an accessibility tree that screen readers follow.
        screenReaderMode: true,
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

      const c = new TerminalConnection(target, term, {
        status: (s, d) => {
          // Test hook: every status this tab showed, in order.
          ((window as unknown as { statusLog?: string[] }).statusLog ??= []).push(s);
          setStatus(s);
          setDetail(d ?? '');
          if (s === 'connected') setProblem('');
        },
        info: (i) => {
          setInfo(i);
          // Someone else's terminal is shown at its owner's size, so lines wrap where theirs do.
          if (target.mode !== 'own') term.resize(i.cols, i.rows);
        },
        resized: ({ cols, rows }) => term.resize(cols, rows),
        // One message per problem, replaced (never stacked) by the next one.
        error: (e) => (e.code === 'TAKEN_OVER' ? setTakenOver(true) : setProblem(e.message)),
        ended: (message) => {
          term.write(`\r\n\x1b[2m[session over: ${message}]\x1b[0m\r\n`);
          setNotice('');
        },
        signedOut: () => router.replace('/sign-in'),
        watchers: (l) => {
          setWatchers(l);
          setAsks((a) => a.filter((x) => l.some((w) => w.id === x.helperId)));
        },
        consent: (r) => setAsks((a) => [...a.filter((x) => x.helperId !== r.helperId), r]),
        control: (k) => {
          setCanType(k.canType);
          setAskState('none');
        },
        notice: (n) => {
          if (n.kind === 'idle-warning') {
            term.write(`\r\n\x1b[33m[${n.message}]\x1b[0m\r\n`);
            setNotice(n.message);
          } else if (n.kind === 'idle-cleared') setNotice('');
          else setNotice(n.message);
        },
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
      const onWindowResize = () => target.mode === 'own' && fit.fit();
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
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, router]);

  const answer = useCallback((helperId: string, allow: boolean) => {
    conn.current?.grant(helperId, allow);
    setAsks((a) => a.filter((x) => x.helperId !== helperId));
  }, []);

  const ended = status === 'ended';
  const what = info ? [info.kind, info.className].filter(Boolean).join(' · ') : '';
  const whose = target.mode === 'observe' ? `watching ${info?.owner ?? 'a student'}` : target.mode === 'follow' ? `following ${info?.owner ?? 'your instructor'} (read-only)` : '';

  return (
    <div className="terminal-page">
      <div className="terminal-bar">
        <a href={backHref}>Reg</a>
        {what && (
          <span className="terminal-kind" data-testid="terminal-kind">
            {what}
          </span>
        )}
        {whose && <span className="muted">{whose}</span>}
        <span role="status" aria-live="polite" className="row" style={{ gap: '0.5rem' }}>
          <span className={`status status-${status}`} data-testid="status">
            {STATUS_TEXT[status]}
          </span>
          {detail && (
            <span className="muted" data-testid="status-detail">
              {detail}
            </span>
          )}
        </span>
        {status === 'offline' && <button onClick={() => conn.current?.retry()}>Retry</button>}
        {takenOver && <button onClick={() => location.reload()}>Use here</button>}
        {ended && !takenOver && <a href={backHref}>Back</a>}
        {problem && (
          <span className="error" role="alert">
            {problem}
          </span>
        )}
        <span className="spacer" />
        {watchers.length > 0 && !ended && (
          <span className="watching" data-testid="watchers" role="status">
            {watchers.map((w) => (
              <span key={w.id}>
                {w.canType ? `${w.name} can type` : `${w.name} is watching`}
                {w.canType && (
                  <button className="small" onClick={() => answer(w.id, false)}>
                    Take the keyboard back
                  </button>
                )}
              </span>
            ))}
          </span>
        )}
        {target.mode === 'observe' && !ended && (
          canType ? (
            <span className="ok" data-testid="can-type">you can type</span>
          ) : (
            <button disabled={askState === 'asked' || status !== 'connected'} onClick={() => void conn.current?.requestControl().then((r) => (r.ok ? setAskState('asked') : setProblem(r.error.message)))}>
              {askState === 'asked' ? 'Asked to type…' : 'Ask to type'}
            </button>
          )
        )}
        {target.mode === 'own' && shareClassId && !ended && (
          <button
            onClick={() =>
              void conn.current?.share(sharing ? null : shareClassId).then((r) => (r.ok ? setSharing(!sharing) : setProblem(r.error.message)))
            }
          >
            {sharing ? 'Stop sharing' : 'Share with class'}
          </button>
        )}
        {target.mode === 'own' && (
          <button onClick={() => void conn.current?.end()} disabled={ended}>
            End session
          </button>
        )}
      </div>
      {asks.map((a) => (
        <div key={a.helperId} className="consent" role="alertdialog" aria-label="request to type">
          <span>Allow {a.name} to type in your terminal?</span>
          <button className="primary" onClick={() => answer(a.helperId, true)}>
            Allow
          </button>
          <button onClick={() => answer(a.helperId, false)}>Deny</button>
        </div>
      ))}
      {notice && (
        <div className="notice" role="alert" data-testid="notice">
          {notice}
        </div>
      )}
      <div className="terminal-host" ref={el} />
    </div>
  );
}

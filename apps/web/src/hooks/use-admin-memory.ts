'use client';

// The memory dashboard's one subscription: the /admin namespace (same origin, websocket only).
// Keeps the latest snapshot (every 1-2 s), a rolling window of live points for the chart, and
// says why when it cannot (not an admin, the host is down). In a cluster, `host` names the sandbox
// host to watch (the web origin routes ?host=<id> there, or refuses while that host is not live).

import { useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { AdminClientToServerEvents, AdminServerToClientEvents, HistoryPoint, MemorySnapshot } from '@reg/protocol';

export type AdminLink = 'connecting' | 'live' | 'offline' | 'refused';
const LIVE_WINDOW = 450; // 15 minutes at one sample every 2 s

function pointOf(s: MemorySnapshot): HistoryPoint {
  return { t: Date.parse(s.at), hostUsed: s.host.used, hostAvailable: s.host.available, pageCache: s.host.pageCache, swapUsed: s.host.swapUsed, pss: s.totals.pss, rss: s.totals.rss, uss: s.totals.uss, saved: s.sharing.saved, containers: s.totals.containers, psiSome10: s.host.psi?.some.avg10 ?? null };
}

export function useAdminMemory(host?: string) {
  const [snapshot, setSnapshot] = useState<MemorySnapshot | null>(null);
  const [live, setLive] = useState<HistoryPoint[]>([]);
  const [link, setLink] = useState<AdminLink>('connecting');
  const [error, setError] = useState<string | null>(null);
  const socketRef = useRef<Socket<AdminServerToClientEvents, AdminClientToServerEvents> | null>(null);

  useEffect(() => {
    const socket: Socket<AdminServerToClientEvents, AdminClientToServerEvents> = io('/admin', { transports: ['websocket'], reconnectionAttempts: 20, reconnectionDelayMax: 5000, ...(host && { query: { host } }) });
    socketRef.current = socket;
    socket.on('connect', () => {
      setLink('live');
      setError(null);
      socket.emit('history', 'live', (r) => {
        if ('points' in r) setLive(r.points.slice(-LIVE_WINDOW));
      });
    });
    // Test and benchmark hook (like the terminal page's window.term): render a given snapshot and
    // stop following the socket, e.g. to time the page with 1000 synthetic rows.
    let frozen = false;
    (window as unknown as { regAdmin?: unknown }).regAdmin = {
      show(s: MemorySnapshot) {
        frozen = true;
        setSnapshot(s);
      },
    };
    socket.on('snapshot', (s) => {
      if (frozen) return;
      setSnapshot(s);
      setLive((prev) => {
        const p = pointOf(s);
        if (prev.length && prev[prev.length - 1]!.t >= p.t) return prev;
        const next = prev.length >= LIVE_WINDOW ? prev.slice(prev.length - LIVE_WINDOW + 1) : prev.slice();
        next.push(p);
        return next;
      });
    });
    socket.on('connect_error', (e) => {
      const code = (e as { data?: { code?: string } }).data?.code;
      if (code === 'FORBIDDEN' || code === 'UNAUTHENTICATED') {
        setLink('refused');
        setError(code === 'FORBIDDEN' ? 'the memory dashboard is for admins' : 'sign in first');
        socket.disconnect();
      } else {
        setLink('offline');
        setError(host ? `host ${host} does not answer (it may be down); retrying` : 'the host does not answer; retrying');
      }
    });
    socket.on('disconnect', () => setLink((l) => (l === 'refused' ? l : 'offline')));
    return () => {
      socket.removeAllListeners();
      socket.disconnect();
      socketRef.current = null;
    };
  }, [host]);

  return { snapshot, live, link, error };
}

'use client';

// The live class view's one subscription: the /classes namespace (same origin, websocket only).
// Subscribes to one class, keeps the roster snapshot current from `student`, `run` and `changed`
// events, and says why when it cannot (not signed in, not a TA or instructor of this class, the
// host is down).

import { useCallback, useEffect, useRef, useState } from 'react';
import { io, type Socket } from 'socket.io-client';
import { CLASSES_NAMESPACE, type ClassLiveClientEvents, type ClassLiveServerEvents, type LiveError, type LiveSnapshot, type StopSessionReply } from '@reg/protocol';

export type LiveLink = 'connecting' | 'live' | 'offline' | 'refused';

export function useClassLive(classId: string) {
  const [snapshot, setSnapshot] = useState<LiveSnapshot | null>(null);
  const [link, setLink] = useState<LiveLink>('connecting');
  const [error, setError] = useState<LiveError | null>(null);
  const socketRef = useRef<Socket<ClassLiveServerEvents, ClassLiveClientEvents> | null>(null);

  useEffect(() => {
    const socket: Socket<ClassLiveServerEvents, ClassLiveClientEvents> = io(CLASSES_NAMESPACE, { transports: ['websocket'], reconnectionAttempts: 10, reconnectionDelayMax: 5000 });
    socketRef.current = socket;
    const subscribe = () =>
      socket.emit('subscribe', { classId }, (r) => {
        if (r.ok) {
          setSnapshot(r.snapshot);
          setLink('live');
          setError(null);
        } else {
          setLink('refused');
          setError(r.error);
        }
      });
    socket.on('connect', subscribe);
    socket.on('disconnect', () => setLink('offline'));
    socket.io.on('reconnect_failed', () => setError({ code: 'INTERNAL', message: 'the host does not answer; reload to try again' }));
    socket.on('student', (e) =>
      setSnapshot((s) => {
        if (!s || e.classId !== s.classId) return s;
        return {
          ...s,
          students: s.students.map((st) => {
            if (st.userId !== e.userId) return st;
            const ids = e.state === 'ended' ? st.containerIds.filter((id) => id !== e.containerId) : e.containerId && !st.containerIds.includes(e.containerId) ? [...st.containerIds, e.containerId] : st.containerIds;
            // One terminal ending while another is open leaves the student connected. Being prepared
            // (ready) is not something the student did: it leaves the last activity as it was.
            const state = e.state === 'ended' && ids.length ? st.state : e.state;
            return { ...st, state, containerIds: ids, lastActivityAt: state === 'ready' || state === 'not-started' ? st.lastActivityAt : e.at, endMessage: state === 'ended' ? (e.endMessage ?? null) : null, ...(e.memoryBytes !== undefined && { memoryBytes: e.memoryBytes }) };
          }),
        };
      }),
    );
    socket.on('run', (r) => setSnapshot((s) => (s && r.classId === s.classId ? { ...s, run: r } : s)));
    socket.on('changed', () => subscribe());
    return () => {
      socket.close();
      socketRef.current = null;
    };
  }, [classId]);

  const stopSession = useCallback(
    (userId: string) =>
      new Promise<StopSessionReply>((resolve) => {
        const s = socketRef.current;
        if (!s) return resolve({ ok: false, error: { code: 'INTERNAL', message: 'not connected' } });
        s.timeout(30_000).emit('stopSession', { classId, userId }, (err: Error | null, r: StopSessionReply) => resolve(err ? { ok: false, error: { code: 'INTERNAL', message: 'the host did not answer' } } : r));
      }),
    [classId],
  );

  return { snapshot, link, error, stopSession };
}

// The host's log: one line per event on stderr, quiet in tests.

export interface Log {
  info(msg: string): void;
  debug(msg: string): void;
  error(msg: string, e?: unknown): void;
}

export function createLog(level: 'silent' | 'info' | 'debug'): Log {
  const at = (l: 'info' | 'debug') => level === 'debug' || (level === 'info' && l === 'info');
  return {
    info: (m) => void (at('info') && console.error(`reg-host: ${m}`)),
    debug: (m) => void (at('debug') && console.error(`reg-host: ${m}`)),
    error: (m, e) => void (level !== 'silent' && console.error(`reg-host: ${m}${e ? `: ${(e as Error)?.message ?? String(e)}` : ''}`)),
  };
}

// Phase timings of the hot paths, printed to stderr when REG_TRACE=1 (for profiling start-up:
// `REG_TRACE=1 reg run …`). Costs one branch when off.

const on = process.env.REG_TRACE === '1';

export function tracer(what: string): (phase: string) => void {
  if (!on) return () => {};
  const t0 = performance.now();
  let last = t0;
  return (phase) => {
    const now = performance.now();
    process.stderr.write(`reg-trace ${what} ${phase} +${(now - last).toFixed(2)}ms (${(now - t0).toFixed(2)}ms)\n`);
    last = now;
  };
}

// The bench's command line: which experiments, how big, where things go. Everything else is
// fixed so that two runs of the same command are comparable.

export const EXPERIMENTS = ['volume', 'startup', 'storm', 'mixed', 'rush', 'cli'] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

export interface BenchOptions {
  quick: boolean;
  only: Set<Experiment>;
  /** Sequential runs per engine in the startup experiment. */
  runs: number;
  /** Containers in the Reg and bare storms. */
  n: number;
  /** Containers in the Docker storm (Docker is slow; 0 skips it). */
  dockerN: number;
  /** Containers in the Reg sharing-off storm (each needs a private copy of the runtime). */
  offN: number;
  /** Repetitions of materialise() for its median. */
  materialiseRuns: number;
  /** Skip the peers that need Docker (volume comparison, Docker rows). */
  noDocker: boolean;
  /** Where results go (a dated folder is made inside). */
  resultsDir: string;
  /** Cache of debootstrap trees, kept between runs (they take minutes to make). */
  cacheDir: string;
  /** Copy the report to bench/LATEST.md (default: on for full runs, off for --quick). */
  latest: boolean;
  /** Keep the temp dir at the end, for debugging. */
  keep: boolean;
  /** Students in the class-start rush (300 for --quick or --only rush, 1000 in the full run). */
  rushN: number;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick               every experiment at tiny sizes (a smoke run, < 3 minutes once the caches are warm)
  --only LIST           comma-separated subset of: ${EXPERIMENTS.join(', ')}
  --runs N              sequential runs per engine in the startup experiment (default 100; quick 5; the cli experiment: at least 30)
  --n N                 containers in the Reg and bare storms (default 1000; quick 20)
  --docker-n N          containers in the Docker storm (default 200; quick 10; 0 skips it)
  --off-n N             containers in the Reg sharing-off storm (default 100; quick 5; 0 skips it)
  --materialise-runs N  repetitions for the materialise median (default 100; quick 20)
  --no-docker           skip Docker (and the image-based peers crun, runc, bubblewrap)
  --results DIR         results folder (default: results/ in the repository)
  --cache DIR           debootstrap tree cache (default: /var/tmp/reg-bench-cache)
  --latest / --no-latest  copy the report to bench/LATEST.md (default: only for full runs)
  --rush-n N            students in the class-start rush (default 1000; 300 with --quick or --only rush)
  --keep                keep the bench's temp dir (debugging)
  --report-from FILE    re-render the report of an earlier run from its results.json (no measuring)`;

function positiveInt(flag: string, v: string | undefined, allowZero = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`${flag} needs a ${allowZero ? 'non-negative' : 'positive'} integer, not "${v ?? ''}"`);
  return n;
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions {
  const quick = argv.includes('--quick');
  const o: BenchOptions = {
    quick,
    only: new Set(EXPERIMENTS),
    runs: quick ? 5 : 100,
    n: quick ? 20 : 1000,
    dockerN: quick ? 10 : 200,
    offN: quick ? 5 : 100,
    materialiseRuns: quick ? 20 : 100,
    noDocker: false,
    resultsDir: `${repoRoot}/results`,
    cacheDir: '/var/tmp/reg-bench-cache',
    latest: !quick,
    keep: false,
    rushN: quick ? 300 : 1000,
  };
  let rushN: number | undefined;
  // A partial run (--only) must not overwrite the committed report of the last full run.
  let latestSaid = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--quick':
        break;
      case '--only': {
        const names = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const n of names) if (!(EXPERIMENTS as readonly string[]).includes(n)) throw new Error(`unknown experiment "${n}" (have: ${EXPERIMENTS.join(', ')})`);
        o.only = new Set(names as Experiment[]);
        if (names.length === 1 && names[0] === 'rush') o.rushN = 300;
        break;
      }
      case '--runs':
        o.runs = positiveInt(a, value());
        break;
      case '--n':
        o.n = positiveInt(a, value());
        break;
      case '--docker-n':
        o.dockerN = positiveInt(a, value(), true);
        break;
      case '--off-n':
        o.offN = positiveInt(a, value(), true);
        break;
      case '--materialise-runs':
        o.materialiseRuns = positiveInt(a, value());
        break;
      case '--no-docker':
        o.noDocker = true;
        break;
      case '--results':
        o.resultsDir = value();
        break;
      case '--cache':
        o.cacheDir = value();
        break;
      case '--latest':
        latestSaid = true;
        o.latest = true;
        break;
      case '--no-latest':
        latestSaid = true;
        o.latest = false;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--rush-n':
        rushN = positiveInt(a, value());
        break;
      case '--report-from':
        value(); // handled in main.ts
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option "${a}"\n${USAGE}`);
    }
  }
  if (rushN !== undefined) o.rushN = rushN;
  if (!latestSaid && o.only.size < EXPERIMENTS.length) o.latest = false;
  return o;
}

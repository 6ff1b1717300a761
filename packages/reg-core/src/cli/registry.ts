// `reg push`, `reg pull`, `reg search` (and `reg ret ls --remote`): moving RETs through an OCI
// registry. Progress goes to stderr (live lines on a TTY, plain lines otherwise), results to stdout.

import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { defaultRegistry } from '../registry/config.js';
import { ProgressDisplay } from '../registry/progress.js';
import { pullMany } from '../registry/pull.js';
import { pushRet } from '../registry/push.js';
import { searchRegistry } from '../registry/search.js';
import { parse, need } from './args.js';
import { formatBytes, table } from './output.js';

const PUSH_USAGE = 'reg push REF REGISTRY/NAMESPACE [--concurrency N] [--chunk-size BYTES] [--json] [--quiet]';
const PULL_USAGE = 'reg pull REF... [--from REGISTRY/NAMESPACE] [--keep-partial] [--concurrency N] [--json] [--quiet]';
const SEARCH_USAGE = 'reg search REGISTRY/NAMESPACE [NAME] [--json]   (also: reg ret ls --remote REGISTRY/NAMESPACE)';

function positiveInt(value: string | undefined, flag: string, usage: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RegError('USAGE', `${flag} must be a positive integer, not "${value}"`, { hint: `usage: ${usage}` });
  return n;
}

function requestSummary(n: number, seconds: number): string {
  return `${n} requests in ${seconds.toFixed(1)} s`;
}

export async function registryCommand(home: RegHome, cmd: 'push' | 'pull' | 'search', argv: string[]): Promise<number> {
  switch (cmd) {
    case 'push': {
      const { values, positionals } = parse(
        argv,
        { concurrency: { type: 'string' }, 'chunk-size': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
        PUSH_USAGE,
      );
      const ref = need(positionals[0], 'REF', PUSH_USAGE);
      const registry = need(positionals[1], 'REGISTRY/NAMESPACE', PUSH_USAGE);
      const display = values.json || values.quiet ? undefined : new ProgressDisplay('push');
      const concurrency = positiveInt(values.concurrency, '--concurrency', PUSH_USAGE);
      const chunkSize = positiveInt(values['chunk-size'], '--chunk-size', PUSH_USAGE);
      let report;
      try {
        report = await pushRet(home, ref, registry, {
          ...(concurrency && { concurrency }),
          ...(chunkSize && { chunkSize }),
          ...(display && { onProgress: display.handle }),
        });
      } finally {
        display?.finish();
      }
      if (values.json) return console.log(JSON.stringify(report, null, 2)), 0;
      if (!values.quiet) {
        console.log(
          table([
            ['RET', 'REPOSITORY:TAG', 'STATUS', 'UPLOADED', 'MOUNTED', 'PRESENT'],
            ...report.rets.map((r) => [`${r.name}@${r.version}`, `${r.repository}:${r.tag}`, r.status, `${r.blobsUploaded} (${formatBytes(r.bytesUploaded)})`, String(r.blobsMounted), String(r.blobsPresent)]),
          ]),
        );
      }
      const others = report.rets.length - 1;
      console.log(
        `\npushed ${report.root}${others ? ` and ${others} RET${others > 1 ? 's' : ''} it requires` : ''} to ${report.registry}: ` +
          `${report.blobsUploaded} blobs uploaded (${formatBytes(report.bytesUploaded)}), ${report.blobsMounted} mounted, ${report.blobsPresent} already there; ` +
          requestSummary(report.requests.requests, report.seconds),
      );
      return 0;
    }
    case 'pull': {
      const { values, positionals } = parse(
        argv,
        { from: { type: 'string' }, 'keep-partial': { type: 'boolean' }, concurrency: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
        PULL_USAGE,
      );
      need(positionals[0], 'REF', PULL_USAGE);
      const registry = values.from ?? (await defaultRegistry(home));
      if (!registry) {
        throw new RegError('USAGE', 'no registry to pull from', {
          hint: `name one with --from REGISTRY/NAMESPACE, or set REG_REGISTRY or "default" in ${home.root}/registries.json`,
        });
      }
      const concurrency = positiveInt(values.concurrency, '--concurrency', PULL_USAGE);
      const display = values.json || values.quiet ? undefined : new ProgressDisplay('pull');
      let report;
      try {
        report = await pullMany(home, positionals, {
          registry,
          ...(concurrency && { concurrency }),
          ...(values['keep-partial'] && { keepPartial: true }),
          ...(display && { onProgress: display.handle }),
        });
      } finally {
        display?.finish();
      }
      if (values.json) return console.log(JSON.stringify(report, null, 2)), 0;
      const count = (s: string) => report.rets.filter((r) => r.status === s).length;
      console.log(
        `pulled ${report.roots.join(', ')} from ${report.registry}: ${report.rets.length} RETs (${count('pulled')} new, ${count('up-to-date')} up to date` +
          `${count('local') ? `, ${count('local')} from the local store` : ''}); ${report.blobsFetched} blobs fetched (${formatBytes(report.bytesFetched)})` +
          `${report.blobsCopied ? `, ${report.blobsCopied} copied locally` : ''}; ${requestSummary(report.requests.requests, report.seconds)}`,
      );
      return 0;
    }
    case 'search': {
      const { values, positionals } = parse(argv, { json: { type: 'boolean' }, remote: { type: 'string' } }, SEARCH_USAGE);
      const registry = need(values.remote ?? positionals.shift(), 'REGISTRY/NAMESPACE', SEARCH_USAGE);
      const result = await searchRegistry(home, registry, positionals[0]);
      if (values.json) return console.log(JSON.stringify(result.rets, null, 2)), 0;
      if (result.rets.length === 0) {
        console.log(positionals[0] ? `${result.registry} has no versions of ${positionals[0]}` : `${result.registry} offers no RETs`);
        return positionals[0] ? 1 : 0;
      }
      console.log(table([['NAME', 'VERSIONS', 'REPOSITORY'], ...result.rets.map((r) => [r.name, r.versions.join(' '), r.repository])]));
      return 0;
    }
  }
}

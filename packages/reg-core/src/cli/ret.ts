// `reg ret …`: build, add, list, show and remove runtime environment templates.

import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { addRet } from '../ret/add.js';
import { composeRet } from '../ret/compose.js';
import { buildFromDeb } from '../ret/build-from-deb.js';
import { buildFromNpm } from '../ret/build-from-npm.js';
import { buildFromHost, type HostBuildReport } from '../ret/build-from-host.js';
import { stringifyRet } from '../ret/parse.js';
import { findRet, listRets, loadRet, removeRet } from '../ret/repository.js';
import { parse, need } from './args.js';
import { formatBytes, table } from './output.js';

const USAGE = `reg ret build --from-host PATH [--name N] [--version V]
       reg ret build --from-deb PKG[=VER]... [--skip PKG]... [--name N [--version V] [--link PATH=TARGET]... [-e K=V]...]
       reg ret build --from-npm NAME[@RANGE]...
       reg ret compose --name N [--version V] REF... [--command CMD] [-e K=V]...
       reg ret add FILE.yaml [--root DIR]
       reg ret ls [--json]
       reg ret show NAME[@RANGE] [--json]
       reg ret rm NAME@VERSION`;

function printBuild(r: HostBuildReport, json: boolean): void {
  if (json) return void console.log(JSON.stringify(r, null, 2));
  console.log(table([['RET', 'KIND', 'FILES', 'SIZE', 'STATUS'], ...r.rets.map((x) => [`${x.name}@${x.version}`, x.kind, String(x.files), formatBytes(x.bytes), x.status])]));
  console.log(`\nbuilt ${r.runtime.name}@${r.runtime.version}: ${r.rets.length} RETs, ${r.newBlobs} new blobs (${formatBytes(r.newBytes)}) stored`);
}

export async function retCommand(home: RegHome, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build': {
      const { values, positionals } = parse(rest, {
        'from-host': { type: 'string' },
        'from-deb': { type: 'boolean' },
        'from-npm': { type: 'boolean' },
        name: { type: 'string' },
        version: { type: 'string' },
        link: { type: 'string', multiple: true },
        skip: { type: 'string', multiple: true },
        env: { type: 'string', short: 'e', multiple: true },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
      }, USAGE);
      if (values['from-deb']) return buildDebCommand(home, positionals, values);
      if (values['from-npm']) {
        const report = await buildFromNpm(home, positionals, { ...(!values.quiet && !values.json && { log: (l: string) => console.error(`  ${l}`) }) });
        if (!values.json) for (const w of report.warnings) console.error(`reg: warning: ${w}`);
        printBuild(report, values.json ?? false);
        return 0;
      }
      const binary = need(values['from-host'], '--from-host PATH (the runtime binary, e.g. /usr/bin/python3.11)', USAGE);
      const report = await buildFromHost(home, binary, {
        ...(values.name && { name: values.name }),
        ...(values.version && { version: values.version }),
        ...(!values.quiet && !values.json && { log: (l: string) => console.error(`  ${l}`) }),
      });
      printBuild(report, values.json ?? false);
      return 0;
    }
    case 'compose': {
      const { values, positionals } = parse(rest, { name: { type: 'string' }, version: { type: 'string' }, command: { type: 'string' }, env: { type: 'string', short: 'e', multiple: true }, json: { type: 'boolean' } }, USAGE);
      const report = await composeRet(home, {
        name: need(values.name, '--name (the environment RET, e.g. lab1)', USAGE),
        version: values.version ?? '1',
        members: positionals,
        ...(values.command && { command: (values.command as string).split(' ').filter(Boolean) }),
        env: pairs(values.env, '--env'),
      });
      printBuild(report, values.json ?? false);
      return 0;
    }
    case 'add': {
      const { values, positionals } = parse(rest, { root: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
      const file = need(positionals[0], 'FILE.yaml', USAGE);
      printBuild(await addRet(home, file, { ...(values.root && { root: values.root }) }), values.json ?? false);
      return 0;
    }
    case 'ls':
    case 'list': {
      const { values } = parse(rest, { json: { type: 'boolean' } }, USAGE);
      const rets = await listRets(home);
      if (values.json) console.log(JSON.stringify(rets, null, 2));
      else if (rets.length === 0) console.log('no RETs yet: build one with `reg ret build --from-host /usr/bin/python3.11`');
      else console.log(table([['NAME', 'VERSION', 'KIND', 'FILES', 'SIZE', 'REQUIRES'], ...rets.map((m) => [m.name, m.version, m.kind, String(m.files), formatBytes(m.bytes), m.requires.join(' ')])]));
      return 0;
    }
    case 'show': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, USAGE);
      const found = await findRet(home, need(positionals[0], 'NAME[@RANGE]', USAGE));
      const ret = await loadRet(home, found.name, found.version);
      process.stdout.write(values.json ? JSON.stringify(ret, null, 2) + '\n' : stringifyRet(ret));
      return 0;
    }
    case 'rm': {
      const { positionals } = parse(rest, {}, USAGE);
      const ref = need(positionals[0], 'NAME@VERSION', USAGE);
      const found = await findRet(home, ref);
      await removeRet(home, found.name, found.version);
      console.log(`removed ${found.name}@${found.version} (its blobs go with \`reg store gc\`)`);
      return 0;
    }
    default:
      throw new RegError('USAGE', sub ? `unknown command "ret ${sub}"` : 'missing a ret command', { hint: `usage: ${USAGE}` });
  }
}

function pairs(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new RegError('USAGE', `${flag} "${kv}" is not KEY=VALUE`, { field: flag });
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

async function buildDebCommand(home: RegHome, packages: string[], values: Record<string, any>): Promise<number> {
  if (packages.length === 0) throw new RegError('USAGE', 'missing the Debian packages to build', { hint: `usage: ${USAGE}` });
  if ((values.link || values.env) && !values.name) throw new RegError('USAGE', '--link and --env belong to a bundle: give --name too', { field: '--name' });
  const report = await buildFromDeb(home, packages, {
    ...(values.name && { name: values.name as string }),
    ...(values.version && { version: values.version as string }),
    links: pairs(values.link, '--link'),
    skip: (values.skip as string[] | undefined) ?? [],
    env: pairs(values.env, '--env'),
    ...(!values.quiet && !values.json && { log: (l: string) => console.error(`  ${l}`) }),
  });
  if (!values.json) for (const w of report.warnings) console.error(`reg: warning: ${w}`);
  printBuild(report, values.json ?? false);
  return 0;
}

// `reg resolve`, `reg materialise` and `reg export`: a RET's closure, its lower layers, or one flat tree.

import type { RegHome } from '../home.js';
import { exportTree, materialise } from '../resolve/materialise.js';
import { filePlan, resolveGraph } from '../resolve/resolve.js';
import { need, parse } from './args.js';
import { formatBytes, table } from './output.js';

export async function closureCommand(home: RegHome, cmd: 'resolve' | 'materialise' | 'materialize' | 'export', argv: string[]): Promise<number> {
  switch (cmd) {
    case 'resolve': {
      const usage = 'reg resolve REF [--json]';
      const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, usage);
      const ref = need(positionals[0], 'REF', usage);
      const graph = await resolveGraph(home, ref);
      const plan = await filePlan(home, graph);
      if (values.json) console.log(JSON.stringify({ rets: graph.rets, paths: plan.size }, null, 2));
      else {
        console.log(table([['RET', 'KIND', 'FILES', 'SIZE'], ...graph.rets.map((m) => [`${m.name}@${m.version}`, m.kind, String(m.files), formatBytes(m.bytes)])]));
        console.log(`\n${ref} → ${graph.rets.length} RETs, ${plan.size} paths, no conflicts`);
      }
      return 0;
    }
    case 'materialise':
    case 'materialize': {
      const usage = 'reg materialise REF [--json]';
      const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, usage);
      const m = await materialise(home, need(positionals[0], 'REF', usage));
      if (values.json) console.log(JSON.stringify(m, null, 2));
      else console.log(`lowerdir=${m.lowerdirs.join(':')}`);
      return 0;
    }
    case 'export': {
      const usage = 'reg export REF DIR';
      const { positionals } = parse(argv, {}, usage);
      const r = await exportTree(home, need(positionals[0], 'REF', usage), need(positionals[1], 'DIR', usage));
      console.log(`exported ${r.files} paths to ${positionals[1]}`);
      return 0;
    }
  }
}

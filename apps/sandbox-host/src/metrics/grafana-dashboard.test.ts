// The Grafana dashboard in deploy/grafana queries only series this host exposes, through the
// datasource variable, with the templated filters.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MemoryMetrics } from './prometheus.js';

const dashboard = JSON.parse(readFileSync(new URL('../../../../deploy/grafana/reg-dashboard.json', import.meta.url), 'utf8')) as {
  templating: { list: Array<{ name: string; type: string }> };
  panels: Array<{ type: string; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string }> }>;
};

test('every panel queries exposed reg_* series through ${PROMETHEUS_DS}, filtered by the templated instance', async () => {
  const exposed = new Set((await new MemoryMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const vars = dashboard.templating.list.map((v) => `${v.type}:${v.name}`);
  for (const v of ['datasource:PROMETHEUS_DS', 'query:instance', 'query:class', 'query:user']) assert.ok(vars.includes(v), v);
  const graphs = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 12);
  for (const p of graphs) {
    assert.equal(p.datasource?.uid, '${PROMETHEUS_DS}', p.title);
    for (const t of p.targets ?? []) {
      const names = t.expr.match(/\breg_[a-z0-9_]+/g) ?? [];
      assert.ok(names.length > 0, `${p.title}: ${t.expr}`);
      for (const n of names) assert.ok(exposed.has(n), `${p.title}: ${n} is not exposed`);
      assert.match(t.expr, /instance=~"\$instance"/, p.title);
    }
  }
});

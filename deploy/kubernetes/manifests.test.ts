// deploy/kubernetes checked offline: every manifest against the Kubernetes API schemas
// (kubernetes-models' validators: types, required fields, formats) and against the API's TypeScript
// types with excess-property checks (a misspelt field such as `mountPropogation` would otherwise be
// dropped silently by a lenient apply); the kustomizations list exactly the files there are; every
// reference resolves (Secret and ConfigMap keys, Service selectors and ports, the Ingress backend,
// volumes); the host's environment is accepted by the host's own config parser; and the sandbox
// host's privileges are the documented ones.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../apps/sandbox-host/src/env.js';
import { providerOf } from '../../apps/sandbox-host/src/db/client.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');

interface Doc {
  file: string;
  index: number;
  obj: any;
}

function loadDocs(file: string): Doc[] {
  // YAML 1.1, as Kubernetes reads manifests (sigs.k8s.io/yaml): 0400 is octal there, `yes` a boolean.
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' });
  return docs.map((d, index) => {
    assert.equal(d.errors.length, 0, `${relative(root, file)} document ${index}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file: relative(root, file), index, obj: d.toJS() };
  }).filter((d) => d.obj !== null);
}

/** A kustomization's resources, recursively (directories are kustomizations themselves). */
function kustomize(dir: string): Doc[] {
  const k = loadDocs(join(dir, 'kustomization.yaml'))[0]!.obj;
  const allowed = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images']);
  for (const key of Object.keys(k)) assert.ok(allowed.has(key), `${relative(root, dir)}/kustomization.yaml: unexpected field ${key}`);
  assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(k.kind, 'Kustomization');
  const out: Doc[] = [];
  for (const r of k.resources as string[]) {
    const path = join(dir, r);
    assert.ok(existsSync(path), `${relative(root, dir)}/kustomization.yaml lists ${r}, which does not exist`);
    out.push(...(r.endsWith('.yaml') ? loadDocs(path) : kustomize(path)));
  }
  // Apply the namespace the way kustomize does (to namespaced objects without one).
  for (const d of out) if (d.obj.kind !== 'Namespace' && !d.obj.metadata.namespace) d.obj.metadata.namespace = k.namespace;
  return out;
}

const base = kustomize(join(here, 'base'));
const bundled = kustomize(join(here, 'bundled'));
const examples = loadDocs(join(here, 'secrets.example.yaml'));
const everything = [...bundled, ...examples]; // bundled includes base

const modulePath = (apiVersion: string, kind: string) => `kubernetes-models/${apiVersion.includes('/') ? apiVersion : `v1`}/${kind}`;

test('each kustomization lists every YAML file beside it, and nothing else', () => {
  for (const dir of ['base', 'bundled']) {
    const k = loadDocs(join(here, dir, 'kustomization.yaml'))[0]!.obj;
    const files = readdirSync(join(here, dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    const listed = (k.resources as string[]).filter((r) => r.endsWith('.yaml')).sort();
    assert.deepEqual(listed, files, `${dir}/kustomization.yaml resources`);
  }
});

test('every manifest validates against the Kubernetes API schema of its kind', async () => {
  for (const d of everything) {
    const { apiVersion, kind } = d.obj;
    const mod = (await import(modulePath(apiVersion, kind)).catch(() => undefined)) as Record<string, new (o: unknown) => { validate(): void }> | undefined;
    assert.ok(mod?.[kind], `${d.file} #${d.index}: no Kubernetes model for ${apiVersion} ${kind}`);
    try {
      new mod[kind](d.obj).validate();
    } catch (e) {
      assert.fail(`${d.file} #${d.index} (${kind} ${d.obj.metadata?.name}): ${(e as Error).message}`);
    }
  }
});

test('no manifest has a field the Kubernetes API does not know (TypeScript excess-property check)', () => {
  const lines: string[] = [];
  everything.forEach((d, i) => lines.push(`import type { I${d.obj.kind} as T${i} } from '${modulePath(d.obj.apiVersion, d.obj.kind)}';`));
  const first = lines.length;
  everything.forEach((d, i) => lines.push(`export const d${i}: T${i} = ${JSON.stringify(d.obj)};`));
  const fileName = join(here, '__manifests__.ts');
  const source = lines.join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (f, v, ...rest) => (f === fileName ? ts.createSourceFile(f, source, v) : getSourceFile.call(host, f, v, ...rest));
  host.fileExists = (f) => f === fileName || fileExists.call(host, f);
  host.readFile = (f) => (f === fileName ? source : readFile.call(host, f));
  const program = ts.createProgram([fileName], options, host);
  const problems = ts.getPreEmitDiagnostics(program).map((diag) => {
    const line = diag.file && diag.start !== undefined ? diag.file.getLineAndCharacterOfPosition(diag.start).line : -1;
    const d = line >= first ? everything[line - first] : undefined;
    return `${d ? `${d.file} #${d.index} (${d.obj.kind} ${d.obj.metadata?.name})` : 'imports'}: ${ts.flattenDiagnosticMessageText(diag.messageText, ' ')}`;
  });
  assert.deepEqual(problems, []);
});

const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.obj.kind === kind).map((d) => d.obj);
const workloads = (docs: Doc[]) => [...byKind(docs, 'Deployment'), ...byKind(docs, 'DaemonSet'), ...byKind(docs, 'StatefulSet')];
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

test('Services, the Ingress and NetworkPolicies point at workloads and ports that exist', () => {
  for (const docs of [base, bundled]) {
    const pods = workloads(docs).map((w) => w.spec.template);
    for (const svc of byKind(docs, 'Service')) {
      const targets = pods.filter((p) => matches(svc.spec.selector, p.metadata.labels));
      assert.ok(targets.length > 0, `Service ${svc.metadata.name} selects no pod template`);
      for (const port of svc.spec.ports) {
        if (typeof port.targetPort !== 'string') continue;
        assert.ok(targets.some((p) => p.spec.containers.some((c: any) => c.ports?.some((cp: any) => cp.name === port.targetPort))), `Service ${svc.metadata.name}: no container port named ${port.targetPort}`);
      }
    }
    for (const ing of byKind(docs, 'Ingress')) {
      for (const rule of ing.spec.rules) {
        for (const p of rule.http.paths) {
          const svc = byKind(docs, 'Service').find((s) => s.metadata.name === p.backend.service.name);
          assert.ok(svc, `Ingress ${ing.metadata.name}: no Service ${p.backend.service.name}`);
          assert.ok(svc.spec.ports.some((sp: any) => sp.name === p.backend.service.port.name), `Ingress ${ing.metadata.name}: Service ${svc.metadata.name} has no port ${p.backend.service.port.name}`);
        }
      }
    }
    for (const np of byKind(docs, 'NetworkPolicy')) {
      assert.ok(pods.some((p) => matches(np.spec.podSelector.matchLabels, p.metadata.labels)), `NetworkPolicy ${np.metadata.name} selects no pod`);
      for (const rule of np.spec.ingress ?? []) {
        for (const from of rule.from ?? []) if (from.podSelector) assert.ok(pods.some((p) => matches(from.podSelector.matchLabels, p.metadata.labels)), `NetworkPolicy ${np.metadata.name}: a from-podSelector matches no pod`);
      }
    }
    for (const w of workloads(docs)) {
      const volumes = new Set((w.spec.template.spec.volumes ?? []).map((v: any) => v.name));
      for (const v of w.spec.volumeClaimTemplates ?? []) volumes.add(v.metadata.name);
      for (const c of [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]) {
        for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${w.kind} ${w.metadata.name}/${c.name}: mounts unknown volume ${m.name}`);
      }
      for (const v of w.spec.template.spec.volumes ?? []) {
        if (v.persistentVolumeClaim) assert.ok(byKind(docs, 'PersistentVolumeClaim').some((p) => p.metadata.name === v.persistentVolumeClaim.claimName), `${w.metadata.name}: no PVC ${v.persistentVolumeClaim.claimName}`);
      }
    }
  }
});

/** Secret and ConfigMap keys the school provides (secrets.example.yaml) or that ../bundled documents. */
const provided = new Map<string, Set<string>>();
for (const d of examples) provided.set(`${d.obj.kind}/${d.obj.metadata.name}`, new Set(Object.keys(d.obj.stringData ?? d.obj.data ?? {})));
provided.set('Secret/reg-postgres', new Set(['password']));
provided.set('Secret/reg-registry-tls', new Set(['tls.crt', 'tls.key']));

test('every Secret and ConfigMap key a pod uses is one the school is told to provide', () => {
  for (const w of workloads(bundled)) {
    const spec = w.spec.template.spec;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
        assert.ok(provided.get(`${kind}/${ref.name}`)?.has(ref.key), `${w.metadata.name}/${c.name} env ${e.name}: ${kind} ${ref.name} key ${ref.key} is not in secrets.example.yaml`);
      }
    }
    for (const v of spec.volumes ?? []) {
      const name = v.secret?.secretName ?? v.configMap?.name;
      if (!name) continue;
      const keys = provided.get(`${v.secret ? 'Secret' : 'ConfigMap'}/${name}`);
      assert.ok(keys, `${w.metadata.name}: volume ${v.name} uses ${name}, which the school is not told to create`);
      for (const item of (v.secret ?? v.configMap).items ?? []) assert.ok(keys.has(item.key), `${w.metadata.name}: volume ${v.name} wants key ${item.key} of ${name}`);
    }
  }
});

/** A container's environment as the kubelet would give it, with sample values for the cluster's parts. */
function resolveEnv(c: any, sample: { podIp: string }): Record<string, string> {
  const secretValues = new Map<string, string>();
  for (const d of examples) for (const [k, v] of Object.entries(d.obj.stringData ?? d.obj.data ?? {})) secretValues.set(`${d.obj.kind}/${d.obj.metadata.name}/${k}`, String(v));
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let value: string | undefined = e.value;
    if (e.valueFrom?.fieldRef) value = e.valueFrom.fieldRef.fieldPath === 'status.podIP' ? sample.podIp : `sample-${e.valueFrom.fieldRef.fieldPath}`;
    if (e.valueFrom?.secretKeyRef) value = secretValues.get(`Secret/${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`);
    if (e.valueFrom?.configMapKeyRef) value = secretValues.get(`ConfigMap/${e.valueFrom.configMapKeyRef.name}/${e.valueFrom.configMapKeyRef.key}`);
    if (value === undefined) continue;
    // $(VAR) expands to variables defined earlier in the list, as the kubelet does.
    env[e.name] = value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => env[n] ?? m);
  }
  return env;
}

const hostDaemonSet = byKind(base, 'DaemonSet').find((d) => d.metadata.name === 'reg-host');
const hostContainer = hostDaemonSet?.spec.template.spec.containers.find((c: any) => c.name === 'host');

test("the sandbox host's environment is one the host's own config parser accepts, in cluster mode on PostgreSQL", () => {
  assert.ok(hostContainer, 'a DaemonSet reg-host with a container named host');
  const env = resolveEnv(hostContainer, { podIp: '10.42.0.7' });
  const config = loadConfig(env);
  assert.equal(config.bind, '10.42.0.7');
  assert.equal(config.hostPort, 3001);
  assert.equal(config.regHome, '/var/lib/reg');
  assert.equal(providerOf(config.databaseUrl), 'postgresql');
  assert.equal(config.originOnly, true);
  assert.ok(config.initialAdminPassword, 'a production start: a first admin, no demo accounts');
  assert.deepEqual([config.cluster?.sharedDir, config.cluster?.secretFile, config.cluster?.address], ['/srv/reg-shared', '/etc/reg/cluster/cluster-secret', 'http://10.42.0.7:3001']);
  // Every variable set is one somebody reads: the host's env.ts, reg-core's registry settings, Node.
  const envTs = readFileSync(join(root, 'apps/sandbox-host/src/env.ts'), 'utf8');
  const known = new Set([...envTs.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!).concat(['POD_IP', 'REG_REGISTRY', 'REG_REGISTRY_AUTH', 'NODE_EXTRA_CA_CERTS']));
  for (const e of hostContainer.env) assert.ok(known.has(e.name), `host env ${e.name} is read by nobody`);
  // The mounts are where the environment says.
  const mounts = Object.fromEntries(hostContainer.volumeMounts.map((m: any) => [m.mountPath, m]));
  assert.ok(mounts['/var/lib/reg'] && mounts['/srv/reg-shared'] && mounts['/etc/reg/cluster'], 'REG_HOME, REG_SHARED_DIR and the secret are mounted');
});

test('the web app reads the variables it is given, and knows how to find the hosts', () => {
  const web = byKind(base, 'Deployment').find((d) => d.metadata.name === 'reg-web');
  const c = web.spec.template.spec.containers.find((x: any) => x.name === 'web');
  const server = readFileSync(join(root, 'apps/web/server.mjs'), 'utf8');
  for (const e of c.env) assert.match(server, new RegExp(`process\\.env\\.${e.name}\\b`), `apps/web/server.mjs does not read ${e.name}`);
  const env = resolveEnv(c, { podIp: '10.42.0.9' });
  const hostsSvc = byKind(base, 'Service').find((s) => s.metadata.name === 'reg-hosts');
  assert.equal(env.REG_HOST_URLS, `http://${hostsSvc.metadata.name}:${hostsSvc.spec.ports[0].port}`);
  assert.equal(env.REG_CLUSTER_SECRET_FILE, '/run/reg/cluster-secret');
  // The init container copies the secret there for the web app's uid, mode 0400 (the origin refuses looser).
  const init = web.spec.template.spec.initContainers[0];
  assert.match(init.command.join(' '), new RegExp(`install -m 0400 -o ${web.spec.template.spec.securityContext.runAsUser} .* /run/reg/cluster-secret`));
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
});

test('the sandbox host gets exactly the documented privileges and no host namespaces', () => {
  const spec = hostDaemonSet.spec.template.spec;
  assert.equal(hostContainer.securityContext.privileged, true);
  assert.deepEqual([spec.hostPID, spec.hostNetwork, spec.hostIPC], [false, false, false]);
  assert.equal(spec.automountServiceAccountToken, false);
  const homeVolume = spec.volumes.find((v: any) => v.name === 'reg-home');
  assert.deepEqual(homeVolume.hostPath, { path: '/var/lib/reg', type: 'DirectoryOrCreate' });
  assert.equal(hostContainer.volumeMounts.find((m: any) => m.name === 'reg-home').mountPropagation, 'None');
  assert.equal(spec.volumes.find((v: any) => v.name === 'cluster-secret').secret.defaultMode, 0o400);
  const claim = byKind(base, 'PersistentVolumeClaim').find((p) => p.metadata.name === spec.volumes.find((v: any) => v.name === 'shared').persistentVolumeClaim.claimName);
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany'], 'workspaces live on storage every host reaches');
  assert.equal(hostContainer.resources.limits, undefined, 'no pod memory limit (students nest under the pod on cgroup v2)');
  // Every privilege the comment names is one the launcher or host uses; the comment says why for each.
  const text = readFileSync(join(here, 'base/hosts.yaml'), 'utf8');
  for (const why of ['loop devices', '/sys/fs/cgroup', 'CAP_SYS_ADMIN', 'CAP_SETUID', 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'hostPID: false', 'hostNetwork: false', 'None (not Bidirectional)', 'no_new_privs']) {
    assert.ok(text.includes(why), `hosts.yaml explains ${why}`);
  }
  // The namespace admits privileged pods (Pod Security Admission).
  assert.equal(byKind(base, 'Namespace')[0].metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
});

test('images: every workload image is set by the kustomization or pinned; the Dockerfiles name real paths', () => {
  const k = loadDocs(join(here, 'base/kustomization.yaml'))[0]!.obj;
  const named = new Set((k.images as Array<{ name: string }>).map((i) => i.name));
  for (const w of workloads(bundled)) {
    for (const c of [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]) {
      assert.ok(named.has(c.image) || /:[\w.-]+$/.test(c.image), `${w.metadata.name}/${c.name}: image ${c.image} is neither set by the kustomization nor pinned to a tag`);
    }
  }
  const entry = readFileSync(join(here, 'images/host-entrypoint.sh'), 'utf8');
  const main = /exec node \/app\/(\S+)/.exec(entry)?.[1];
  assert.equal(main, `apps/sandbox-host/${JSON.parse(readFileSync(join(root, 'apps/sandbox-host/package.json'), 'utf8')).bin['reg-host'].replace(/^\.\//, '')}`);
  assert.equal(spawnSync('sh', ['-n', join(here, 'images/host-entrypoint.sh')]).status, 0, 'host-entrypoint.sh parses');
  for (const f of ['host.Dockerfile', 'web.Dockerfile']) {
    const text = readFileSync(join(here, 'images', f), 'utf8');
    for (const m of text.matchAll(/^COPY (?!--from)(\S+) /gm)) if (m[1] !== '.') assert.ok(existsSync(join(root, m[1]!)), `${f}: COPY ${m[1]} does not exist`);
    for (const m of text.matchAll(/--filter=(@reg\/[\w-]+)/g)) assert.ok(readdirSync(join(root, 'apps')).some((a) => existsSync(join(root, 'apps', a, 'package.json')) && JSON.parse(readFileSync(join(root, 'apps', a, 'package.json'), 'utf8')).name === m[1]), `${f}: no workspace ${m[1]}`);
  }
});

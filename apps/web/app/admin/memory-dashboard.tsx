'use client';

// The live memory dashboard: the host's figures and what the containers account for, what
// sharing saves (with its formula), per container / student / class / RET tables (sortable, the
// top consumers first, those near their limit marked), capacity, the store, history charts and
// alerts; and the admin's actions (stop a container, end idle terminals). Every number links to
// its formula at the bottom of the page, the same definitions the host computes them with.

import { useEffect, useMemo, useState } from 'react';
import type { HistoryPoint, MemoryContainer, MemoryGroup, MemorySnapshot } from '@reg/protocol';
import { adminApi, AdminApiFailure } from '@/clients/admin-client';
import TimeChart from '@/components/time-chart';
import { formatBytes } from '@/format-bytes';
import { useAdminMemory } from '@/hooks/use-admin-memory';

type View = 'containers' | 'students' | 'classes' | 'rets';
type SortKey = 'pss' | 'uss' | 'rss' | 'shared' | 'limitUse' | 'label';
type Range = 'live' | 'hour' | 'day';

const F = (id: string, children: React.ReactNode) => (
  <a href={`#f-${id}`} className="formula-link" title="how this is computed">
    {children}
  </a>
);

export default function MemoryDashboard({ host }: { host?: string }) {
  const { snapshot: s, live, link, error } = useAdminMemory(host);
  const watching = host && (
    <span className="muted" data-testid="watching-host">
      Host {host} · <a href="/admin/hosts">all hosts</a>
    </span>
  );
  const [range, setRange] = useState<Range>('live');
  const [stored, setStored] = useState<HistoryPoint[]>([]);
  const [view, setView] = useState<View>('containers');
  const [sort, setSort] = useState<SortKey>('pss');
  const [filter, setFilter] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [idleMinutes, setIdleMinutes] = useState(10);

  useEffect(() => {
    if (range === 'live') return;
    let gone = false;
    const load = () => adminApi.history(range, host).then((h) => !gone && setStored(h.points), () => {});
    load();
    const t = setInterval(load, 60_000);
    return () => {
      gone = true;
      clearInterval(t);
    };
  }, [range, host]);

  const points = range === 'live' ? live : stored;
  const times = useMemo(() => points.map((p) => p.t), [points]);
  // Two charts: the containers' few MiB would sit flat at 0 on the host's GiB scale.
  const hostSeries = useMemo(() => [{ label: 'host used', color: '#e0a84f', values: points.map((p) => p.hostUsed) }], [points]);
  const memorySeries = useMemo(
    () => [
      { label: 'containers Σ PSS', color: '#5fb3f9', values: points.map((p) => p.pss) },
      { label: 'containers Σ RSS', color: '#8b96a3', values: points.map((p) => p.rss) },
      { label: 'saved by sharing', color: '#6fd08c', values: points.map((p) => p.saved) },
    ],
    [points],
  );

  async function stop(c: MemoryContainer) {
    if (!window.confirm(`Stop container ${c.id}${c.user ? ` of ${c.user}` : ''}? Their terminal will say it was stopped by an administrator.`)) return;
    try {
      await adminApi.stopContainer(c.id);
      setNotice(`stopped ${c.id}`);
    } catch (e) {
      setNotice(e instanceof AdminApiFailure ? e.message : 'the host does not answer');
    }
  }

  async function cull() {
    try {
      const r = await adminApi.cullIdle(idleMinutes * 60);
      setNotice(r.ended.length ? `ended ${r.ended.length} idle terminal(s)` : 'no terminal was idle that long');
    } catch (e) {
      setNotice(e instanceof AdminApiFailure ? e.message : 'the host does not answer');
    }
  }

  if (!s) {
    return (
      <section className="card" aria-busy="true">
        <h1>Memory</h1>
        {watching}
        <p className={link === 'refused' ? 'error' : 'muted'}>{error ?? 'connecting to the host…'}</p>
      </section>
    );
  }

  const h = s.host;
  const retLabel = envLabeller(s.containers);
  const pct = (n: number, of: number) => (of > 0 ? `${Math.round((n / of) * 100)}%` : '–');
  return (
    <div className="dashboard">
      <div className="row">
        <h1>Memory</h1>
        {watching}
        <span className="spacer" />
        <span className={link === 'live' ? 'ok small' : 'warn small'} data-testid="link">
          {link === 'live' ? `live · every ${(s.everyMs / 1000).toFixed(s.everyMs % 1000 ? 1 : 0)} s · sampled ${new Date(s.at).toLocaleTimeString()} in ${s.sampleMs} ms` : (error ?? link)}
        </span>
      </div>

      {s.alerts.length > 0 && (
        <section className="card alerts" aria-label="alerts">
          {s.alerts.map((a, i) => (
            <p key={i} className={a.severity === 'critical' ? 'error' : 'warn'} data-alert={a.kind}>
              {a.severity === 'critical' ? '■' : '▲'} {a.message}
            </p>
          ))}
        </section>
      )}
      {notice && (
        <p className="muted" role="status">
          {notice}
        </p>
      )}

      <div className="tiles">
        <section className="card tile" aria-label="host">
          <h2>Host</h2>
          <dl className="figures">
            <dt>total</dt>
            <dd data-figure="host-total">{formatBytes(h.total)}</dd>
            <dt>{F('used', 'used')}</dt>
            <dd data-figure="host-used">
              {formatBytes(h.used)} <span className="muted">({pct(h.used, h.total)})</span>
            </dd>
            <dt>{F('available', 'available')}</dt>
            <dd data-figure="host-available">{formatBytes(h.available)}</dd>
            <dt>{F('page-cache', 'page cache')}</dt>
            <dd>{formatBytes(h.pageCache)}</dd>
            <dt>swap used</dt>
            <dd>{h.swapTotal ? `${formatBytes(h.swapUsed)} of ${formatBytes(h.swapTotal)}` : 'no swap'}</dd>
            <dt>{F('psi', 'pressure')}</dt>
            <dd>{h.psi ? `some ${h.psi.some.avg10.toFixed(1)}%${h.psi.full ? ` · full ${h.psi.full.avg10.toFixed(1)}%` : ''} (10 s)` : 'not reported by this kernel'}</dd>
          </dl>
        </section>

        <section className="card tile" aria-label="where used memory goes">
          <h2>{F('reconcile', 'Where "used" goes')}</h2>
          <div className="stack" role="img" aria-label="used memory split">
            <span style={{ flexGrow: Math.max(0, s.reconcile.containersPss) }} className="seg seg-containers" />
            <span style={{ flexGrow: Math.max(0, s.reconcile.regHostRss) }} className="seg seg-host" />
            <span style={{ flexGrow: Math.max(0, s.reconcile.other) }} className="seg seg-other" />
          </div>
          <dl className="figures">
            <dt>
              <i className="dot seg-containers" /> containers (Σ PSS)
            </dt>
            <dd data-figure="containers-pss">{formatBytes(s.reconcile.containersPss)}</dd>
            <dt>
              <i className="dot seg-host" /> the Reg host process
            </dt>
            <dd>{formatBytes(s.reconcile.regHostRss)}</dd>
            <dt>
              <i className="dot seg-other" /> other (web app, OS, other processes)
            </dt>
            <dd>{formatBytes(s.reconcile.other)}</dd>
          </dl>
        </section>

        <section className="card tile saved" aria-label="saved by sharing">
          <h2>{F('saved', 'Saved by sharing')}</h2>
          <p className="big" data-figure="saved">
            {formatBytes(s.sharing.saved)}
          </p>
          <p className="small muted">
            {s.totals.containers} running container(s) would use {formatBytes(s.sharing.withoutSharing)} with their own copies of their files (Σ RSS); they use {formatBytes(s.sharing.withSharing)} (Σ PSS).
          </p>
        </section>

        <section className="card tile" aria-label="capacity">
          <h2>{F('capacity', 'Capacity')}</h2>
          {s.capacity.length === 0 ? (
            <p className="muted small">measured once a container of a RET runs</p>
          ) : (
            <dl className="figures">
              {s.capacity.map((c) => (
                <div key={c.ret} className="contents">
                  <dt>{retLabel(c.ret)}</dt>
                  <dd>
                    ~{c.fits.toLocaleString()} more <span className="muted small">({formatBytes(c.perContainerUss)} USS each, from {c.measuredOn})</span>
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </section>
      </div>

      <section className="card" aria-label="history">
        <div className="row">
          <h2>History</h2>
          <span className="spacer" />
          {(['live', 'hour', 'day'] as const).map((r) => (
            <button key={r} className={`small${range === r ? ' primary' : ''}`} onClick={() => setRange(r)} aria-pressed={range === r}>
              {r === 'live' ? 'live (15 min)' : `last ${r}`}
            </button>
          ))}
        </div>
        {points.length < 2 ? (
          <p className="muted small">collecting samples…</p>
        ) : (
          <div className="charts">
            <TimeChart title="host memory used" times={times} series={hostSeries} height={180} />
            <TimeChart title="containers" times={times} series={memorySeries} height={180} />
          </div>
        )}
      </section>

      <section className="card" aria-label="consumers">
        <div className="row">
          {(['containers', 'students', 'classes', 'rets'] as const).map((v) => (
            <button key={v} className={`small${view === v ? ' primary' : ''}`} onClick={() => setView(v)} aria-pressed={view === v}>
              {v === 'rets' ? 'RETs' : v[0]!.toUpperCase() + v.slice(1)}
            </button>
          ))}
          <span className="spacer" />
          <input placeholder="filter" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="filter rows" />
        </div>
        {view === 'containers' ? <ContainerTable rows={s.containers} sort={sort} setSort={setSort} filter={filter} onStop={stop} /> : <GroupTable rows={view === 'students' ? s.byUser : view === 'classes' ? s.byClass : s.byRet.map((g) => ({ ...g, label: retLabel(g.label) }))} sort={sort} setSort={setSort} filter={filter} what={view} />}
        <div className="row small">
          <label className="inline">
            End terminals idle for at least
            <input type="number" min={0} max={1440} value={idleMinutes} onChange={(e) => setIdleMinutes(Number(e.target.value))} style={{ width: '5rem' }} aria-label="idle minutes" />
            minutes
          </label>
          <button className="small" onClick={cull}>
            End idle terminals now
          </button>
          <span className="muted">
            Change limits: a class&apos;s on its environment page (Classes view), one student&apos;s in that class&apos;s roster (Limits), the host&apos;s defaults, ceilings and per-user cap on <a href="/admin/limits">Limits</a>.
          </span>
        </div>
      </section>

      {s.store && (
        <section className="card" aria-label="store">
          <h2>{F('store', 'The store')}</h2>
          <p>
            {s.store.blobs.toLocaleString()} files, {formatBytes(s.store.bytes)} on disk for {s.store.rets} RETs whose closures add up to {formatBytes(s.store.logicalBytes)}: {formatBytes(s.store.savedBytes)} deduplicated. Disk: {formatBytes(s.store.diskFree)} free of {formatBytes(s.store.diskTotal)}.
          </p>
          {s.store.closures.length > 0 && (
            <table className="roster small">
              <thead>
                <tr>
                  <th>runtime</th>
                  <th>RETs in its closure</th>
                  <th>files</th>
                  <th>bytes</th>
                </tr>
              </thead>
              <tbody>
                {closureRows(s.store.closures, retLabel).map((c) => (
                  <tr key={c.ret}>
                    <td>{c.label}</td>
                    <td>{c.rets}</td>
                    <td>{c.files.toLocaleString()}</td>
                    <td>{formatBytes(c.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {s.store.shared.length > 0 && (
            <>
              <h3 className="small">Files shared between RETs (largest first)</h3>
              <ul className="small shared-blobs">
                {s.store.shared.map((b) => (
                  <li key={b.digest}>
                    <code>{b.digest.slice(0, 12)}</code> {formatBytes(b.size)} — {b.referencedBy.join(', ')}
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}

      <section className="card formulas" aria-label="how the figures are computed">
        <h2>How the figures are computed</h2>
        <dl>
          <dt id="f-rss">RSS, PSS, USS, shared</dt>
          <dd>Summed over a container&apos;s processes from <code>/proc/PID/smaps_rollup</code>: RSS = Rss (every resident page it maps), PSS = Pss (each page divided by the number of processes mapping it), USS = Private_Clean + Private_Dirty (what ending it frees), shared = Shared_Clean + Shared_Dirty.</dd>
          <dt id="f-saved">Saved by sharing = Σ RSS − Σ PSS</dt>
          <dd>RSS counts a shared page once for every process that maps it — as if each container had its own copy of its files, as separately built images do; Σ PSS is what the same processes occupy. Pages also mapped by processes outside the containers lower PSS, so this is an upper bound of the saving among containers; pages a container&apos;s own processes share (a shell and its program) count too.</dd>
          <dt id="f-used">Used = MemTotal − MemAvailable</dt>
          <dd>
            From <code>/proc/meminfo</code>. <span id="f-available">Available = MemAvailable</span>: what can be allocated without swapping, reclaimable cache included.
          </dd>
          <dt id="f-page-cache">Page cache = Cached + Buffers − Shmem</dt>
          <dd>File pages the kernel drops under pressure; not part of &quot;used&quot;.</dd>
          <dt id="f-reconcile">Used = Σ PSS (containers) + the Reg host process&apos;s RSS + other</dt>
          <dd>Other is the remainder: the web app, the kernel&apos;s own memory, every other process.</dd>
          <dt id="f-psi">Pressure</dt>
          <dd>
            <code>/proc/pressure/memory</code> avg10: the share of the last 10 s in which some (or all) tasks waited for memory. An alert fires at some ≥ 10%, or when available falls under 10% of total.
          </dd>
          <dt id="f-capacity">Capacity = ⌊ available ÷ mean USS of that RET&apos;s running containers ⌋</dt>
          <dd>Another idle container adds its private memory; its shared pages are already resident.</dd>
          <dt id="f-limit">Near the limit</dt>
          <dd>The container cgroup&apos;s own memory count (page cache included) ÷ its memory limit ≥ 90%.</dd>
          <dt id="f-store">Store deduplication = Σ closure bytes − bytes on disk</dt>
          <dd>Each runtime&apos;s closure (the RET and every RET it requires) counted separately, against the distinct files the store keeps once.</dd>
        </dl>
      </section>
    </div>
  );
}

function SortHeader({ k, label, sort, setSort }: { k: SortKey; label: React.ReactNode; sort: SortKey; setSort: (k: SortKey) => void }) {
  return (
    <th aria-sort={sort === k ? 'descending' : 'none'}>
      <button className="link" onClick={() => setSort(k)}>
        {label}
        {sort === k ? ' ▾' : ''}
      </button>
    </th>
  );
}

function sorted<T extends { pss: number; uss: number; rss: number; shared: number }>(rows: T[], sort: SortKey, label: (r: T) => string, limitUse?: (r: T) => number): T[] {
  const out = rows.slice();
  if (sort === 'label') out.sort((a, b) => label(a).localeCompare(label(b)));
  else if (sort === 'limitUse') out.sort((a, b) => (limitUse?.(b) ?? 0) - (limitUse?.(a) ?? 0));
  else out.sort((a, b) => b[sort] - a[sort]);
  return out;
}

function ContainerTable({ rows, sort, setSort, filter, onStop }: { rows: MemorySnapshot['containers']; sort: SortKey; setSort: (k: SortKey) => void; filter: string; onStop: (c: MemoryContainer) => void }) {
  const f = filter.trim().toLowerCase();
  const all = useMemo(() => sorted(rows.filter((c) => !f || [c.id, c.user ?? '', c.class ?? '', c.ret].some((x) => x.toLowerCase().includes(f))), sort, (c) => c.user ?? '', (c) => c.limitUse ?? 0), [rows, f, sort]);
  const [page, setPage] = useState(0);
  const shown = all.slice(page * PAGE, (page + 1) * PAGE);
  return (
    <>
    <table className="roster memory-table" data-testid="containers">
      <thead>
        <tr>
          <SortHeader k="label" label="container · student" sort={sort} setSort={setSort} />
          <th>class</th>
          <th>RET</th>
          <SortHeader k="pss" label={F('rss', 'PSS')} sort={sort} setSort={setSort} />
          <SortHeader k="uss" label="USS" sort={sort} setSort={setSort} />
          <SortHeader k="rss" label="RSS" sort={sort} setSort={setSort} />
          <SortHeader k="shared" label="shared" sort={sort} setSort={setSort} />
          <SortHeader k="limitUse" label={F('limit', 'of limit')} sort={sort} setSort={setSort} />
          <th />
        </tr>
      </thead>
      <tbody>
        {shown.length === 0 && (
          <tr>
            <td colSpan={9} className="muted">
              no running containers
            </td>
          </tr>
        )}
        {shown.map((c) => (
          <tr key={c.id} data-container={c.id} className={c.limitUse !== null && c.limitUse >= 0.9 ? 'near-limit' : undefined}>
            <td>
              <code>{c.id}</code> {c.user ?? <span className="muted">(admin)</span>}
            </td>
            <td>{c.class ?? <span className="muted">–</span>}</td>
            <td>{c.ret}</td>
            <td>{formatBytes(c.pss)}</td>
            <td>{formatBytes(c.uss)}</td>
            <td>{formatBytes(c.rss)}</td>
            <td>{formatBytes(c.shared)}</td>
            <td>{c.limitUse === null ? <span className="muted">no limit</span> : `${Math.round(c.limitUse * 100)}% of ${formatBytes(c.limitBytes)}`}</td>
            <td>
              <button className="small" onClick={() => onStop(c)} aria-label={`stop ${c.id}`}>
                Stop
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    <Pager total={all.length} page={page} setPage={setPage} />
    </>
  );
}

/** Rows are sorted over everything and drawn a page at a time: 1000 containers stay responsive. */
const PAGE = 100;

function Pager({ total, page, setPage }: { total: number; page: number; setPage: (p: number) => void }) {
  const pages = Math.ceil(total / PAGE);
  if (page > 0 && page >= pages) setTimeout(() => setPage(Math.max(0, pages - 1)));
  if (pages <= 1) return null;
  return (
    <div className="row small" data-testid="pager">
      <button className="small" disabled={page === 0} onClick={() => setPage(page - 1)}>
        ‹
      </button>
      <span>
        {page * PAGE + 1}–{Math.min(total, (page + 1) * PAGE)} of {total}
      </span>
      <button className="small" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
        ›
      </button>
    </div>
  );
}

/**
 * A class environment's RET is named env-<hash>: beside it, the class it serves where a running
 * container says so ("env-5c47…@1 · Intro to Python").
 */
function envLabeller(containers: MemoryContainer[]): (ret: string) => string {
  const classes = new Map<string, string>();
  for (const c of containers) if (c.ret.startsWith('env-') && c.class) classes.set(c.ret, c.class);
  return (ret) => (classes.has(ret) ? `${ret} · ${classes.get(ret)}` : ret);
}

/** The store's closures, a class environment folded into the runtime bundle it equals (same RETs, files and bytes). */
function closureRows<C extends { ret: string; rets: number; files: number; bytes: number }>(closures: C[], retLabel: (ret: string) => string): Array<C & { label: string }> {
  const same = (a: C, b: C) => a.rets === b.rets && a.files === b.files && a.bytes === b.bytes;
  const plain = closures.filter((c) => !c.ret.startsWith('env-'));
  const out = plain.map((c) => ({ ...c, label: c.ret }));
  for (const env of closures.filter((c) => c.ret.startsWith('env-'))) {
    const twin = out.find((o) => same(o, env));
    if (twin) twin.label += ` (= ${retLabel(env.ret)})`;
    else out.push({ ...env, label: retLabel(env.ret) });
  }
  return out;
}

function GroupTable({ rows, sort, setSort, filter, what }: { rows: MemoryGroup[]; sort: SortKey; setSort: (k: SortKey) => void; filter: string; what: View }) {
  const f = filter.trim().toLowerCase();
  const all = useMemo(() => sorted(rows.filter((g) => !f || g.label.toLowerCase().includes(f)), sort === 'limitUse' ? 'pss' : sort, (g) => g.label), [rows, f, sort]);
  const [page, setPage] = useState(0);
  const shown = all.slice(page * PAGE, (page + 1) * PAGE);
  return (
    <>
    <table className="roster memory-table" data-testid={what}>
      <thead>
        <tr>
          <SortHeader k="label" label={what === 'rets' ? 'RET' : what === 'classes' ? 'class' : 'student'} sort={sort} setSort={setSort} />
          <th>containers</th>
          <SortHeader k="pss" label={F('rss', 'PSS')} sort={sort} setSort={setSort} />
          <SortHeader k="uss" label="USS" sort={sort} setSort={setSort} />
          <SortHeader k="rss" label="RSS" sort={sort} setSort={setSort} />
          <SortHeader k="shared" label="shared" sort={sort} setSort={setSort} />
        </tr>
      </thead>
      <tbody>
        {shown.map((g) => (
          <tr key={g.key}>
            <td>
              {g.label}
              {what === 'classes' && g.key !== '(no class)' && (
                <>
                  {' '}
                  <a className="small" href={`/teach/${encodeURIComponent(g.key)}`}>
                    limits…
                  </a>
                </>
              )}
            </td>
            <td>{g.containers}</td>
            <td>{formatBytes(g.pss)}</td>
            <td>{formatBytes(g.uss)}</td>
            <td>{formatBytes(g.rss)}</td>
            <td>{formatBytes(g.shared)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    <Pager total={all.length} page={page} setPage={setPage} />
    </>
  );
}

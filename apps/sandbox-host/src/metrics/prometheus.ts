// The Prometheus exposition of the dashboard's figures (prom-client). Gauges are filled from one
// memorySnapshot() at scrape time, so /metrics and the page cannot disagree. Per-container series
// carry {container, class, user, ret}; series of containers that ended are dropped (reset before
// each fill), so label sets do not pile up.

import { Gauge, Registry } from 'prom-client';
import type { MemorySnapshot } from '@reg/protocol';

export interface PrometheusExtras {
  containersByStatus: Record<string, number>;
  liveSessions: number;
  terminals: number;
}

export class MemoryMetrics {
  readonly registry = new Registry();
  private readonly g: Record<string, Gauge<string>> = {};

  constructor() {
    const labels = ['container', 'class', 'user', 'ret'];
    const gauge = (name: string, help: string, labelNames: string[] = []) => {
      this.g[name] = new Gauge({ name, help, labelNames, registers: [this.registry] });
    };
    gauge('reg_container_memory_pss_bytes', 'Proportional set size of a container (Σ Pss of its processes): shared pages divided among their users', labels);
    gauge('reg_container_memory_uss_bytes', 'Unique set size of a container (Σ Private_Clean+Private_Dirty): what ending it frees', labels);
    gauge('reg_container_memory_rss_bytes', 'Resident set size of a container (Σ Rss): shared pages counted once per process', labels);
    gauge('reg_container_memory_shared_bytes', 'Resident pages of a container that other processes map too (Σ Shared_Clean+Shared_Dirty)', labels);
    gauge('reg_container_memory_cgroup_bytes', "The container cgroup's own memory count (page cache included)", labels);
    gauge('reg_container_memory_limit_bytes', "The container's memory limit (absent: none)", labels);
    gauge('reg_host_memory_total_bytes', 'MemTotal');
    gauge('reg_host_memory_used_bytes', 'MemTotal - MemAvailable');
    gauge('reg_host_memory_available_bytes', 'MemAvailable');
    gauge('reg_host_memory_page_cache_bytes', 'Cached + Buffers - Shmem (reclaimable file pages)');
    gauge('reg_host_memory_swap_used_bytes', 'SwapTotal - SwapFree');
    gauge('reg_host_memory_pressure_some_avg10', 'PSI memory "some" avg10: % of the last 10 s some task stalled on memory (absent without PSI)');
    gauge('reg_host_memory_pressure_full_avg10', 'PSI memory "full" avg10 (absent without PSI)');
    gauge('reg_host_memory_containers_pss_bytes', 'Σ PSS of the running containers (the share of used memory they account for)');
    gauge('reg_host_memory_other_bytes', 'Host used memory not accounted to containers or the Reg host process (the web app, the OS, other processes)');
    gauge('reg_host_process_rss_bytes', 'RSS of the Reg host process');
    gauge('reg_saved_by_sharing_bytes', 'Σ RSS - Σ PSS over running containers: what separate copies of their files would add');
    gauge('reg_containers', 'Containers by status', ['status']);
    gauge('reg_sessions', 'Live sign-in sessions (not revoked, not expired)');
    gauge('reg_terminals', 'Live terminal sessions');
    gauge('reg_store_blobs', 'Distinct files in the store');
    gauge('reg_store_bytes', 'Bytes of the store on disk');
    gauge('reg_store_logical_bytes', 'What the runtimes would take with unshared copies (Σ closure bytes)');
    gauge('reg_store_saved_bytes', 'Store deduplication: logical - on-disk bytes');
    gauge('reg_store_disk_free_bytes', "Free space of the store's filesystem");
    gauge('reg_sample_duration_seconds', 'How long the last memory sample took (the cost of watching)');
  }

  fill(s: MemorySnapshot, x: PrometheusExtras): void {
    for (const g of Object.values(this.g)) g.reset();
    for (const c of s.containers) {
      const l = { container: c.id, class: c.class ?? '', user: c.user ?? '', ret: c.ret };
      this.g.reg_container_memory_pss_bytes!.set(l, c.pss);
      this.g.reg_container_memory_uss_bytes!.set(l, c.uss);
      this.g.reg_container_memory_rss_bytes!.set(l, c.rss);
      this.g.reg_container_memory_shared_bytes!.set(l, c.shared);
      this.g.reg_container_memory_cgroup_bytes!.set(l, c.cgroupBytes);
      if (c.limitBytes !== null) this.g.reg_container_memory_limit_bytes!.set(l, c.limitBytes);
    }
    const set = (n: string, v: number | null | undefined) => v !== null && v !== undefined && this.g[n]!.set(v);
    set('reg_host_memory_total_bytes', s.host.total);
    set('reg_host_memory_used_bytes', s.host.used);
    set('reg_host_memory_available_bytes', s.host.available);
    set('reg_host_memory_page_cache_bytes', s.host.pageCache);
    set('reg_host_memory_swap_used_bytes', s.host.swapUsed);
    set('reg_host_memory_pressure_some_avg10', s.host.psi?.some.avg10);
    set('reg_host_memory_pressure_full_avg10', s.host.psi?.full?.avg10);
    set('reg_host_memory_containers_pss_bytes', s.reconcile.containersPss);
    set('reg_host_memory_other_bytes', s.reconcile.other);
    set('reg_host_process_rss_bytes', s.reconcile.regHostRss);
    set('reg_saved_by_sharing_bytes', s.sharing.saved);
    for (const [status, n] of Object.entries(x.containersByStatus)) this.g.reg_containers!.set({ status }, n);
    set('reg_sessions', x.liveSessions);
    set('reg_terminals', x.terminals);
    if (s.store) {
      set('reg_store_blobs', s.store.blobs);
      set('reg_store_bytes', s.store.bytes);
      set('reg_store_logical_bytes', s.store.logicalBytes);
      set('reg_store_saved_bytes', s.store.savedBytes);
      set('reg_store_disk_free_bytes', s.store.diskFree);
    }
    set('reg_sample_duration_seconds', s.sampleMs / 1000);
  }

  async text(s: MemorySnapshot, x: PrometheusExtras): Promise<string> {
    this.fill(s, x);
    return this.registry.metrics();
  }
}

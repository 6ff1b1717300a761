import type { Metadata } from 'next';
import MemoryDashboard from './memory-dashboard';

export const metadata: Metadata = { title: 'Memory · Administration · Reg' };

// ?host=<hostId> (the Hosts page's "Watch memory"): that host's dashboard, in a cluster.
export default async function AdminMemoryPage({ searchParams }: { searchParams: Promise<{ host?: string }> }) {
  const { host } = await searchParams;
  return <MemoryDashboard host={typeof host === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(host) ? host : undefined} />;
}

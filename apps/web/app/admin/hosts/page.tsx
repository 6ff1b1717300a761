import type { Metadata } from 'next';
import HostTable from './host-table';

export const metadata: Metadata = { title: 'Hosts · Administration · Reg' };

export default function AdminHostsPage() {
  return <HostTable />;
}

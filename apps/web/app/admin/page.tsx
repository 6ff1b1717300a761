import type { Metadata } from 'next';
import MemoryDashboard from './memory-dashboard';

export const metadata: Metadata = { title: 'Memory · Administration · Reg' };

export default function AdminMemoryPage() {
  return <MemoryDashboard />;
}

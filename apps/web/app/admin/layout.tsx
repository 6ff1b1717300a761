import type { ReactNode } from 'react';
import Nav from '@/components/nav';
import AdminGate from './admin-gate';

export default function AdminLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <Nav />
      <main className="page wide admin">
        <AdminGate>{children}</AdminGate>
      </main>
    </>
  );
}

import type { ReactNode } from 'react';
import Nav from '@/components/nav';
import AdminTabs from './admin-tabs';

export default function AdminLayout({ children }: { children: ReactNode }) {
  return (
    <>
      <Nav />
      <main className="page wide admin">
        <AdminTabs />
        {children}
      </main>
    </>
  );
}

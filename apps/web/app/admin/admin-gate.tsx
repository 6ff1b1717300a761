'use client';

// The admin area shows its tabs and pages to administrators only: anyone else signed in gets a
// short "Administrators only" page (the host refuses their admin API calls anyway).

import Link from 'next/link';
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '@/api-client';
import AdminTabs from './admin-tabs';

export default function AdminGate({ children }: { children: ReactNode }) {
  const [role, setRole] = useState<string | null>(null);
  useEffect(() => {
    // Signed out: the header sends the browser to sign in.
    api.me().then((u) => setRole(u.role), () => setRole('unknown'));
  }, []);
  if (role === null) return <p className="muted">Loading…</p>;
  if (role !== 'admin')
    return (
      <section className="card" data-testid="admins-only">
        <h1>Administrators only</h1>
        <p>This area is for the host&apos;s administrators.</p>
        <p>
          <Link href="/">Back to your classes</Link>
        </p>
      </section>
    );
  return (
    <>
      <AdminTabs />
      {children}
    </>
  );
}

'use client';

// The header on every signed-in page: where you can go for your role (your classes; teaching for
// instructors and TAs; administration for admins), who you are, and sign out.

import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import type { UserView } from '@reg/protocol';
import { api, ApiFailure } from '@/api-client';
import { classApi } from '@/clients/class-client';

export default function Nav() {
  const router = useRouter();
  const path = usePathname();
  const [user, setUser] = useState<UserView | null>(null);
  // A TA's account is usually a student's: Teaching shows for whoever helps in a class.
  const [helps, setHelps] = useState(false);
  useEffect(() => {
    api.me().then(
      (u) => {
        setUser(u);
        if (u.role === 'student') classApi.list().then((cs) => setHelps(cs.some((c) => c.role !== 'student')), () => {});
      },
      (e) => {
        if (e instanceof ApiFailure && e.status === 401) router.replace('/sign-in');
      },
    );
  }, [router]);
  const link = (href: string, label: string) => (
    <Link href={href} aria-current={path === href || (href !== '/' && path.startsWith(href)) ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <header className="nav">
      <Link href="/" className="brand">
        Reg
      </Link>
      <nav className="row" aria-label="main">
        {link('/', 'Your classes')}
        {user && (user.role !== 'student' || helps) && link('/teach', 'Teaching')}
        {user?.role === 'admin' && link('/admin', 'Administration')}
      </nav>
      <span className="spacer" />
      {user && (
        <span className="muted">
          {user.username} ({user.role})
        </span>
      )}
      {user && (
        <Link href="/sign-in/password" className="small">
          Password
        </Link>
      )}
      <button className="small" onClick={() => api.signOut().then(() => router.replace('/sign-in'))}>
        Sign out
      </button>
    </header>
  );
}

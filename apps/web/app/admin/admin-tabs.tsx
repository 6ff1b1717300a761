'use client';

// The admin area's second row of navigation: memory, hosts, users, limits, audit log.

import Link from 'next/link';
import { usePathname } from 'next/navigation';

const TABS = [
  ['/admin', 'Memory'],
  ['/admin/hosts', 'Hosts'],
  ['/admin/users', 'Users'],
  ['/admin/limits', 'Limits'],
  ['/admin/audit', 'Audit log'],
] as const;

export default function AdminTabs() {
  const path = usePathname();
  return (
    <nav className="row admin-tabs" aria-label="administration">
      {TABS.map(([href, label]) => (
        <Link key={href} href={href} aria-current={path === href ? 'page' : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

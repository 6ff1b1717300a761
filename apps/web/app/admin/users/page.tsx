import type { Metadata } from 'next';
import UsersAdmin from './users-admin';

export const metadata: Metadata = { title: 'Users · Administration · Reg' };

export default function AdminUsersPage() {
  return <UsersAdmin />;
}

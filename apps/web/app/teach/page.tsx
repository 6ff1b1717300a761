import type { Metadata } from 'next';
import TeachHome from './teach-home';

export const metadata: Metadata = { title: 'Teaching · Reg' };

export default function TeachPage() {
  return <TeachHome />;
}

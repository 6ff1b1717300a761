import type { Metadata } from 'next';
import LimitsEditor from './limits-editor';

export const metadata: Metadata = { title: 'Limits · Administration · Reg' };

export default function AdminLimitsPage() {
  return <LimitsEditor />;
}

import type { Metadata } from 'next';
import TerminalView from '@/components/terminal-view';

export const metadata: Metadata = { title: 'Follow along · Reg' };

// Follow along: the terminal the class's instructor shares, read-only.
export default async function FollowPage({ params }: { params: Promise<{ classId: string }> }) {
  const { classId } = await params;
  return <TerminalView target={{ mode: 'follow', classId }} />;
}

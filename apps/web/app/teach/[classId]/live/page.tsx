import type { Metadata } from 'next';
import LiveView from './live-view';

export const metadata: Metadata = { title: 'Live class · Reg' };

export default async function LivePage({ params }: { params: Promise<{ classId: string }> }) {
  const { classId } = await params;
  return <LiveView classId={classId} />;
}

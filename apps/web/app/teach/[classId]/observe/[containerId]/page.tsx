import type { Metadata } from 'next';
import TerminalView from '@/components/terminal-view';

export const metadata: Metadata = { title: 'Observe a student · Reg' };

// Looking over a student's shoulder: read-only until the student allows typing.
export default async function ObservePage({ params }: { params: Promise<{ classId: string; containerId: string }> }) {
  const { classId, containerId } = await params;
  return <TerminalView target={{ mode: 'observe', containerId }} backHref={`/teach/${encodeURIComponent(classId)}/live`} />;
}

import type { Metadata } from 'next';
import TerminalView from '@/components/terminal-view';

export const metadata: Metadata = { title: 'Terminal · Reg' };

// ?share=<classId>: opened from the live class view to share this terminal with the class.
export default async function TerminalPage({ params, searchParams }: { params: Promise<{ id: string }>; searchParams: Promise<{ share?: string }> }) {
  const { id } = await params;
  const { share } = await searchParams;
  return <TerminalView target={{ mode: 'own', containerId: id }} shareClassId={share ?? null} backHref={share ? `/teach/${encodeURIComponent(share)}/live` : '/'} />;
}

import { publicHost } from '@/host-url';
import TerminalView from './terminal-view';

// Reads where the host is at request time, so one build serves any HOST_PORT.
export const dynamic = 'force-dynamic';

export default async function TerminalPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <TerminalView containerId={id} host={publicHost()} />;
}

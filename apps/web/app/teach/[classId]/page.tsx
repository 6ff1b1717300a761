import type { Metadata } from 'next';
import ClassPage from './class-page';

export const metadata: Metadata = { title: 'Class · Reg' };

export default async function TeachClassPage({ params }: { params: Promise<{ classId: string }> }) {
  const { classId } = await params;
  return <ClassPage classId={classId} />;
}

// Reading the audit log for the admin page: filters (actor, action or action prefix, class, time
// range) over the indexed columns, newest first, one page at a time.

import type { AuditEntryView, auditQuerySchema } from '@reg/protocol';
import type { z } from 'zod';
import type { Db } from '../db/client.js';

export async function readAuditLog(db: Db, q: z.output<typeof auditQuerySchema>): Promise<{ entries: AuditEntryView[]; total: number; page: number; pageSize: number }> {
  const where = {
    ...(q.actor && { actorName: q.actor }),
    ...(q.action && (q.action.endsWith('.') ? { action: { startsWith: q.action } } : { action: q.action })),
    ...(q.classId && { classId: q.classId }),
    ...((q.from || q.to) && { at: { ...(q.from && { gte: new Date(q.from) }), ...(q.to && { lte: new Date(q.to) }) } }),
  };
  const [total, rows] = await Promise.all([db.auditLog.count({ where }), db.auditLog.findMany({ where, orderBy: [{ at: 'desc' }, { id: 'desc' }], skip: (q.page - 1) * q.pageSize, take: q.pageSize })]);
  return {
    total,
    page: q.page,
    pageSize: q.pageSize,
    entries: rows.map((r) => ({
      id: r.id,
      at: r.at.toISOString(),
      actorId: r.actorId,
      actorName: r.actorName,
      actorRole: r.actorRole,
      action: r.action,
      targetType: r.targetType,
      targetId: r.targetId,
      classId: r.classId,
      details: safeJson(r.details),
      ip: r.ip,
    })),
  };
}

function safeJson(s: string): Record<string, unknown> {
  try {
    const v = JSON.parse(s) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { raw: s };
  }
}

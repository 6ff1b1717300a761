// The audit log: who did what, when, to what. Admin and instructor actions call audit() after they
// succeed; the admin pages read and filter the AuditLog table. Writing never fails the action it
// records (a failed write is logged), so the log cannot be used to block an operation.

import type { Principal } from '../auth/principal.js';
import type { Db } from '../db/client.js';

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  classId?: string;
  details?: Record<string, unknown>;
  ip?: string;
}

export function actorOf(p: Principal): { actorId: string | null; actorName: string; actorRole: string } {
  return p.kind === 'admin' ? { actorId: null, actorName: 'admin (unix socket)', actorRole: 'admin' } : { actorId: p.user.id, actorName: p.user.username, actorRole: p.user.role };
}

export async function audit(db: Db, who: Principal, e: AuditEntry, onError: (m: string) => void = () => {}): Promise<void> {
  try {
    await db.auditLog.create({
      data: {
        ...actorOf(who),
        action: e.action,
        targetType: e.targetType ?? null,
        targetId: e.targetId ?? null,
        classId: e.classId ?? null,
        details: JSON.stringify(e.details ?? {}),
        ip: e.ip ?? null,
      },
    });
  } catch (err) {
    onError(`audit log write failed for ${e.action}: ${(err as Error).message}`);
  }
}

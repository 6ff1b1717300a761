'use client';

// User management: search and filter, create one account or import a CSV (all or nothing, every
// problem named by line and field), change roles, disable/enable, reset a password, delete (with
// the username typed as confirmation, workspaces kept or removed). A new credential (initial
// password or one-time link) is shown once, here, and never again.

import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { ROLES, type AdminUser, type Role } from '@reg/protocol';
import { adminApi, AdminApiFailure, type Credential } from '@/clients/admin-client';

type Problem = { message: string; issues: Array<{ path: string; message: string }> };
const problemOf = (e: unknown): Problem => (e instanceof AdminApiFailure ? { message: e.message + (e.hint ? ` — ${e.hint}` : ''), issues: e.issues } : { message: 'the host does not answer', issues: [] });

export default function UsersAdmin() {
  const [q, setQ] = useState('');
  const [role, setRole] = useState<Role | ''>('');
  const [status, setStatus] = useState<'' | 'active' | 'disabled'>('');
  const [page, setPage] = useState(1);
  const [data, setData] = useState<{ users: AdminUser[]; total: number; pageSize: number } | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [issued, setIssued] = useState<Credential[]>([]);
  const [deleting, setDeleting] = useState<AdminUser | null>(null);

  const load = useCallback(() => {
    adminApi.users({ q, role, status, page, pageSize: 50 }).then(setData, (e) => setProblem(problemOf(e)));
  }, [q, role, status, page]);
  useEffect(() => {
    const t = setTimeout(load, 150);
    return () => clearTimeout(t);
  }, [load]);

  const act = async (f: () => Promise<unknown>) => {
    setProblem(null);
    try {
      await f();
      load();
    } catch (e) {
      setProblem(problemOf(e));
    }
  };

  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    await act(async () => {
      const r = await adminApi.createUser({
        username: String(f.get('username')).trim(),
        ...(String(f.get('displayName') ?? '').trim() && { displayName: String(f.get('displayName')).trim() }),
        ...(String(f.get('email') ?? '').trim() && { email: String(f.get('email')).trim() }),
        role: f.get('role') as Role,
        credential: f.get('credential') as 'password' | 'link',
      });
      setIssued([r.credential]);
      form.reset();
    });
  }

  async function importCsv(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const file = f.get('file') as File | null;
    const csv = file && file.size ? await file.text() : String(f.get('csv') ?? '');
    await act(async () => {
      const r = await adminApi.importUsers(csv, f.get('credential') as 'password' | 'link');
      setIssued(r.created);
      form.reset();
    });
  }

  const origin = typeof window === 'undefined' ? '' : window.location.origin;
  const pages = data ? Math.max(1, Math.ceil(data.total / data.pageSize)) : 1;
  return (
    <div>
      <h1>Users</h1>
      {problem && (
        <section className="card danger" role="alert">
          <p className="error">{problem.message}</p>
          {problem.issues.length > 0 && (
            <ul className="issues">
              {problem.issues.map((i, n) => (
                <li key={n}>
                  <b>{i.path.replace('.', ', ')}</b>: {i.message}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {issued.length > 0 && (
        <section className="card credentials" aria-label="new credentials">
          <div className="row">
            <h2>Hand these out now — they are not shown again</h2>
            <span className="spacer" />
            <button className="small" onClick={() => setIssued([])}>
              Done
            </button>
          </div>
          <table className="roster small">
            <tbody>
              {issued.map((c) => (
                <tr key={c.username}>
                  <td>{c.username}</td>
                  <td>{c.initialPassword ? <code data-testid="initial-password">{c.initialPassword}</code> : <code>{origin + (c.link ?? '')}</code>}</td>
                  <td className="muted">{c.initialPassword ? 'initial password (must be changed at first sign-in)' : `one-time link, until ${new Date(c.expiresAt!).toLocaleString()}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}

      <section className="card" aria-label="user list">
        <div className="row">
          <input placeholder="search username, name, email" value={q} onChange={(e) => (setQ(e.target.value), setPage(1))} aria-label="search" />
          <select value={role} onChange={(e) => (setRole(e.target.value as Role | ''), setPage(1))} aria-label="role filter">
            <option value="">every role</option>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <select value={status} onChange={(e) => (setStatus(e.target.value as '' | 'active' | 'disabled'), setPage(1))} aria-label="status filter">
            <option value="">active and disabled</option>
            <option value="active">active</option>
            <option value="disabled">disabled</option>
          </select>
          <span className="spacer" />
          <span className="muted small">{data ? `${data.total} user(s)` : 'loading…'}</span>
        </div>
        <table className="roster" data-testid="users">
          <thead>
            <tr>
              <th>user</th>
              <th>role</th>
              <th>status</th>
              <th>sessions</th>
              <th>running</th>
              <th>last seen</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data?.users.map((u) => (
              <tr key={u.id} data-user={u.username}>
                <td>
                  <b>{u.username}</b> {u.displayName && <span className="muted">{u.displayName}</span>}
                  {u.email && <div className="muted small">{u.email}</div>}
                </td>
                <td>
                  <select value={u.role} aria-label={`role of ${u.username}`} onChange={(e) => act(() => adminApi.updateUser(u.id, { role: e.target.value as Role }))}>
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                </td>
                <td>{u.disabled ? <span className="badge state-ended">disabled</span> : u.mustChangePassword ? <span className="badge">initial password</span> : <span className="badge state-connected">active</span>}</td>
                <td>{u.sessions}</td>
                <td>{u.runningContainers}</td>
                <td className="small muted">{u.lastSeenAt ? new Date(u.lastSeenAt).toLocaleString() : 'never'}</td>
                <td className="actions">
                  <button className="small" onClick={() => act(() => adminApi.updateUser(u.id, { disabled: !u.disabled }))}>
                    {u.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <button className="small" onClick={() => act(async () => setIssued([(await adminApi.resetPassword(u.id, 'password')).credential]))}>
                    Reset password
                  </button>
                  <button className="small" onClick={() => act(async () => setIssued([(await adminApi.resetPassword(u.id, 'link')).credential]))}>
                    Sign-in link
                  </button>
                  <button className="small" onClick={() => setDeleting(u)}>
                    Delete…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {pages > 1 && (
          <div className="row small">
            <button className="small" disabled={page <= 1} onClick={() => setPage(page - 1)}>
              ‹ previous
            </button>
            <span>
              page {page} of {pages}
            </span>
            <button className="small" disabled={page >= pages} onClick={() => setPage(page + 1)}>
              next ›
            </button>
          </div>
        )}
      </section>

      {deleting && <DeleteUser user={deleting} onDone={() => (setDeleting(null), load())} onProblem={setProblem} />}

      <div className="tiles two">
        <form className="card" onSubmit={create} aria-label="create a user">
          <h2>Create a user</h2>
          <label>
            Username
            <input name="username" required pattern="[a-z0-9][a-z0-9._\-]{1,63}" title="2–64 lower-case letters, digits, . _ -" />
          </label>
          <label>
            Display name
            <input name="displayName" />
          </label>
          <label>
            Email
            <input name="email" type="email" />
          </label>
          <label>
            Role
            <select name="role" defaultValue="student">
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
          <label>
            First sign-in with
            <select name="credential" defaultValue="password">
              <option value="password">an initial password (shown once)</option>
              <option value="link">a one-time sign-in link</option>
            </select>
          </label>
          <button className="primary" type="submit">
            Create
          </button>
        </form>
        <form className="card" onSubmit={importCsv} aria-label="import users">
          <h2>Import users (CSV)</h2>
          <p className="small muted">
            One user per line: <code>username,display name,email,role</code> (role: student, instructor or admin; empty: student). A header line is optional. If any line has a problem, nobody is created and every problem is listed.
          </p>
          <label>
            File
            <input name="file" type="file" accept=".csv,text/csv" />
          </label>
          <label>
            or paste
            <textarea name="csv" rows={5} placeholder={'alice,Alice Martin,alice@example.org,student\nbob,Bob Li,,instructor'} />
          </label>
          <label>
            First sign-in with
            <select name="credential" defaultValue="password">
              <option value="password">initial passwords (shown once)</option>
              <option value="link">one-time sign-in links</option>
            </select>
          </label>
          <button className="primary" type="submit">
            Import
          </button>
        </form>
      </div>
    </div>
  );
}

function DeleteUser({ user, onDone, onProblem }: { user: AdminUser; onDone: () => void; onProblem: (p: Problem) => void }) {
  const [confirm, setConfirm] = useState('');
  const [workspaces, setWorkspaces] = useState<'keep' | 'remove'>('keep');
  const [busy, setBusy] = useState(false);
  return (
    <section className="card danger" aria-label={`delete ${user.username}`}>
      <h2>Delete {user.username}?</h2>
      <p>
        {user.runningContainers > 0 ? `Their ${user.runningContainers} running container(s) end now. ` : ''}They are signed out everywhere and the account is gone. Their workspaces:
      </p>
      <label className="inline">
        <input type="radio" name="ws" checked={workspaces === 'keep'} onChange={() => setWorkspaces('keep')} /> keep the files on the host (an admin can recover them)
      </label>
      <label className="inline">
        <input type="radio" name="ws" checked={workspaces === 'remove'} onChange={() => setWorkspaces('remove')} /> remove them
      </label>
      <label>
        Type <b>{user.username}</b> to confirm
        <input value={confirm} onChange={(e) => setConfirm(e.target.value)} aria-label="confirm username" />
      </label>
      <div className="row">
        <button
          className="primary"
          disabled={busy || confirm !== user.username}
          onClick={async () => {
            setBusy(true);
            try {
              await adminApi.deleteUser(user.id, workspaces, confirm);
              onDone();
            } catch (e) {
              onProblem(problemOf(e));
            } finally {
              setBusy(false);
            }
          }}
        >
          Delete {user.username}
        </button>
        <button onClick={onDone}>Cancel</button>
      </div>
    </section>
  );
}

#!/usr/bin/env node
// One-time machine set-up shared by `npm start`, `npm test` and `npm run bench`: installs the
// Debian packages the product and its tests need (idempotent: only what is missing), so the
// README's two commands work on a fresh machine. Set REG_SKIP_APT=1 to skip (e.g. not Debian).
import { spawnSync } from 'node:child_process';

// package → why it is needed
const PACKAGES = {
  'util-linux': 'mount/umount for tests',
  coreutils: 'chroot for tests',
  'docker-registry': 'a real OCI distribution registry for the registry tests',
  'apache2-utils': 'htpasswd (bcrypt) for the registry tests with basic auth',
  chromium: 'the browser the e2e tests drive',
  e2fsprogs: 'mkfs.ext4/resize2fs for the disk-quota volumes of containers and workspaces',
  unzip: 'reading the workspace and collect zips in the classroom tests',
  python3: 'python3.11: the python RET of the container and escape-probe tests; pty.spawn as a terminal holder in the launcher and crash tests',
  postgresql: 'PostgreSQL 15: the host database tests run a second time on a private cluster (scripts/postgres.mjs), and npm run cluster',
};

function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

if (process.env.REG_SKIP_APT !== '1' && spawnSync('which', ['apt-get']).status === 0) {
  const missing = Object.keys(PACKAGES).filter((p) => !installed(p));
  if (missing.length) {
    if (process.getuid?.() !== 0) {
      console.error(`setup: missing Debian packages: ${missing.join(' ')} (run as root, or install them yourself)`);
    } else {
      console.log(`setup: installing ${missing.map((p) => `${p} (${PACKAGES[p]})`).join(', ')}`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
      if (r.status !== 0) process.exit(r.status ?? 1);
      // docker-registry's package starts a system service on :5000; the tests start their own.
      spawnSync('systemctl', ['disable', '--now', 'docker-registry'], { stdio: 'ignore' });
      // postgresql's package starts the machine's own cluster on :5432; the tests run private ones.
      if (missing.includes('postgresql')) {
        spawnSync('systemctl', ['disable', '--now', 'postgresql'], { stdio: 'ignore' });
        spawnSync('service', ['postgresql', 'stop'], { stdio: 'ignore' });
      }
    }
  }
}

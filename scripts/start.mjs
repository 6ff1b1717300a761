#!/usr/bin/env node
// `npm start`: the Reg host and the web app with the embedded defaults (REG_HOME=/var/lib/reg,
// web on PORT=3000, host on HOST_PORT=3001), the python and node RETs built from this machine
// if missing, the URL and the demo accounts printed. Ctrl-C stops both (the host ends every
// terminal first).
import { ensureRets, startStack } from './stack.mjs';

const regHome = process.env.REG_HOME || '/var/lib/reg';
if (process.getuid?.() !== 0) console.warn('start: not root: containers need root (namespaces, cgroups, overlay mounts)');
await ensureRets(regHome, (m) => console.log(`start: ${m}`));
const stack = await startStack({ regHome, stdio: 'inherit' });
const { demo } = stack.host;
console.log(`
  Reg is running: ${stack.webUrl}
  (host API ${stack.hostUrl}/api, admin socket ${stack.host.socket})

  Sign in with one of the demo accounts, password: ${demo.password}
    ${demo.users.map((u) => `${u.username} (${u.role})`).join(', ')}

  Ctrl-C stops everything.
`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.log('start: stopping…');
    void stack.stop('SIGTERM').then(() => process.exit(0));
  });
}
for (const c of [stack.host.process, stack.web?.process]) {
  c?.on('exit', (code) => {
    if (stopping) return;
    console.error(`start: a child exited (${code}); stopping`);
    stopping = true;
    void stack.stop().then(() => process.exit(1));
  });
}

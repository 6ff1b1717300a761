// The toolbox every class environment gets beside its runtime: a real shell, the core utilities,
// two editors, git and a pager, built from Debian packages (never installed on the host) as one
// bundle RET, tools@1, that requires nothing from the runtime and is combined with it by
// composing: `reg ret compose --name python-tools python@3.11 tools@1`.

import type { RegHome } from '../home.js';
import { buildFromDeb, type DebBuildReport } from './build-from-deb.js';
import { composeRet } from './compose.js';
import { listVersions } from './repository.js';

export const TOOLBOX = {
  name: 'tools',
  version: '1',
  packages: ['bash', 'dash', 'coreutils', 'nano', 'vim-tiny', 'git', 'less', 'ncurses-base', 'ncurses-bin', 'grep', 'sed', 'findutils', 'diffutils', 'procps'],
  // perl (and with it perl-base, dpkg and tar) only serves git's perl scripts (send-email, svn,
  // instaweb) and package management; init-system-helpers only procps's service files.
  skip: ['perl', 'perl-base', 'dpkg', 'init-system-helpers'],
  // dash ships /bin/sh → dash (Debian's default shell for scripts; bash's postinst would
  // otherwise point it at bash). vim-tiny has no `vim` alternative; students type vim.
  links: { '/usr/bin/vim': 'vim.tiny' },
  env: { EDITOR: 'nano', VISUAL: 'nano', PAGER: 'less', LESS: '-R', SHELL: '/bin/bash' },
};

/** Builds tools@1 unless REG_HOME has it (idempotent: an existing toolbox costs one readdir). */
export async function ensureToolbox(home: RegHome, log: (l: string) => void = () => {}): Promise<DebBuildReport | undefined> {
  if ((await listVersions(home, TOOLBOX.name)).includes(TOOLBOX.version)) return undefined;
  log(`building the ${TOOLBOX.name}@${TOOLBOX.version} RET from Debian packages (once): ${TOOLBOX.packages.join(' ')}`);
  return buildFromDeb(home, TOOLBOX.packages, { name: TOOLBOX.name, version: TOOLBOX.version, skip: TOOLBOX.skip, links: TOOLBOX.links, env: TOOLBOX.env, log });
}

/**
 * An environment RET `<runtime>-tools@<version>`: the runtime and the toolbox together, with a
 * login shell as its command (the runtime's own command is one `python3` away). Idempotent.
 */
export async function ensureToolboxEnvironment(home: RegHome, runtime: { name: string; version: string }): Promise<string> {
  const name = `${runtime.name}-tools`;
  const ref = `${name}@${runtime.version}`;
  if ((await listVersions(home, name)).includes(runtime.version)) return ref;
  await composeRet(home, { name, version: runtime.version, members: [`${runtime.name}@${runtime.version}`, `${TOOLBOX.name}@${TOOLBOX.version}`], command: ['/bin/bash', '-l'] });
  return ref;
}

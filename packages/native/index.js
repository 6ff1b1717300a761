// @reg/native: absolute paths of the executables built by `node-gyp rebuild`
// (binding.gyp). The launcher is an executable, not an addon; TypeScript spawns it.
import { fileURLToPath } from 'node:url';

const release = fileURLToPath(new URL('./build/Release/', import.meta.url));

/** The container launcher (see src/main.c for its command line). */
export const launcherPath = `${release}reg-launch`;
/** The log helper of a detached container (see src/logger/log.c): `reg-log PATH MAX_BYTES FILES`. */
export const logWriterPath = `${release}reg-log`;
/** The statically linked test probe that answers questions from inside a container. */
export const probePath = `${release}reg-probe`;

/** The container launcher (see src/main.c for its command line). */
export declare const launcherPath: string;
/** The log helper of a detached container (see src/logger/log.c): `reg-log PATH MAX_BYTES FILES`. */
export declare const logWriterPath: string;
/** The statically linked test probe that answers questions from inside a container. */
export declare const probePath: string;

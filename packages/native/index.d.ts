/** The container launcher (see src/main.c for its command line). */
export declare const launcherPath: string;
/** The statically linked test probe that answers questions from inside a container. */
export declare const probePath: string;

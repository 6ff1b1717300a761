/* probe.h: the parts of reg-probe that live in escapes.c. */
#ifndef REG_PROBE_H
#define REG_PROBE_H

/* "EPERM", "ENOSYS", ... for tests to compare. */
const char *errname(int err);

/* One JSON line per escape attempt: {"probe":…,"escaped":…,"detail":…}. */
int probe_escapes(int argc, char **argv);
/* pthread_create, fork and clone3's fallback work: one JSON line. */
int probe_threads(void);
/* Writes 1 MiB chunks into DIR/fill until an error: "ENOSPC after N MiB". */
int probe_fill(const char *dir);
/* Opens /dev/ptmx until refused: "ENOSPC after N" (holds them until killed if asked). */
int probe_pty_hog(void);

#endif

/* reg-log: the log helper of a detached container.
 *
 * Theory of operation. `reg-log PATH MAX_BYTES FILES` copies its stdin (a pipe
 * whose write ends are the container's stdout and stderr) into PATH until every
 * writer has closed the pipe, then exits 0. PATH grows to MAX_BYTES, then becomes
 * PATH.1 (PATH.1 becomes PATH.2, ..., up to FILES rotated copies, the oldest
 * dropped), like Docker's json-file driver with max-size/max-file. Chunks are
 * split at the last newline that still fits, so lines stay whole across files
 * where they can. This is the same behaviour as RotatingLog in
 * reg-core/src/container/log-writer.ts, which reads these files back.
 *
 * It replaces a Node process per container (35-40 MB RSS) by one that needs a
 * page or two of heap: one static buffer, no allocation. Policy (sizes, where
 * the log lives) is decided by TypeScript; this program only executes it.
 *
 * Failure model: bad arguments exit 2 with one line on stderr (the engine checks
 * its arguments before spawning, so this is a bug, not a user error). A failed
 * write (disk full) drops that output rather than block the container on a
 * full pipe; a failed rotation keeps appending to the current file. Signals that
 * would end it early (SIGHUP when the CLI's terminal closes, SIGINT/SIGTERM sent
 * to the CLI's process group, SIGPIPE) are ignored: the container's output must
 * keep a reader until the container is gone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotate.h"

static int parse_count(const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

static void ignore_signals(void)
{
    const int sigs[] = {SIGHUP, SIGINT, SIGTERM, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (signal(sigs[i], SIG_IGN) == SIG_ERR)
            dprintf(STDERR_FILENO, "reg-log: ignoring signal %d: %s\n", sigs[i], strerror(errno));
}

int main(int argc, char **argv)
{
    long long max_bytes, files;
    if (argc != 4 || parse_count(argv[2], 1, &max_bytes) != 0 || parse_count(argv[3], 0, &files) != 0 ||
        files > 1000) {
        dprintf(STDERR_FILENO, "usage: reg-log PATH MAX_BYTES(>=1) FILES(0..1000)\n");
        return 2;
    }
    ignore_signals();

    struct rotating_log log;
    if (rlog_open(&log, argv[1], max_bytes, (int)files) != 0) {
        dprintf(STDERR_FILENO, "reg-log: opening %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    static char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0)
            break; /* every writer closed the pipe: the container is gone */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dprintf(STDERR_FILENO, "reg-log: reading stdin: %s\n", strerror(errno));
            break;
        }
        rlog_write(&log, buf, (size_t)n);
    }
    rlog_close(&log);
    return 0;
}

/* rotate.c: the rotation itself. Kept apart from log.c's argument handling so the
 * order of the renames is the one place to read: drop PATH.FILES, shift
 * PATH.(i) to PATH.(i+1) from the oldest down, reopen an empty PATH. Chunks are
 * split at the last newline that fits; a line that does not fit in what is left
 * of the current file starts the next one, so lines stay whole where they can. A reader
 * following PATH (log-reader.ts, like `tail -F`) sees a new inode and finishes
 * the old one first. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotate.h"

static int open_current(struct rotating_log *log)
{
    log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log->fd < 0)
        return -1;
    struct stat st;
    if (fstat(log->fd, &st) != 0) {
        int err = errno;
        close(log->fd);
        log->fd = -1;
        errno = err;
        return -1;
    }
    log->size = st.st_size;
    return 0;
}

int rlog_open(struct rotating_log *log, const char *path, long long max_bytes, int files)
{
    log->path = path;
    log->max_bytes = max_bytes;
    log->files = files;
    return open_current(log);
}

/* PATH for n = 0, PATH.n otherwise; -1 when the name does not fit. */
static int rotated_path(char *out, size_t size, const char *path, int n)
{
    int len = n == 0 ? snprintf(out, size, "%s", path) : snprintf(out, size, "%s.%d", path, n);
    return len < 0 || (size_t)len >= size ? -1 : 0;
}

static void rotate(struct rotating_log *log)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    if (rotated_path(to, sizeof to, log->path, log->files) == 0)
        unlink(to); /* the oldest copy, or PATH itself when no copies are kept */
    for (int i = log->files - 1; i >= 0; i--) {
        if (rotated_path(from, sizeof from, log->path, i) != 0 || rotated_path(to, sizeof to, log->path, i + 1) != 0)
            continue;
        if (rename(from, to) != 0 && errno != ENOENT)
            dprintf(STDERR_FILENO, "reg-log: rotating %s: %s\n", from, strerror(errno));
    }
    if (open_current(log) != 0) {
        dprintf(STDERR_FILENO, "reg-log: reopening %s: %s\n", log->path, strerror(errno));
        log->size = 0; /* retried at the next rotation point */
    }
}

/* Writes all of data[0..len) to fd; gives up on an error other than EINTR. */
static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* disk full or I/O error: drop, never block the container */
        }
        data += n;
        len -= (size_t)n;
    }
}

void rlog_write(struct rotating_log *log, const char *data, size_t len)
{
    while (len > 0) {
        if (log->size >= log->max_bytes)
            rotate(log); /* also where a failed reopen is retried */
        long long room = log->max_bytes - log->size;
        size_t n = (long long)len < room ? len : (size_t)room;
        if (n < len) {
            /* Split at the last newline that fits, so lines stay whole where they can. */
            const char *nl = memrchr(data, '\n', n);
            if (nl != NULL) {
                n = (size_t)(nl - data) + 1;
            } else if (log->size > 0) {
                /* The next line does not fit in what is left: start it in a fresh file.
                 * After the rotation size is 0, so a line longer than a whole file is cut. */
                rotate(log);
                continue;
            }
        }
        if (log->fd >= 0)
            write_all(log->fd, data, n);
        log->size += (long long)n;
        data += n;
        len -= n;
    }
}

void rlog_close(struct rotating_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}

/* rotate.h: a size-bounded log file with numbered rotated copies (see log.c). */
#ifndef REG_LOG_ROTATE_H
#define REG_LOG_ROTATE_H

#include <stddef.h>

struct rotating_log {
    const char *path;
    long long max_bytes; /* size at which the current file is rotated (>= 1) */
    int files;           /* rotated copies kept besides the current one (>= 0) */
    int fd;              /* -1 after a failed reopen: output is dropped until the next rotation */
    long long size;      /* bytes in the current file */
};

/* Opens (appending, creating with mode 0600) the current file. -1 with errno on failure. */
int rlog_open(struct rotating_log *log, const char *path, long long max_bytes, int files);

/* Appends len bytes, rotating first whenever the current file is full. Never fails:
 * what cannot be written (disk full) is dropped. */
void rlog_write(struct rotating_log *log, const char *data, size_t len);

void rlog_close(struct rotating_log *log);

#endif

/* report.c: the child-to-parent close-on-exec pipe described in report.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "die.h"
#include "report.h"

void report_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        die_errno("pipe", "pipe2");
}

void report_send(int fd, enum report_kind kind, int value)
{
    struct report r = {.kind = kind, .value = value};
    /* sizeof r < PIPE_BUF: the write is atomic. */
    while (write(fd, &r, sizeof r) < 0 && errno == EINTR) {
    }
}

struct report_outcome report_collect(int fd)
{
    struct report_outcome out = {0};
    struct report r;
    for (;;) {
        ssize_t n = read(fd, &r, sizeof r);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof r)
            break; /* EOF: exec happened or the child is gone */
        if (r.kind == REPORT_HOST_PID) {
            out.host_pid = r.value;
        } else {
            out.failed_kind = r.kind;
            out.err = r.value;
        }
    }
    return out;
}

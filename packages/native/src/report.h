/* report.h: the close-on-exec pipe from the command's process to its parent.
 *
 * The child writes its host pid first, then, if something goes wrong before
 * the new program runs, one failure record. End-of-file without a failure
 * record means execve succeeded (the pipe's write end was closed by exec). */
#ifndef REG_REPORT_H
#define REG_REPORT_H

#include <sys/types.h>

enum report_kind {
    REPORT_HOST_PID = 1,     /* value: the child's pid in the launcher's pid ns */
    REPORT_SETUP_FAILED = 2, /* value: errno; the child already emitted setup-failed */
    REPORT_EXEC_FAILED = 3,  /* value: errno of execve */
};

struct report {
    int kind;
    int value;
};

/* Creates the pipe (both ends O_CLOEXEC); dies on failure. */
void report_pipe(int fds[2]);

/* Best-effort write of one record. */
void report_send(int fd, enum report_kind kind, int value);

/* Outcome seen by the parent after reading until EOF. */
struct report_outcome {
    pid_t host_pid;  /* 0 when unknown */
    int failed_kind; /* 0 (exec succeeded), REPORT_SETUP_FAILED or REPORT_EXEC_FAILED */
    int err;
};

struct report_outcome report_collect(int fd);

#endif

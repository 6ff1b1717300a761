/* status.h: the machine-readable event stream (one JSON object per line).
 *
 * Events go to the fd given by --status-fd, never to stderr, so the user's
 * terminal output and the engine's bookkeeping cannot be confused. Each event
 * is a single write(2) of less than PIPE_BUF bytes, so lines written by the
 * outer launcher, pid 1 and the command's parent never interleave. */
#ifndef REG_STATUS_H
#define REG_STATUS_H

#include <sys/types.h>

/* Remembers fd (-1: no events) and marks it close-on-exec. */
void status_init(int fd);

void status_pid(pid_t host_pid);
void status_started(pid_t host_pid); /* host_pid <= 0: field omitted */
void status_exit(int code);
void status_signaled(int signal);
void status_exec_failed(int err);
void status_setup_failed(const char *step, int err, const char *message);
void status_inserted(const char *dir);

#endif

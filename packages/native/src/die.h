/* die.h: fatal-error helpers for the launcher's setup steps.
 *
 * Every setup failure ends the process with exit code 125 after emitting one
 * setup-failed event on the status fd and one human line on stderr. The caller
 * names the step ("overlay", "pivot-root", ...) so TypeScript can tell which
 * part of the plan was rejected. */
#ifndef REG_DIE_H
#define REG_DIE_H

#define EXIT_SETUP_FAILED 125
#define EXIT_EXEC_FAILED 127

/* Fails step with the current errno appended as strerror. */
_Noreturn void die_errno(const char *step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fails step with an explicit errno (use EINVAL for bad flags). */
_Noreturn void die_with(const char *step, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails step with the current errno, appending the error log of the new-mount-API
 * filesystem context fs (e.g. "overlay: workdir and upperdir must be separate
 * subtrees"), which says far more than the errno alone. */
_Noreturn void die_fs(const char *step, int fs, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A child that fails setup also tells its parent through this fd (see
 * report.h), so the parent knows the child's exit is a setup failure and not the
 * command's. -1 when there is no such parent. */
void die_set_report_fd(int fd);

/* A parked launcher's control connection (park.c): a setup failure also
 * sends the peer its exit code, 125. -1 when there is none. */
void die_set_control_fd(int fd);

#endif

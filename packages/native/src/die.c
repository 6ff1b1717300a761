/* die.c: report a setup failure on the status fd and stderr, then exit 125. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "die.h"
#include "report.h"
#include "status.h"

static int report_fd = -1;
static int control_fd = -1;

void die_set_report_fd(int fd) { report_fd = fd; }

void die_set_control_fd(int fd) { control_fd = fd; }

static _Noreturn void die_common(const char *step, int err, const char *fmt,
                                 va_list ap)
{
    char message[512];
    int n = vsnprintf(message, sizeof message, fmt, ap);
    if (err != 0 && n >= 0 && (size_t)n < sizeof message)
        snprintf(message + n, sizeof message - (size_t)n, ": %s", strerror(err));
    status_setup_failed(step, err, message);
    dprintf(STDERR_FILENO, "reg-launch: %s: %s\n", step, message);
    if (report_fd >= 0)
        report_send(report_fd, REPORT_SETUP_FAILED, err);
    if (control_fd >= 0)
        control_send_code(control_fd, EXIT_SETUP_FAILED);
    _exit(EXIT_SETUP_FAILED);
}

void die_errno(const char *step, const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    die_common(step, err, fmt, ap);
}

void die_with(const char *step, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die_common(step, err, fmt, ap);
}

void die_fs(const char *step, int fs, const char *fmt, ...)
{
    int err = errno;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char log[256] = "";
    ssize_t n = read(fs, log, sizeof log - 1);
    log[n > 0 ? n : 0] = '\0';
    if (n > 0 && log[n - 1] == '\n')
        log[n - 1] = '\0';
    die_with(step, err, "%s%s%s", what, n > 0 ? " -- " : "", log);
}

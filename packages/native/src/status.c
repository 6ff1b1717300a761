/* status.c: format and write the JSON event lines described in status.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

static int status_fd = -1;

void status_init(int fd)
{
    status_fd = fd;
    /* The command must never inherit the engine's channel. */
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Appends s as a JSON string body (without quotes) to out. */
static void json_escape(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    if (status_fd < 0)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* A reader that went away must not turn into a setup failure: events are
     * best effort, the exit status is authoritative. EPIPE is ignored (SIGPIPE
     * is ignored by the launcher). */
    int saved = errno;
    while (write(status_fd, line, (size_t)n) < 0 && errno == EINTR) {
    }
    errno = saved;
}

void status_pid(pid_t host_pid) { emit("{\"event\":\"pid\",\"pid\":%d}", (int)host_pid); }

void status_started(pid_t host_pid)
{
    if (host_pid > 0)
        emit("{\"event\":\"started\",\"pid\":%d}", (int)host_pid);
    else
        emit("{\"event\":\"started\"}");
}

void status_exit(int code) { emit("{\"event\":\"exit\",\"code\":%d}", code); }

void status_signaled(int signal) { emit("{\"event\":\"signaled\",\"signal\":%d}", signal); }

void status_exec_failed(int err)
{
    char error[256];
    json_escape(error, sizeof error, strerror(err));
    emit("{\"event\":\"exec-failed\",\"errno\":%d,\"error\":\"%s\"}", err, error);
}

void status_setup_failed(const char *step, int err, const char *message)
{
    char s[64], m[600];
    json_escape(s, sizeof s, step);
    json_escape(m, sizeof m, message);
    emit("{\"event\":\"setup-failed\",\"step\":\"%s\",\"errno\":%d,\"error\":\"%s\"}", s, err, m);
}

void status_inserted(const char *dir)
{
    char d[600];
    json_escape(d, sizeof d, dir);
    emit("{\"event\":\"inserted\",\"dir\":\"%s\"}", d);
}

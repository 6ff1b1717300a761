/* control.c: the control socket of a parked launcher (see control.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "die.h"

#define STEP "control"

static void control_address(const char *path, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path)
        die_with(STEP, ENAMETOOLONG, "--control: path longer than %zu bytes: '%s'", sizeof addr->sun_path - 1, path);
    strcpy(addr->sun_path, path);
}

int control_listen(const char *path)
{
    char tmp[sizeof ((struct sockaddr_un *)0)->sun_path + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        die_with(STEP, ENAMETOOLONG, "--control: path too long: '%s'", path);
    struct sockaddr_un addr;
    control_address(tmp, &addr);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die_errno(STEP, "socket");
    /* The socket is created 0600 (root only) before anyone can connect. */
    mode_t old = umask(0177);
    (void)unlink(tmp); /* a leftover of a launcher killed between bind and rename */
    int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (r < 0)
        die_errno(STEP, "bind %s", tmp);
    if (listen(fd, 1) < 0)
        die_errno(STEP, "listen %s", tmp);
    if (rename(tmp, path) < 0)
        die_errno(STEP, "rename %s to %s", tmp, path);
    return fd;
}

int control_accept(int listen_fd, unsigned int idle_seconds)
{
    for (;;) {
        if (idle_seconds > 0) {
            struct pollfd p = {.fd = listen_fd, .events = POLLIN};
            int n = poll(&p, 1, (int)(idle_seconds > 2000000 ? 2000000000 : idle_seconds * 1000));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                die_errno(STEP, "poll");
            if (n == 0)
                return -1;
        }
        int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn >= 0)
            return conn;
        if (errno != EINTR && errno != ECONNABORTED)
            die_errno(STEP, "accept");
    }
}

/* Reads exactly n bytes; false on EOF first. */
static bool read_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die_errno(STEP, "read plan");
        if (r == 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

char **control_recv_plan(int conn, int *argc, int fds[3])
{
    fds[0] = fds[1] = fds[2] = -1;
    /* The length, with the fds (if any) riding on it. */
    unsigned char header[4];
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n;
    while ((n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        die_errno(STEP, "recvmsg");
    if (n == 0)
        return NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (count != 3)
            die_with("plan", EINVAL, "expected 3 stdio fds with the plan, got %zu", count);
        memcpy(fds, CMSG_DATA(c), 3 * sizeof(int));
    }
    if (msg.msg_flags & MSG_CTRUNC)
        die_with("plan", EINVAL, "too many fds passed with the plan");
    if (n < (ssize_t)sizeof header && !read_exact(conn, header + n, sizeof header - (size_t)n))
        return NULL;
    uint32_t len = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 | (uint32_t)header[3] << 24;
    if (len == 0 || len > CONTROL_PLAN_MAX)
        die_with("plan", EINVAL, "plan length %u out of range (1 to %u bytes)", len, CONTROL_PLAN_MAX);
    char *body = malloc(len);
    if (body == NULL)
        die_errno("plan", "malloc");
    if (!read_exact(conn, body, len))
        return NULL;
    if (body[len - 1] != '\0')
        die_with("plan", EINVAL, "plan does not end with a NUL");
    size_t count = 0;
    for (uint32_t i = 0; i < len; i++)
        count += body[i] == '\0';
    char **argv = calloc(count + 2, sizeof *argv);
    if (argv == NULL)
        die_errno("plan", "calloc");
    argv[0] = "reg-launch";
    size_t k = 1;
    for (uint32_t i = 0; i < len; i += (uint32_t)strlen(body + i) + 1)
        argv[k++] = body + i;
    *argc = (int)k;
    return argv;
}

int control_connect(const char *path)
{
    struct sockaddr_un addr;
    control_address(path, &addr);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die_errno("attach", "socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die_errno("attach", "connect %s", path);
    return fd;
}

static void send_all(int sock, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die_errno("attach", "send plan");
        p += w;
        n -= (size_t)w;
    }
}

void control_send_plan(int sock, char *const *argv, bool with_stdio)
{
    size_t len = 0;
    for (size_t i = 0; argv[i] != NULL; i++)
        len += strlen(argv[i]) + 1;
    if (len == 0 || len > CONTROL_PLAN_MAX)
        die_with("attach", EINVAL, "plan of %zu bytes out of range", len);
    unsigned char header[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (with_stdio) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(3 * sizeof(int));
        int stdio[3] = {0, 1, 2};
        memcpy(CMSG_DATA(c), stdio, sizeof stdio);
    }
    ssize_t w;
    while ((w = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (w < 0)
        die_errno("attach", "sendmsg");
    if (w < (ssize_t)sizeof header)
        send_all(sock, (const char *)header + w, sizeof header - (size_t)w);
    char *body = malloc(len), *p = body;
    if (body == NULL)
        die_errno("attach", "malloc");
    for (size_t i = 0; argv[i] != NULL; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(p, argv[i], l);
        p += l;
    }
    send_all(sock, body, len);
    free(body);
}

void control_send_code(int conn, int code)
{
    char line[16];
    int n = snprintf(line, sizeof line, "%d\n", code);
    while (send(conn, line, (size_t)n, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

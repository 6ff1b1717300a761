/* escapes.c: the escape attempts of "reg-probe escapes", run as the student
 * inside a container. Each probe tries one way out (or one information leak)
 * and prints {"probe":NAME,"escaped":BOOL,"detail":TEXT}; escaped is true only
 * when the attempt worked. The suite (packages/reg-core/src/security/
 * escape-probes.test.ts) fails on any true. Every attempt is harmless when it
 * fails and, when it works, undoes itself (a child exits, an fd closes). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "probe.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void report(const char *probe, bool escaped, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(const char *probe, bool escaped, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("{\"probe\":");
    json_string(probe);
    printf(",\"escaped\":%s,\"detail\":", escaped ? "true" : "false");
    json_string(detail);
    printf("}\n");
    fflush(stdout);
}

/* A syscall result as "ok" or its errno name; *worked is set when it succeeded. */
static const char *outcome(long r, bool *worked)
{
    *worked = r >= 0;
    return r >= 0 ? "ok" : errname(errno);
}

static void probe_mount(void)
{
    bool w;
    const char *r = outcome(mount("none", "/tmp", "tmpfs", 0, NULL), &w);
    if (w)
        umount2("/tmp", MNT_DETACH);
    report("mount", w, "mount(tmpfs on /tmp): %s", r);
    int fs = (int)syscall(SYS_fsopen, "tmpfs", 0);
    r = outcome(fs, &w);
    if (w)
        close(fs);
    report("fsopen", w, "fsopen(tmpfs): %s", r);
    r = outcome(chroot("/tmp"), &w);
    report("chroot", w, "chroot(/tmp): %s", r);
}

static const struct {
    const char *name;
    int flag;
} ns_flags[] = {
    {"NEWUSER", CLONE_NEWUSER}, {"NEWNS", CLONE_NEWNS},         {"NEWPID", CLONE_NEWPID},
    {"NEWNET", CLONE_NEWNET},   {"NEWUTS", CLONE_NEWUTS},       {"NEWIPC", CLONE_NEWIPC},
    {"NEWCGROUP", CLONE_NEWCGROUP},
};

/* fork-like raw clone with extra flags; the child exits at once. */
static long raw_clone(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid;
}

static void probe_namespaces(void)
{
    char detail[512] = "";
    bool any = false;
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++) {
        bool w;
        const char *r = outcome(raw_clone((unsigned long)ns_flags[i].flag), &w);
        any |= w;
        snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "%s%s=%s", i ? " " : "",
                 ns_flags[i].name, r);
    }
    report("clone-namespace-flags", any, "clone(CLONE_x): %s", detail);
    bool w;
    const char *r = outcome(raw_clone(CLONE_NEWUSER | CLONE_NEWNET), &w);
    report("clone-newuser-newnet", w, "clone(CLONE_NEWUSER|CLONE_NEWNET): %s", r);

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER | CLONE_NEWNET;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    r = outcome(pid, &w);
    report("clone3-newuser", w, "clone3(CLONE_NEWUSER|CLONE_NEWNET): %s", r);
    /* Even a plain clone3 must not work: its flags cannot be inspected. */
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    r = outcome(pid, &w);
    report("clone3-plain", w && errno != ENOSYS, "clone3(): %s (ENOSYS expected: libc falls back)", r);

    char udetail[256] = "";
    any = false;
    static const int unshare_flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWTIME};
    static const char *const unshare_names[] = {"NEWUSER", "NEWNS", "NEWNET", "NEWTIME"};
    for (size_t i = 0; i < 4; i++) {
        pid_t child = fork();
        if (child == 0)
            _exit(unshare(unshare_flags[i]) == 0 ? 0 : errno);
        int st = 0;
        waitpid(child, &st, 0);
        int err = WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
        any |= err == 0;
        snprintf(udetail + strlen(udetail), sizeof udetail - strlen(udetail), "%s%s=%s", i ? " " : "",
                 unshare_names[i], err == 0 ? "ok" : errname(err));
    }
    report("unshare", any, "unshare(CLONE_x): %s", udetail);
    int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        report("setns-pid1", false, "open /proc/1/ns/mnt: %s", errname(errno));
    } else {
        r = outcome(setns(fd, 0), &w);
        report("setns-pid1", w, "setns(/proc/1/ns/mnt): %s", r);
        close(fd);
    }
}

static void probe_io_uring(void)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    bool w;
    long fd = syscall(__NR_io_uring_setup, 4, &params);
    const char *r = outcome(fd, &w);
    if (w)
        close((int)fd);
    report("io_uring", w, "io_uring_setup: %s", r);
}

static void probe_ptrace(int other_pid)
{
    bool w;
    const char *r = outcome(ptrace(PTRACE_ATTACH, 1, NULL, NULL), &w);
    if (w)
        ptrace(PTRACE_DETACH, 1, NULL, NULL);
    report("ptrace-pid1", w, "ptrace(ATTACH, 1): %s", r);
    r = outcome(kill(1, SIGKILL), &w);
    report("kill-pid1", w, "kill(1, SIGKILL): %s", r);
    /* A sibling we own: ptrace must be refused even for our own child. */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    r = outcome(ptrace(PTRACE_ATTACH, child, NULL, NULL), &w);
    report("ptrace-own-child", w, "ptrace(ATTACH, own child): %s", r);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (other_pid > 0) {
        /* A host pid (another container's process) is not even nameable here. */
        r = outcome(kill(other_pid, 0), &w);
        bool w2;
        const char *r2 = outcome(ptrace(PTRACE_ATTACH, other_pid, NULL, NULL), &w2);
        report("other-container-process", w || w2, "kill(%d, 0): %s; ptrace: %s", other_pid, r, r2);
    }
}

static void probe_tiocsti(void)
{
    char c = ' ';
    bool w;
    const char *r = outcome(ioctl(0, TIOCSTI, &c), &w);
    /* On a pty of our own, too: the filter must answer before the driver. */
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    const char *r2 = "no ptmx";
    bool w2 = false;
    if (m >= 0) {
        r2 = outcome(ioctl(m, TIOCSTI, &c), &w2);
        close(m);
    }
    report("tiocsti", w || w2, "TIOCSTI on stdin: %s; on a new pty: %s", r, r2);
    m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m >= 0) {
        int ldisc = 0; /* N_TTY: harmless if it got through, but it must not */
        r = outcome(ioctl(m, TIOCSETD, &ldisc), &w);
        close(m);
        report("line-discipline", w, "TIOCSETD on a new pty: %s", r);
    } else {
        report("line-discipline", false, "no ptmx: %s", errname(errno));
    }
}

static void probe_store(const char *file)
{
    if (file == NULL)
        return;
    struct stat before;
    if (stat(file, &before) < 0) {
        report("store-write", false, "stat %s: %s", file, errname(errno));
        return;
    }
    bool w;
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    const char *r = outcome(fd, &w);
    if (w)
        close(fd);
    report("store-write", w, "open(%s, O_WRONLY): %s", file, r);
    bool wc;
    const char *rc = outcome(chmod(file, 0777), &wc);
    bool wl;
    const char *rl = outcome(link(file, "/tmp/reg-probe-link"), &wl);
    if (wl)
        unlink("/tmp/reg-probe-link");
    bool wt;
    const char *rt = outcome(truncate(file, 0), &wt);
    report("store-metadata", wc || wt, "chmod: %s; truncate: %s; link into /tmp: %s", rc, rt, rl);
}

/* Another container's file, named by its host path: it must not resolve here,
 * directly or through pid 1's root (a root-owned process: no ptrace access). */
static void probe_other_file(const char *path)
{
    if (path == NULL)
        return;
    char via[4200];
    const char *tries[3] = {path, via, NULL};
    snprintf(via, sizeof via, "/proc/1/root%s", path);
    char detail[512] = "";
    bool any = false;
    for (int i = 0; tries[i] != NULL; i++) {
        int fd = open(tries[i], O_RDONLY | O_CLOEXEC);
        any |= fd >= 0;
        snprintf(detail + strlen(detail), sizeof detail - strlen(detail), "%s%s: %s", i ? "; " : "",
                 i ? "via /proc/1/root" : "host path", fd >= 0 ? "ok" : errname(errno));
        if (fd >= 0)
            close(fd);
    }
    report("other-container-file", any, "%s", detail);
}

static void probe_network(int port, const char *abstract)
{
    if (port > 0) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool w;
        const char *r = outcome(connect(s, (struct sockaddr *)&a, sizeof a), &w);
        close(s);
        report("host-loopback-port", w, "connect(127.0.0.1:%d): %s", port, r);
    }
    if (abstract != NULL) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t len = strlen(abstract);
        if (len > sizeof a.sun_path - 2)
            len = sizeof a.sun_path - 2;
        memcpy(a.sun_path + 1, abstract, len); /* sun_path[0] = 0: abstract */
        bool w;
        const char *r = outcome(connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)), &w);
        close(s);
        report("host-abstract-socket", w, "connect(@%s): %s", abstract, r);
    }
    /* AF_VSOCK reaches the hypervisor when the host is a VM: no namespace
     * separates it, so the filter refuses the socket itself. */
    int vs = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool wv;
    const char *rv = outcome(vs, &wv);
    if (wv)
        close(vs);
    report("vsock", wv || errno != EPERM, "socket(AF_VSOCK): %s", rv);
    int raw = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    bool w;
    const char *r = outcome(raw, &w);
    if (w)
        close(raw);
    report("raw-socket", w, "socket(AF_PACKET, SOCK_RAW): %s", r);
}

/* Reads a whole (small) file; returns its length or -1. NULs become spaces. */
static long slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return (long)n;
}

/* Whether any of the secrets (host paths, the container id, the uid) appears
 * in a file anyone in the container can read. */
static void probe_leaks(char **secrets, size_t n_secrets)
{
    static const char *const files[] = {
        "/proc/1/cmdline", "/proc/self/mountinfo", "/proc/1/mountinfo", "/proc/1/environ",
        "/proc/self/cgroup", "/proc/1/cgroup", "/proc/1/comm", "/proc/1/status",
    };
    static char buf[1 << 20];
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char name[64];
        snprintf(name, sizeof name, "leak:%s", files[f]);
        if (slurp(files[f], buf, sizeof buf) < 0) {
            report(name, false, "unreadable: %s", errname(errno));
            continue;
        }
        const char *found = NULL;
        for (size_t i = 0; i < n_secrets && found == NULL; i++)
            if (secrets[i][0] != '\0' && strstr(buf, secrets[i]) != NULL)
                found = secrets[i];
        if (found != NULL)
            report(name, true, "names %s", found);
        else
            report(name, false, "names none of %zu host strings", n_secrets);
    }
}

static void probe_privileges(void)
{
    bool w;
    const char *r = outcome(setuid(0), &w);
    report("setuid-0", w, "setuid(0): %s", r);
    char status[8192];
    long cap_eff = -1, nnp = -1;
    if (slurp("/proc/self/status", status, sizeof status) > 0) {
        char *p = strstr(status, "CapEff:");
        if (p)
            cap_eff = strtol(p + 7, NULL, 16);
        p = strstr(status, "NoNewPrivs:");
        if (p)
            nnp = strtol(p + 11, NULL, 10);
    }
    report("capabilities", cap_eff != 0 || nnp != 1, "CapEff=%lx NoNewPrivs=%ld", cap_eff, nnp);
    r = outcome(mknod("/tmp/reg-probe-disk", S_IFBLK | 0600, makedev(8, 0)), &w);
    if (w)
        unlink("/tmp/reg-probe-disk");
    report("mknod", w, "mknod(block 8:0): %s", r);
    r = outcome(sethostname("escaped", 7), &w);
    report("sethostname", w, "sethostname: %s", r);
    int fd = open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC);
    r = outcome(fd, &w);
    if (w)
        close(fd);
    report("proc-sys-write", w, "open(/proc/sys/kernel/hostname, O_WRONLY): %s", r);
    fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    r = outcome(fd, &w);
    if (w)
        close(fd);
    report("sysrq", w, "open(/proc/sysrq-trigger, O_WRONLY): %s", r);
    char buf[64];
    r = outcome(syscall(SYS_syslog, 3, buf, (long)sizeof buf), &w);
    report("kernel-log", w, "syslog(READ_ALL): %s", r);
    r = outcome(syscall(SYS_bpf, 0, NULL, 0), &w);
    report("bpf", w || errno != EPERM, "bpf: %s", r);
    r = outcome(syscall(SYS_keyctl, 0, 0, 0, 0, 0), &w);
    report("keyctl", w || errno != EPERM, "keyctl: %s", r);
    long ufd = syscall(SYS_userfaultfd, 0);
    r = outcome(ufd, &w);
    if (w)
        close((int)ufd);
    report("userfaultfd", w, "userfaultfd: %s", r);
}

int probe_escapes(int argc, char **argv)
{
    char *secrets[64];
    size_t n_secrets = 0;
    int port = 0, other_pid = 0;
    const char *abstract = NULL, *store = NULL, *other_file = NULL;
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--secret") == 0 && n_secrets < 64)
            secrets[n_secrets++] = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--abstract") == 0)
            abstract = argv[i + 1];
        else if (strcmp(argv[i], "--store-file") == 0)
            store = argv[i + 1];
        else if (strcmp(argv[i], "--other-pid") == 0)
            other_pid = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--other-file") == 0)
            other_file = argv[i + 1];
        else {
            fprintf(stderr, "reg-probe escapes: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    probe_mount();
    probe_namespaces();
    probe_io_uring();
    probe_ptrace(other_pid);
    probe_tiocsti();
    probe_store(store);
    probe_other_file(other_file);
    probe_network(port, abstract);
    probe_leaks(secrets, n_secrets);
    probe_privileges();
    return 0;
}

static void *thread_main(void *arg)
{
    *(int *)arg = 42;
    return NULL;
}

int probe_threads(void)
{
    int value = 0;
    pthread_t t;
    int err = pthread_create(&t, NULL, thread_main, &value);
    if (err == 0)
        err = pthread_join(t, NULL);
    pid_t child = fork();
    if (child == 0)
        _exit(7);
    int st = 0;
    if (child > 0)
        waitpid(child, &st, 0);
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long c3 = syscall(SYS_clone3, &args, sizeof args);
    if (c3 == 0)
        _exit(0);
    if (c3 > 0)
        waitpid((pid_t)c3, NULL, 0);
    printf("{\"pthread\":\"%s\",\"value\":%d,\"fork\":%d,\"clone3\":\"%s\"}\n", err ? errname(err) : "ok",
           value, child > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, c3 >= 0 ? "ok" : errname(errno));
    return 0;
}

int probe_fill(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/reg-probe-fill", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        printf("%s after 0\n", errname(errno));
        return 0;
    }
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    long mib = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            printf("%s after %ld\n", errname(errno), mib);
            break;
        }
        if (n < (ssize_t)sizeof chunk) {
            /* a short write is the last that fits; the next one fails */
            continue;
        }
        if (++mib > 1 << 20) {
            puts("uncontained");
            break;
        }
    }
    close(fd);
    return 0;
}

int probe_pty_hog(void)
{
    long n = 0;
    for (;;) {
        int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY);
        if (fd < 0) {
            printf("%s after %ld\n", errname(errno), n);
            return 0;
        }
        if (++n > 100000) {
            puts("uncontained");
            return 0;
        }
    }
}

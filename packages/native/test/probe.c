/* reg-probe: answers one question from inside a container, one line on stdout.
 * Statically linked so a lower layer needs nothing else to run it.
 * Errors are printed as errno names (EPERM, EROFS, ...) so tests can compare
 * them; the exit code is 0 unless the question itself was malformed (2).
 *
 * "reg-probe escapes [--secret S]... [--port N] [--abstract NAME]
 *  [--store-file F] [--other-pid N] [--other-file F]" tries every escape the escape-probes
 * suite knows (escapes.c) and prints one JSON line per probe. */
#define _GNU_SOURCE
#include <dirent.h>
#include <net/if.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

static int usage(void)
{
    fprintf(stderr, "usage: reg-probe uid|pid|ppid|hostname|caps|nnp|seccomp|ls DIR|cat FILE|"
                    "write FILE [TEXT]|mount|net|lo|tiocsti|stat FILE|cwd|env NAME|exit N|"
                    "raise SIG|fork-bomb|hog MB|sleep SECONDS|ignore-term|threads|"
                    "fill DIR|pty-hog|escapes [...]\n");
    return 2;
}

const char *errname(int err)
{
    const char *name = strerrorname_np(err);
    return name != NULL ? name : "E?";
}

/* Prints the values of the named /proc/self/status fields, space-separated. */
static int status_fields(const char *const *names, size_t n)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        puts(errname(errno));
        return 0;
    }
    char line[256];
    int first = 1;
    while (fgets(line, sizeof line, f) != NULL) {
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(line, names[i], len) == 0 && line[len] == ':') {
                char *value = line + len + 1;
                value += strspn(value, " \t");
                value[strcspn(value, "\n")] = '\0';
                printf(n == 1 ? "%s%s" : "%s%s=%s", first ? "" : " ",
                       n == 1 ? value : names[i], value);
                first = 0;
            }
        }
    }
    fclose(f);
    putchar('\n');
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ls(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        puts(errname(errno));
        return 0;
    }
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", names[i]);
    putchar('\n');
    return 0;
}

static int cat(const char *file)
{
    int fd = open(file, O_RDONLY);
    if (fd < 0) {
        puts(errname(errno));
        return 0;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
    return 0;
}

static int write_file(const char *file, const char *text)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0) {
        puts(errname(errno));
        return 0;
    }
    puts("ok");
    return 0;
}

static int try_mount(void)
{
    if (mount("none", "/tmp", "tmpfs", 0, NULL) < 0)
        puts(errname(errno));
    else
        puts("ok");
    return 0;
}

/* Interface names from /proc/net/dev (skipping its two header lines). */
static int net(void)
{
    FILE *f = fopen("/proc/net/dev", "r");
    if (f == NULL) {
        puts(errname(errno));
        return 0;
    }
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        printf("%s%s", n++ ? " " : "", line + strspn(line, " "));
    }
    fclose(f);
    putchar('\n');
    return 0;
}

/* "up" or "down" for the loopback interface (SIOCGIFFLAGS). */
static int lo_flags(void)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        puts(errname(errno));
        return 0;
    }
    puts(ifr.ifr_flags & IFF_UP ? "up" : "down");
    return 0;
}

static int tiocsti(void)
{
    char c = ' ';
    if (ioctl(0, TIOCSTI, &c) < 0)
        puts(errname(errno));
    else
        puts("ok");
    return 0;
}

static int stat_file(const char *file)
{
    struct stat st;
    if (stat(file, &st) < 0)
        puts(errname(errno));
    else
        printf("%llu\n", (unsigned long long)st.st_ino);
    return 0;
}

/* Forks until the kernel refuses; children wait to be killed with the
 * namespace. Prints the errno of the refusal and how many forks succeeded. */
static int fork_bomb(void)
{
    long n = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0) {
            printf("%s after %ld\n", errname(errno), n);
            return 0;
        }
        if (++n > 100000) {
            puts("uncontained");
            return 0;
        }
    }
}

static int hog(const char *mb)
{
    size_t bytes = (size_t)atol(mb) << 20;
    char *p = malloc(bytes);
    if (p == NULL) {
        puts(errname(errno));
        return 0;
    }
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1; /* touch every page: allocation alone costs nothing */
    puts("ok");
    return 0;
}

static int sleep_for(const char *seconds)
{
    double s = atof(seconds);
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    return 0;
}

static _Noreturn void ignore_term(void)
{
    signal(SIGTERM, SIG_IGN);
    puts("ignoring");
    fflush(stdout);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage();
    const char *q = argv[1], *arg = argc > 2 ? argv[2] : NULL;
    if (strcmp(q, "uid") == 0) {
        gid_t groups[64];
        int n = getgroups(64, groups);
        printf("uid=%u euid=%u gid=%u groups=", getuid(), geteuid(), getgid());
        for (int i = 0; i < n; i++)
            printf("%s%u", i ? "," : "", groups[i]);
        putchar('\n');
        return 0;
    }
    if (strcmp(q, "pid") == 0)
        return printf("%d\n", getpid()) < 0;
    if (strcmp(q, "ppid") == 0)
        return printf("%d\n", getppid()) < 0;
    if (strcmp(q, "hostname") == 0) {
        char name[256] = "";
        gethostname(name, sizeof name - 1);
        return puts(name) < 0;
    }
    if (strcmp(q, "caps") == 0) {
        static const char *const names[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
        return status_fields(names, 5);
    }
    if (strcmp(q, "nnp") == 0) {
        static const char *const names[] = {"NoNewPrivs"};
        return status_fields(names, 1);
    }
    if (strcmp(q, "seccomp") == 0) {
        static const char *const names[] = {"Seccomp"};
        return status_fields(names, 1);
    }
    if (strcmp(q, "mount") == 0)
        return try_mount();
    if (strcmp(q, "net") == 0)
        return net();
    if (strcmp(q, "lo") == 0)
        return lo_flags();
    if (strcmp(q, "tiocsti") == 0)
        return tiocsti();
    if (strcmp(q, "fork-bomb") == 0)
        return fork_bomb();
    if (strcmp(q, "ignore-term") == 0)
        ignore_term();
    if (strcmp(q, "threads") == 0)
        return probe_threads();
    if (strcmp(q, "pty-hog") == 0)
        return probe_pty_hog();
    if (strcmp(q, "escapes") == 0)
        return probe_escapes(argc - 2, argv + 2);
    if (strcmp(q, "cwd") == 0) {
        char cwd[4096];
        return puts(getcwd(cwd, sizeof cwd) ? cwd : errname(errno)) < 0;
    }
    if (arg == NULL)
        return usage();
    if (strcmp(q, "ls") == 0)
        return ls(arg);
    if (strcmp(q, "cat") == 0)
        return cat(arg);
    if (strcmp(q, "write") == 0)
        return write_file(arg, argc > 3 ? argv[3] : "probe\n");
    if (strcmp(q, "stat") == 0)
        return stat_file(arg);
    if (strcmp(q, "env") == 0) {
        const char *v = getenv(arg);
        return puts(v ? v : "(unset)") < 0;
    }
    if (strcmp(q, "exit") == 0)
        return atoi(arg);
    if (strcmp(q, "raise") == 0) {
        signal(atoi(arg), SIG_DFL);
        raise(atoi(arg));
        return 0;
    }
    if (strcmp(q, "hog") == 0)
        return hog(arg);
    if (strcmp(q, "fill") == 0)
        return probe_fill(arg);
    if (strcmp(q, "sleep") == 0)
        return sleep_for(arg);
    return usage();
}

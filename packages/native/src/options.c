/* options.c: parse the reg-launch command line (see options.h, main.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "die.h"
#include "options.h"
#include "status.h"

#define STEP "args"

static void *grow(void *items, size_t len, size_t size)
{
    void *p = realloc(items, (len + 1) * size);
    if (p == NULL)
        die_errno(STEP, "realloc");
    return p;
}

static void str_list_add(struct str_list *l, const char *s)
{
    l->items = grow(l->items, l->len, sizeof *l->items);
    l->items[l->len++] = s;
}

static unsigned long long parse_ull(const char *flag, const char *s, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        die_with(STEP, EINVAL, "%s: not a number in range: '%s'", flag, s);
    return v;
}

/* Splits "A:B" at the first ':'. A source path containing ':' cannot be
 * expressed; TypeScript owns the paths and never generates one. */
static void split_pair(const char *flag, const char *arg, char **left, char **right)
{
    char *copy = strdup(arg);
    if (copy == NULL)
        die_errno(STEP, "strdup");
    char *colon = strchr(copy, ':');
    if (colon == NULL || colon == copy || colon[1] == '\0')
        die_with(STEP, EINVAL, "%s: expected A:B, got '%s'", flag, arg);
    *colon = '\0';
    *left = copy;
    *right = colon + 1;
}

static void require_absolute(const char *flag, const char *path)
{
    if (path[0] != '/')
        die_with(STEP, EINVAL, "%s: path must be absolute: '%s'", flag, path);
}

static void add_mount(struct options *o, enum mount_kind kind, const char *flag, const char *arg)
{
    char *left, *right;
    split_pair(flag, arg, &left, &right);
    struct mount_op op = {.kind = kind};
    if (kind == MOUNT_TMPFS) {
        op.dst = left;
        op.size = parse_ull(flag, right, ULLONG_MAX);
    } else if (kind == MOUNT_OWNED_DIR) {
        /* DST:UID:GID (the path is the left part, the ids after the last two ':'). */
        char *gid = strrchr(right, ':');
        if (gid == NULL)
            die_with(STEP, EINVAL, "%s: expected DST:UID:GID, got '%s'", flag, arg);
        *gid++ = '\0';
        op.dst = left;
        op.uid = (uid_t)parse_ull(flag, right, UINT_MAX - 1);
        op.gid = (gid_t)parse_ull(flag, gid, UINT_MAX - 1);
    } else {
        op.src = left;
        op.dst = right;
        require_absolute(flag, op.src);
    }
    require_absolute(flag, op.dst);
    o->mounts = grow(o->mounts, o->n_mounts, sizeof *o->mounts);
    o->mounts[o->n_mounts++] = op;
}

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"NOFILE", RLIMIT_NOFILE}, {"NPROC", RLIMIT_NPROC}, {"CORE", RLIMIT_CORE},
    {"FSIZE", RLIMIT_FSIZE},   {"AS", RLIMIT_AS},       {"STACK", RLIMIT_STACK},
};

static rlim_t parse_rlim(const char *s)
{
    if (strcmp(s, "unlimited") == 0 || strcmp(s, "infinity") == 0)
        return RLIM_INFINITY;
    return (rlim_t)parse_ull("--rlimit", s, ULLONG_MAX);
}

/* NAME=SOFT:HARD */
static void add_rlimit(struct options *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL)
        die_with(STEP, EINVAL, "--rlimit: expected NAME=SOFT:HARD, got '%s'", arg);
    struct rlimit_op op = {.resource = -1};
    for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++)
        if (strlen(rlimit_names[i].name) == (size_t)(eq - arg) &&
            strncmp(arg, rlimit_names[i].name, (size_t)(eq - arg)) == 0)
            op.resource = rlimit_names[i].resource;
    if (op.resource < 0)
        die_with(STEP, EINVAL, "--rlimit: unknown limit in '%s'", arg);
    char *soft, *hard;
    split_pair("--rlimit", eq + 1, &soft, &hard);
    op.limit.rlim_cur = parse_rlim(soft);
    op.limit.rlim_max = parse_rlim(hard);
    if (op.limit.rlim_cur > op.limit.rlim_max)
        die_with(STEP, EINVAL, "--rlimit: soft above hard in '%s'", arg);
    o->rlimits = grow(o->rlimits, o->n_rlimits, sizeof *o->rlimits);
    o->rlimits[o->n_rlimits++] = op;
}

static void add_deny_syscalls(struct options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        die_errno(STEP, "strdup");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        o->deny_syscalls = grow(o->deny_syscalls, o->n_deny_syscalls, sizeof *o->deny_syscalls);
        o->deny_syscalls[o->n_deny_syscalls++] = (int)parse_ull("--deny-syscalls", tok, 4095);
    }
    free(copy);
}

static void add_enosys_syscalls(struct options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        die_errno(STEP, "strdup");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        o->enosys_syscalls = grow(o->enosys_syscalls, o->n_enosys_syscalls, sizeof *o->enosys_syscalls);
        o->enosys_syscalls[o->n_enosys_syscalls++] = (int)parse_ull("--enosys-syscalls", tok, 4095);
    }
    free(copy);
}

static void add_deny_socket_families(struct options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        die_errno(STEP, "strdup");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        o->deny_socket_families = grow(o->deny_socket_families, o->n_deny_socket_families,
                                       sizeof *o->deny_socket_families);
        o->deny_socket_families[o->n_deny_socket_families++] =
            (unsigned int)parse_ull("--deny-socket-families", tok, 1023);
    }
    free(copy);
}

static void add_deny_ioctls(struct options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        die_errno(STEP, "strdup");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        o->deny_ioctls = grow(o->deny_ioctls, o->n_deny_ioctls, sizeof *o->deny_ioctls);
        o->deny_ioctls[o->n_deny_ioctls++] =
            (unsigned int)parse_ull("--deny-ioctl", tok, UINT_MAX);
    }
    free(copy);
}

enum {
    OPT_STATUS_FD = 256, OPT_CGROUP_PROCS, OPT_SHARE_NET, OPT_HOSTNAME, OPT_LOWER,
    OPT_UPPER, OPT_WORK, OPT_ROOTFS_MOUNT, OPT_BIND, OPT_RO_BIND, OPT_TMPFS, OPT_PROC,
    OPT_DEV, OPT_UID, OPT_GID, OPT_ALLOW_ROOT, OPT_CWD, OPT_CLEARENV, OPT_SETENV,
    OPT_RLIMIT, OPT_DENY_SYSCALLS, OPT_DENY_IOCTL, OPT_DIE_WITH_PARENT, OPT_TARGET_PID,
    OPT_LAYER, OPT_DIR, OPT_STATUS_FILE, OPT_ENOSYS_SYSCALLS, OPT_DENY_CLONE_FLAGS,
    OPT_DEVPTS_MAX, OPT_RO_COPY, OPT_DENY_SOCKET_FAMILIES, OPT_UPPER_TMPFS, OPT_OWNED_DIR,
    OPT_CONTROL, OPT_IDLE_TIMEOUT, OPT_DETACH, OPT_CGROUP_FD_DIR,
};

static const struct option long_options[] = {
    {"status-fd", required_argument, NULL, OPT_STATUS_FD},
    {"status-file", required_argument, NULL, OPT_STATUS_FILE},
    {"cgroup-procs", required_argument, NULL, OPT_CGROUP_PROCS},
    {"share-net", no_argument, NULL, OPT_SHARE_NET},
    {"hostname", required_argument, NULL, OPT_HOSTNAME},
    {"lower", required_argument, NULL, OPT_LOWER},
    {"upper", required_argument, NULL, OPT_UPPER},
    {"work", required_argument, NULL, OPT_WORK},
    {"upper-tmpfs", required_argument, NULL, OPT_UPPER_TMPFS},
    {"owned-dir", required_argument, NULL, OPT_OWNED_DIR},
    {"rootfs-mount", required_argument, NULL, OPT_ROOTFS_MOUNT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"ro-bind", required_argument, NULL, OPT_RO_BIND},
    {"tmpfs", required_argument, NULL, OPT_TMPFS},
    {"ro-copy", required_argument, NULL, OPT_RO_COPY},
    {"proc", no_argument, NULL, OPT_PROC},
    {"dev", no_argument, NULL, OPT_DEV},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
    {"cwd", required_argument, NULL, OPT_CWD},
    {"clearenv", no_argument, NULL, OPT_CLEARENV},
    {"setenv", required_argument, NULL, OPT_SETENV},
    {"rlimit", required_argument, NULL, OPT_RLIMIT},
    {"deny-syscalls", required_argument, NULL, OPT_DENY_SYSCALLS},
    {"deny-ioctl", required_argument, NULL, OPT_DENY_IOCTL},
    {"enosys-syscalls", required_argument, NULL, OPT_ENOSYS_SYSCALLS},
    {"deny-clone-flags", required_argument, NULL, OPT_DENY_CLONE_FLAGS},
    {"deny-socket-families", required_argument, NULL, OPT_DENY_SOCKET_FAMILIES},
    {"devpts-max", required_argument, NULL, OPT_DEVPTS_MAX},
    {"die-with-parent", no_argument, NULL, OPT_DIE_WITH_PARENT},
    {"target-pid", required_argument, NULL, OPT_TARGET_PID},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"dir", required_argument, NULL, OPT_DIR},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"cgroup-fd-dir", required_argument, NULL, OPT_CGROUP_FD_DIR},
    {NULL, 0, NULL, 0},
};

static void apply_option(struct options *o, int c, const char *arg, const char *seen)
{
    switch (c) {
    case OPT_STATUS_FD:
        o->status_fd = (int)parse_ull("--status-fd", arg, INT_MAX);
        status_init(o->status_fd); /* so later argument errors are reported too */
        break;
    case OPT_STATUS_FILE: {
        /* For callers that cannot pass an extra fd (a pty spawner): events are appended, one
         * write(2) per line, so a reader tailing the file never sees a torn line. */
        if (o->status_fd >= 0)
            break; /* already opened by the first pass in options_parse */
        require_absolute("--status-file", arg);
        int fd = open(arg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            die_errno(STEP, "cannot open --status-file %s", arg);
        o->status_fd = fd;
        status_init(fd);
        break;
    }
    case OPT_CGROUP_PROCS: require_absolute("--cgroup-procs", arg); str_list_add(&o->cgroup_procs, arg); break;
    case OPT_SHARE_NET: o->share_net = true; break;
    case OPT_HOSTNAME: o->hostname = arg; break;
    case OPT_LOWER: require_absolute("--lower", arg); str_list_add(&o->lowers, arg); break;
    case OPT_UPPER: require_absolute("--upper", arg); o->upper = arg; break;
    case OPT_WORK: require_absolute("--work", arg); o->work = arg; break;
    case OPT_UPPER_TMPFS: {
        /* BYTES,INODES: both required, both at least 1. */
        const char *comma = strchr(arg, ',');
        if (comma == NULL)
            die_with(STEP, EINVAL, "--upper-tmpfs: expected BYTES,INODES, got '%s'", arg);
        char *bytes = strndup(arg, (size_t)(comma - arg));
        if (bytes == NULL)
            die_errno(STEP, "strndup");
        o->upper_tmpfs_bytes = parse_ull("--upper-tmpfs", bytes, ULLONG_MAX);
        o->upper_tmpfs_inodes = parse_ull("--upper-tmpfs", comma + 1, UINT_MAX);
        free(bytes);
        if (o->upper_tmpfs_bytes == 0 || o->upper_tmpfs_inodes == 0)
            die_with(STEP, EINVAL, "--upper-tmpfs: bytes and inodes must be at least 1");
        o->upper_tmpfs = true;
        break;
    }
    case OPT_OWNED_DIR: add_mount(o, MOUNT_OWNED_DIR, "--owned-dir", arg); break;
    case OPT_ROOTFS_MOUNT: require_absolute("--rootfs-mount", arg); o->rootfs_mount = arg; break;
    case OPT_BIND: add_mount(o, MOUNT_BIND, "--bind", arg); break;
    case OPT_RO_BIND: add_mount(o, MOUNT_RO_BIND, "--ro-bind", arg); break;
    case OPT_TMPFS: add_mount(o, MOUNT_TMPFS, "--tmpfs", arg); break;
    case OPT_RO_COPY: add_mount(o, MOUNT_RO_COPY, "--ro-copy", arg); break;
    case OPT_PROC: o->proc = true; break;
    case OPT_DEV: o->dev = true; break;
    case OPT_UID: o->uid = (uid_t)parse_ull("--uid", arg, UINT_MAX - 1); o->has_uid = true; break;
    case OPT_GID: o->gid = (gid_t)parse_ull("--gid", arg, UINT_MAX - 1); o->has_gid = true; break;
    case OPT_ALLOW_ROOT: o->allow_root = true; break;
    case OPT_CWD: require_absolute("--cwd", arg); o->cwd = arg; break;
    case OPT_CLEARENV: o->clearenv = true; break;
    case OPT_SETENV:
        if (strchr(arg, '=') == NULL || arg[0] == '=')
            die_with(STEP, EINVAL, "--setenv: expected K=V, got '%s'", arg);
        str_list_add(&o->setenv, arg);
        break;
    case OPT_RLIMIT: add_rlimit(o, arg); break;
    case OPT_DENY_SYSCALLS: add_deny_syscalls(o, arg); break;
    case OPT_DENY_IOCTL: add_deny_ioctls(o, arg); break;
    case OPT_ENOSYS_SYSCALLS: add_enosys_syscalls(o, arg); break;
    case OPT_DENY_CLONE_FLAGS:
        o->deny_clone_flags = (unsigned int)parse_ull("--deny-clone-flags", arg, UINT_MAX);
        break;
    case OPT_DENY_SOCKET_FAMILIES: add_deny_socket_families(o, arg); break;
    case OPT_DEVPTS_MAX:
        o->devpts_max = (unsigned int)parse_ull("--devpts-max", arg, 1U << 20);
        if (o->devpts_max == 0)
            die_with(STEP, EINVAL, "--devpts-max: must be at least 1");
        break;
    case OPT_DIE_WITH_PARENT: o->die_with_parent = true; break;
    case OPT_TARGET_PID: o->target_pid = (pid_t)parse_ull("--target-pid", arg, INT_MAX); break;
    case OPT_LAYER: require_absolute("--layer", arg); str_list_add(&o->layers, arg); break;
    case OPT_DIR: require_absolute("--dir", arg); str_list_add(&o->dirs, arg); break;
    case OPT_CONTROL: require_absolute("--control", arg); o->control = arg; break;
    case OPT_IDLE_TIMEOUT: o->idle_timeout = (unsigned int)parse_ull("--idle-timeout", arg, 86400 * 365); break;
    case OPT_DETACH: o->detach = true; break;
    case OPT_CGROUP_FD_DIR: require_absolute("--cgroup-fd-dir", arg); o->cgroup_fd_dir = arg; break;
    default: die_with(STEP, EINVAL, "unknown option or missing value: '%s'", seen);
    }
}

/* Cross-flag checks for each mode. */
static void validate(const struct options *o)
{
    if (o->mode == MODE_PARK || o->mode == MODE_ATTACH) {
        if (o->control == NULL)
            die_with(STEP, EINVAL, "--control is required");
        if (o->mode == MODE_PARK && o->command != NULL)
            die_with(STEP, EINVAL, "park takes no command: the plan brings it");
        if (o->mode == MODE_ATTACH && (o->command == NULL || o->command[0] == NULL))
            die_with(STEP, EINVAL, "missing plan after -- (the argv of a run)");
        return;
    }
    if (o->mode != MODE_INSERT) {
        if (o->command == NULL || o->command[0] == NULL)
            die_with(STEP, EINVAL, "missing command after --");
        if (!o->has_uid || !o->has_gid)
            die_with(STEP, EINVAL, "--uid and --gid are required");
        if ((o->uid == 0 || o->gid == 0) && !o->allow_root)
            die_with(STEP, EPERM, "refusing uid/gid 0 without --allow-root");
    }
    if (o->mode != MODE_RUN && o->target_pid <= 0)
        die_with(STEP, EINVAL, "--target-pid is required");
    if (o->mode == MODE_RUN) {
        if (o->lowers.len == 0 || o->rootfs_mount == NULL)
            die_with(STEP, EINVAL, "--lower and --rootfs-mount are required");
        if ((o->upper == NULL) != (o->work == NULL))
            die_with(STEP, EINVAL, "--upper and --work go together");
        if (o->upper_tmpfs && o->upper != NULL)
            die_with(STEP, EINVAL, "--upper-tmpfs replaces --upper/--work: give one or the other");
        if (o->cgroup_fd_dir != NULL && o->cgroup_procs.len > 0)
            die_with(STEP, EINVAL, "--cgroup-fd-dir replaces --cgroup-procs: give one or the other");
    }
    if (o->mode == MODE_INSERT && (o->layers.len == 0 || o->dirs.len == 0))
        die_with(STEP, EINVAL, "--layer and --dir are required");
}

/* Where the kernel put the argument and environment strings (one block). */
static char *strings_start, *strings_end;

static char *copy_string(const char *s)
{
    char *c = strdup(s);
    if (c == NULL)
        die_errno(STEP, "strdup");
    return c;
}

/* Parses a private copy of argv and moves the environment to the heap, so
 * that options_hide_argv can zero the originals without dangling pointers. */
static char **argv_copy(int argc, char **argv)
{
    extern char **environ;
    strings_start = argv[0];
    strings_end = argv[0];
    char **copy = calloc((size_t)argc + 1, sizeof *copy);
    if (copy == NULL)
        die_errno(STEP, "calloc");
    for (int i = 0; i < argc; i++) {
        if (argv[i] == strings_end)
            strings_end = argv[i] + strlen(argv[i]) + 1;
        copy[i] = copy_string(argv[i]);
    }
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (env == NULL)
        die_errno(STEP, "calloc");
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == strings_end)
            strings_end = environ[i] + strlen(environ[i]) + 1;
        env[i] = copy_string(environ[i]);
    }
    environ = env;
    return copy;
}

void options_hide_argv(void)
{
    static const char name[] = "reg-init";
    if (strings_start == NULL || strings_end <= strings_start)
        return;
    /* The kernel shows arg_start..arg_end; a NUL at the end of that range
     * keeps it from reading on into the (also zeroed) environment. */
    memset(strings_start, 0, (size_t)(strings_end - strings_start));
    if ((size_t)(strings_end - strings_start) <= sizeof name)
        return;
    memcpy(strings_start, name, sizeof name);
}

static void parse_args(struct options *o, int argc, char **argv)
{
    o->status_fd = -1;
    /* Find --status-fd first so that even an unknown mode is reported on it. */
    for (int i = 1; i + 1 < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--status-fd") == 0)
            apply_option(o, OPT_STATUS_FD, argv[i + 1], argv[i]);
        else if (strcmp(argv[i], "--status-file") == 0)
            apply_option(o, OPT_STATUS_FILE, argv[i + 1], argv[i]);
    if (argc < 2)
        die_with(STEP, EINVAL, "usage: reg-launch run|exec|insert|park|attach [options] -- CMD [ARGS...]");
    if (strcmp(argv[1], "run") == 0)
        o->mode = MODE_RUN;
    else if (strcmp(argv[1], "exec") == 0)
        o->mode = MODE_EXEC;
    else if (strcmp(argv[1], "insert") == 0)
        o->mode = MODE_INSERT;
    else if (strcmp(argv[1], "park") == 0)
        o->mode = MODE_PARK;
    else if (strcmp(argv[1], "attach") == 0)
        o->mode = MODE_ATTACH;
    else
        die_with(STEP, EINVAL, "unknown mode '%s' (run, exec, insert, park or attach)", argv[1]);

    opterr = 0; /* errors are reported by apply_option's default case */
    /* The scan starts after the mode: argv + 1 makes the mode getopt's argv[0]. optind 0
     * (not 1) makes glibc start afresh, as a plan is the process's second parse. */
    optind = 0;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "+", long_options, NULL)) != -1)
        apply_option(o, c, optarg, argv[optind]);
    optind += 1; /* back to indexes of the full argv */
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0)
            die_with(STEP, EINVAL, "unexpected argument '%s' (command goes after --)", argv[optind]);
        o->command = &argv[optind];
    }
    validate(o);
}

void options_parse(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->parent_at_start = getppid();
    argv = argv_copy(argc, argv);
    parse_args(o, argc, argv);
}

void options_parse_plan(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->parent_at_start = getppid();
    parse_args(o, argc, argv);
    if (o->mode != MODE_RUN)
        die_with("plan", EINVAL, "a plan must be the argv of a run, not '%s'", argv[1]);
}

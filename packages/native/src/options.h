/* options.h: the launcher's command line, parsed into a plain struct.
 *
 * TypeScript decides every policy and passes it as flags; this struct holds
 * them verbatim. The only checks done here are syntactic, plus the refusal of
 * uid 0 without --allow-root. */
#ifndef REG_OPTIONS_H
#define REG_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

enum launch_mode { MODE_RUN, MODE_EXEC, MODE_INSERT, MODE_PARK, MODE_ATTACH };

enum mount_kind { MOUNT_BIND, MOUNT_RO_BIND, MOUNT_TMPFS, MOUNT_RO_COPY, MOUNT_OWNED_DIR };

/* One --bind, --ro-bind, --tmpfs, --ro-copy or --owned-dir, kept in command-line order. */
struct mount_op {
    enum mount_kind kind;
    const char *src; /* host path (binds, copies) */
    const char *dst; /* path inside the container */
    unsigned long long size; /* tmpfs bytes */
    uid_t uid; /* --owned-dir */
    gid_t gid;
};

struct rlimit_op {
    int resource;
    struct rlimit limit;
};

struct str_list {
    const char **items;
    size_t len;
};

struct options {
    enum launch_mode mode;
    int status_fd;
    struct str_list cgroup_procs;
    const char *cgroup_fd_dir; /* run: clone3 pid 1 straight into this (v2) cgroup directory */
    bool share_net;
    const char *hostname;
    struct str_list lowers; /* topmost first */
    const char *upper, *work, *rootfs_mount;
    /* --upper-tmpfs BYTES,INODES: the writable layer is a tmpfs of that size made
     * inside the container's mount namespace (instead of --upper/--work). */
    bool upper_tmpfs;
    unsigned long long upper_tmpfs_bytes, upper_tmpfs_inodes;
    struct mount_op *mounts;
    size_t n_mounts;
    bool proc, dev;
    uid_t uid;
    gid_t gid;
    bool has_uid, has_gid, allow_root;
    const char *cwd;
    bool clearenv;
    struct str_list setenv;
    struct rlimit_op *rlimits;
    size_t n_rlimits;
    int *deny_syscalls;
    size_t n_deny_syscalls;
    int *enosys_syscalls; /* fail with ENOSYS, so libc falls back (clone3) */
    size_t n_enosys_syscalls;
    unsigned int deny_clone_flags; /* clone(2) with any of these flags: EPERM */
    unsigned int *deny_socket_families; /* socket(2) in these families: EPERM */
    size_t n_deny_socket_families;
    unsigned int devpts_max; /* 0: the kernel's default */
    unsigned int *deny_ioctls;
    size_t n_deny_ioctls;
    bool die_with_parent;
    pid_t parent_at_start; /* getppid() before anything else ran */
    pid_t target_pid;
    struct str_list layers; /* insert: topmost first */
    struct str_list dirs;   /* insert */
    const char *control;    /* park, attach: the control socket's path */
    unsigned int idle_timeout; /* park: seconds without a connection before exiting (0: never) */
    bool detach;            /* attach: exit once the plan is sent */
    char **command;         /* argv after "--" */
};

/* Parses argv; on any error emits setup-failed (step "args") and exits 125.
 * Every string kept in o is a private copy, so argv can be wiped afterwards
 * (options_hide_argv). */
void options_parse(struct options *o, int argc, char **argv);

/* Parses a plan received by a parked launcher (park.c): the argv of a "run"
 * (argv[0] is a placeholder), already private memory. Same rules and errors
 * as options_parse; the process's own argv is left as it is, so
 * options_hide_argv still wipes the parked launcher's command line. */
void options_parse_plan(struct options *o, int argc, char **argv);

/* Overwrites the original argv and environment strings with zeros and names
 * the process "reg-init": /proc/PID/cmdline of a process visible inside the
 * container must not show host paths, the uid or the seccomp policy. */
void options_hide_argv(void);

#endif

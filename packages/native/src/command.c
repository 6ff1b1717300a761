/* command.c: credentials, capabilities, no_new_privs, seccomp, exec. The order
 * matters and is fixed: each step needs privileges that the next one drops. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "command.h"
#include "die.h"
#include "report.h"
#include "seccomp.h"

/* Tell the parent our pid as the host sees it: /proc/self in the host's
 * procfs (opened before pivot_root) resolves in the host pid namespace. */
static void report_host_pid(int report_fd, int host_proc_fd)
{
    if (host_proc_fd < 0)
        return;
    char link[32];
    ssize_t n = readlinkat(host_proc_fd, "self", link, sizeof link - 1);
    close(host_proc_fd);
    if (n <= 0)
        return; /* best effort: "started" then omits the pid */
    link[n] = '\0';
    report_send(report_fd, REPORT_HOST_PID, atoi(link));
}

/* The launcher blocks signals and ignores SIGPIPE; the program must start
 * with the defaults, since both survive execve. */
static void signals_reset(void)
{
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL); /* EINVAL for glibc's internal signals */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        die_errno("signals", "sigprocmask");
}

/* Any fd the caller leaked to us (other than 0-2) must not reach the program. */
static void fds_mark_cloexec(void)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        die_errno("fds", "close_range(CLOEXEC)");
}

static void rlimits_apply(const struct options *o)
{
    for (size_t i = 0; i < o->n_rlimits; i++)
        if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].limit) < 0)
            die_errno("rlimit", "setrlimit %d", o->rlimits[i].resource);
}

/* Runs after the uid switch, which clears the parent-death signal. */
static void die_with_parent(const struct options *o, pid_t parent_before)
{
    if (!o->die_with_parent)
        return;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_errno("die-with-parent", "PR_SET_PDEATHSIG");
    if (getppid() != parent_before)
        _exit(EXIT_SETUP_FAILED); /* the parent is already gone */
}

/* As the user, so a directory the user may not enter is an error. */
static void cwd_enter(const struct options *o)
{
    const char *cwd = o->cwd != NULL ? o->cwd : "/";
    if (chdir(cwd) < 0)
        die_errno("cwd", "chdir %s", cwd);
}

/* execvp searches the PATH of our own environment, so the container's
 * environment is installed as ours rather than passed to execvpe. */
static void env_apply(const struct options *o)
{
    if (o->clearenv && clearenv() != 0)
        die_with("env", ENOMEM, "clearenv");
    for (size_t i = 0; i < o->setenv.len; i++) {
        char *pair = strdup(o->setenv.items[i]);
        if (pair == NULL)
            die_errno("env", "strdup");
        char *eq = strchr(pair, '=');
        *eq = '\0';
        if (setenv(pair, eq + 1, 1) < 0)
            die_errno("env", "setenv %s", pair);
    }
}

void command_exec(const struct options *o, int report_fd, int host_proc_fd)
{
    pid_t parent = getppid();
    die_set_report_fd(report_fd);
    report_host_pid(report_fd, host_proc_fd);
    signals_reset();
    fds_mark_cloexec();
    rlimits_apply(o);
    caps_drop_bounding();
    creds_switch(o->uid, o->gid);
    caps_clear_and_verify();
    die_with_parent(o, parent);
    cwd_enter(o);
    env_apply(o);
    nnp_set();
    /* Last: from here on, even our own error reporting is filtered. */
    struct seccomp_policy policy = {
        .syscalls = o->deny_syscalls, .n_syscalls = o->n_deny_syscalls,
        .enosys = o->enosys_syscalls, .n_enosys = o->n_enosys_syscalls,
        .clone_flags = o->deny_clone_flags,
        .socket_families = o->deny_socket_families, .n_socket_families = o->n_deny_socket_families,
        .ioctls = o->deny_ioctls, .n_ioctls = o->n_deny_ioctls,
    };
    seccomp_install(&policy);
    execvp(o->command[0], o->command);
    report_send(report_fd, REPORT_EXEC_FAILED, errno);
    _exit(EXIT_EXEC_FAILED);
}

/* run.c: "reg-launch run". Three processes (see main.c):
 *   outer launcher  (host pid ns)  joins cgroups, unshares, forks pid 1, waits
 *   pid 1           (new pid ns)   builds the filesystem, forks pid 2, waits
 *   pid 2                          drops privileges and execs the command */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h> /* struct clone_args, CLONE_INTO_CGROUP */
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "command.h"
#include "control.h"
#include "die.h"
#include "mounts.h"
#include "ns.h"
#include "report.h"
#include "run.h"
#include "status.h"
#include "supervise.h"

/* --die-with-parent for the outer launcher: SIGKILL when whoever spawned us
 * (the CLI, the host's terminal) dies. A parent that died before the prctl
 * would never send it, so compare with the parent seen at start (as
 * bubblewrap does); the window before main() is left to the spawner. */
static void launcher_die_with_parent(const struct options *o)
{
    if (!o->die_with_parent)
        return;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_errno("die-with-parent", "PR_SET_PDEATHSIG");
    if (getppid() != o->parent_at_start)
        die_with("die-with-parent", ESRCH, "the parent exited before the launcher started");
}

/* Step (3): the container's filesystem, hostname and loopback, built by pid 1
 * in the new namespaces; everything it mounts lives and dies with them. */
static void init_build_root(const struct options *o)
{
    mounts_make_private();
    mounts_overlay_root(o);
    int rootfd = mounts_open_root(o->rootfs_mount);
    if (o->proc)
        mounts_proc(rootfd);
    if (o->dev)
        mounts_dev(rootfd, o->devpts_max);
    for (size_t i = 0; i < o->n_mounts; i++)
        mounts_apply(rootfd, &o->mounts[i]);
    mounts_apply_done();
    close(rootfd);
    if (o->hostname != NULL)
        ns_set_hostname(o->hostname);
    if (!o->share_net)
        ns_loopback_up();
}

/* Steps (4) and the tail of (2): pid 1 forks the command, reports how exec
 * went, then stays as a minimal init until the command ends. */
static _Noreturn void init_run_command(const struct options *o, int host_proc_fd)
{
    int report[2];
    report_pipe(report);
    pid_t cmd = fork();
    if (cmd < 0)
        die_errno("fork", "fork command");
    if (cmd == 0) {
        close(report[0]);
        command_exec(o, report[1], host_proc_fd);
    }
    close(report[1]);
    close(host_proc_fd);
    struct report_outcome out = report_collect(report[0]);
    close(report[0]);
    if (out.failed_kind != 0) {
        (void)supervise(cmd, true);
        if (out.failed_kind == REPORT_SETUP_FAILED)
            _exit(EXIT_SETUP_FAILED); /* pid 2 already emitted setup-failed */
        status_exec_failed(out.err);
        _exit(EXIT_EXEC_FAILED);
    }
    status_started(out.host_pid);
    /* When pid 1 exits, the kernel kills whatever is left in the namespace. */
    supervise_finish(supervise(cmd, true));
}

static _Noreturn void init_main(const struct options *o, int go_fd, int ctl)
{
    /* First, before anything in this pid namespace can read /proc/1/cmdline:
     * our copy of the launcher's argv names host paths and the policy. */
    options_hide_argv();
    /* A parked launcher's connection is the outer launcher's business. */
    if (ctl >= 0) {
        die_set_control_fd(-1);
        close(ctl);
    }
    /* Our parent is the outer launcher. getppid() is 0 here (the parent is in
     * another pid namespace), so the race with its death is closed by the go
     * pipe instead: EOF without the byte means the launcher is gone. */
    if (o->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        die_errno("die-with-parent", "PR_SET_PDEATHSIG");
    /* Wait until the outer launcher has emitted "pid", so events stay in
     * order even when setup fails at once. */
    char byte;
    ssize_t n;
    while ((n = read(go_fd, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1 && o->die_with_parent)
        _exit(EXIT_SETUP_FAILED); /* the launcher died: nobody to report to */
    close(go_fd);
    init_build_root(o);
    /* The host's procfs, still reachable until pivot_root: pid 2 reads its
     * host pid from it, then closes it. */
    int host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (host_proc_fd < 0)
        die_errno("proc", "open host /proc");
    mounts_pivot_root(o->rootfs_mount);
    init_run_command(o, host_proc_fd);
}

/* --cgroup-fd-dir: the cgroup (v2) pid 1 is born in, or -1 (the launcher joined its cgroups). */
static int into_cgroup = -1;

/* fork(), or on cgroup v2 clone3(CLONE_INTO_CGROUP): the child starts in the container's cgroup,
 * with no migration of a running process (no wait on the cgroup's migration lock). */
static pid_t fork_init(void)
{
    if (into_cgroup < 0)
        return fork();
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)into_cgroup;
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL))
        die_errno("cgroup", "clone3(CLONE_INTO_CGROUP) needs Linux 5.7 and a cgroup v2 directory");
    if (pid == 0)
        close(into_cgroup);
    return pid;
}

void run_in_namespaces(const struct options *o, int ctl)
{
    /* (2) fork pid 1; we stay outside to report its host pid and status. */
    supervise_block_signals();
    int go[2];
    report_pipe(go);
    pid_t init = fork_init();
    if (init < 0)
        die_errno("fork", "fork pid 1");
    if (init == 0) {
        close(go[1]);
        init_main(o, go[0], ctl);
    }
    close(go[0]);
    status_pid(init);
    while (write(go[1], "g", 1) < 0 && errno == EINTR) {
    }
    close(go[1]);
    /* A parked launcher's "parent" is its connection (park.c). */
    int st = supervise_control(init, false, ctl, ctl >= 0 && o->die_with_parent);
    /* pid 1 reports the command's own exit; only a killed pid 1 (SIGKILL from
     * the engine, the OOM killer) is reported here. */
    if (WIFSIGNALED(st))
        status_signaled(WTERMSIG(st));
    int code = supervise_exit_code(st);
    if (ctl >= 0)
        control_send_code(ctl, code);
    exit(code);
}

void run_container(const struct options *o)
{
    /* (0) cgroups first: every process forked from here on is counted. */
    launcher_die_with_parent(o);
    if (o->cgroup_fd_dir != NULL) {
        /* cgroup v2: pid 1 is cloned into it (fork_init); the launcher itself stays outside. */
        into_cgroup = open(o->cgroup_fd_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (into_cgroup < 0)
            die_errno("cgroup", "open --cgroup-fd-dir %s", o->cgroup_fd_dir);
    }
    cgroup_join_all(&o->cgroup_procs);
    /* (1) new namespaces; the pid ns applies to our next child. */
    ns_unshare(!o->share_net, true);
    run_in_namespaces(o, -1);
}

/* join.c: "reg-launch exec". Joins the namespaces and cgroups of a running
 * container's pid 1, forks (setns on a pid ns only applies to children), and
 * the child takes the same privilege-dropping path as pid 2 of "run". The
 * launcher itself stays outside the container's pid ns and waits. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cgroup.h"
#include "command.h"
#include "die.h"
#include "join.h"
#include "ns.h"
#include "report.h"
#include "status.h"
#include "supervise.h"

void join_container(const struct options *o)
{
    /* The child below is visible inside the container from its fork on, and
     * it shares our memory image: wipe the argv it would show first. */
    options_hide_argv();
    struct ns_fds fds;
    /* Open every namespace before joining any: /proc/PID is a host path. */
    ns_open(o->target_pid, &fds);
    cgroup_join_all(&o->cgroup_procs);
    ns_join(&fds);
    if (o->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
            die_errno("die-with-parent", "PR_SET_PDEATHSIG");
        if (getppid() != o->parent_at_start)
            die_with("die-with-parent", ESRCH, "the parent exited before the launcher started");
    }
    supervise_block_signals();
    int report[2];
    report_pipe(report);
    pid_t child = fork();
    if (child < 0)
        die_errno("fork", "fork command");
    if (child == 0) {
        close(report[0]);
        command_exec(o, report[1], -1);
    }
    close(report[1]);
    status_pid(child);
    struct report_outcome out = report_collect(report[0]);
    close(report[0]);
    if (out.failed_kind != 0) {
        (void)supervise(child, false);
        if (out.failed_kind == REPORT_SETUP_FAILED)
            _exit(EXIT_SETUP_FAILED);
        status_exec_failed(out.err);
        _exit(EXIT_EXEC_FAILED);
    }
    status_started(child);
    supervise_finish(supervise(child, false));
}

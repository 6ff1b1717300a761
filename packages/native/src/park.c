/* park.c: a launcher started ahead of time ("reg-launch park"), and the
 * client that hands it a plan with the caller's stdio ("reg-launch attach").
 *
 * Joining four cgroup v1 controllers costs a start 10-12 ms (each migration
 * waits for an RCU grace period). A parked launcher pays that, and the
 * namespaces, before anyone is waiting: it sits in its (pooled) cgroup with
 * its pid/ipc/uts/cgroup[/net] namespaces made, listening on a root-only unix
 * socket, until one connection brings the plan of a run (control.h). Then it
 * continues exactly as run does from step (2), in run.c: no copy of that code.
 * Only the mount namespace is made when the plan arrives: / may be private on
 * the host, and a namespace copied at park time would miss what the host has
 * mounted since (a container's quota volume). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup.h"
#include "control.h"
#include "die.h"
#include "ns.h"
#include "park.h"
#include "run.h"
#include "status.h"

static bool same_list(const struct str_list *a, const struct str_list *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

/* The plan may repeat the park's choices but not contradict them: the
 * cgroups and the network namespace exist already. */
static void plan_check(const struct options *park, const struct options *plan)
{
    if (plan->cgroup_procs.len > 0 && !same_list(&park->cgroup_procs, &plan->cgroup_procs))
        die_with("plan", EINVAL, "--cgroup-procs: the launcher was parked in other cgroups (the pool renames its cgroup to the container's)");
    if (plan->cgroup_fd_dir != NULL)
        die_with("plan", EINVAL, "--cgroup-fd-dir: the launcher was parked in its cgroups already");
    if (plan->share_net != park->share_net)
        die_with("plan", EINVAL, "--share-net: the plan wants %s network but the launcher was parked with %s",
                 plan->share_net ? "the host's" : "its own", park->share_net ? "the host's" : "its own");
}

/* The caller's stdio replaces ours (a detached member has /dev/null). */
static void stdio_adopt(const int fds[3])
{
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            continue;
        if (dup2(fds[i], i) < 0)
            die_errno("plan", "dup2 stdio %d", i);
        if (fds[i] > 2)
            close(fds[i]);
    }
}

void park_launcher(const struct options *park)
{
    /* (0) and (1) of run, ahead of time. */
    cgroup_join_all(&park->cgroup_procs);
    ns_unshare(!park->share_net, false);
    int listen_fd = control_listen(park->control);
    int conn = control_accept(listen_fd, park->idle_timeout);
    close(listen_fd);
    /* Taken (or timed out): nobody else may find this path. */
    (void)unlink(park->control);
    if (conn < 0)
        exit(EXIT_SUCCESS);
    int argc, fds[3];
    char **argv = control_recv_plan(conn, &argc, fds);
    if (argv == NULL)
        exit(EXIT_SUCCESS); /* closed before a plan: the pool shrank */
    int park_status = park->status_fd;
    static struct options plan;
    die_set_control_fd(conn);
    options_parse_plan(&plan, argc, argv);
    if (park_status >= 0 && park_status != plan.status_fd)
        close(park_status); /* events now go to the container's own file */
    plan_check(park, &plan);
    stdio_adopt(fds);
    if (unshare(CLONE_NEWNS) < 0)
        die_errno("unshare", "unshare(CLONE_NEWNS)");
    run_in_namespaces(&plan, conn);
}

/* attach: our signals, passed on as one byte each (async-signal-safe). */
static int attach_sock = -1;

static void attach_forward(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    (void)send(attach_sock, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    errno = saved;
}

void attach_plan(const struct options *o)
{
    if (o->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
            die_errno("die-with-parent", "PR_SET_PDEATHSIG");
        if (getppid() != o->parent_at_start)
            die_with("die-with-parent", ESRCH, "the parent exited before the launcher started");
    }
    /* Held back until the whole plan is sent: a byte in its middle would
     * corrupt it. */
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die_errno("signals", "sigprocmask");
    attach_sock = control_connect(o->control);
    control_send_plan(attach_sock, o->command, true);
    if (o->detach)
        exit(EXIT_SUCCESS);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = attach_forward;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (sigaction(signals[i], &sa, NULL) < 0)
            die_errno("signals", "sigaction");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die_errno("signals", "ignore SIGPIPE");
    if (sigprocmask(SIG_UNBLOCK, &set, NULL) < 0)
        die_errno("signals", "sigprocmask");
    /* Our stdio now also belongs to the container: ours are not needed. */
    char line[16];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(attach_sock, line + n, sizeof line - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(line, '\n', n) != NULL || n == sizeof line - 1)
            break;
    }
    line[n] = '\0';
    char *end;
    long code = strtol(line, &end, 10);
    if (n == 0 || *end != '\n' || code < 0 || code > 255)
        exit(128 + SIGKILL); /* the parked launcher was killed (a stop, the OOM killer) */
    exit((int)code);
}

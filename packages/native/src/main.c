/* reg-launch: the native container launcher of Reg.
 *
 * Theory of operation
 * -------------------
 * C does mechanics, TypeScript decides policy: every path, limit, uid and
 * syscall number arrives as a flag, and this program has no defaults beyond
 * the documented ones. It is an executable, not a Node addon, so it is not
 * tied to Node's ABI and a crash here cannot take the host process down.
 *
 * Every mode first closes every inherited fd but 0-2 and the status fd
 * (fds.h), and parses a private copy of argv so that the processes visible
 * inside the container can wipe theirs (options_hide_argv).
 *
 * reg-launch run [options] -- CMD [ARGS...]
 *   outer launcher (host pid ns)
 *     (0) with --die-with-parent, PR_SET_PDEATHSIG(SIGKILL) and a check that
 *         the parent seen at start is still ours; then writes itself into
 *         each --cgroup-procs file, so every descendant is accounted and
 *         limited from its first instruction (or, with --cgroup-fd-dir on
 *         cgroup v2, opens that directory and step (2) clones pid 1 straight
 *         into it with clone3(CLONE_INTO_CGROUP): no migration at all);
 *     (1) unshare(mnt, pid, ipc, uts, cgroup [, net]);
 *     (2) forks pid 1 of the new pid ns, emits {"event":"pid"} with its host
 *         pid, sends it the "go" byte, forwards signals to it (a pty hangup
 *         too: the kernel sends SIGHUP to this session leader only) and exits
 *         with its exit code.
 *   pid 1 (minimal init)
 *     (3) wipes its copy of argv (/proc/1/cmdline reads "reg-init"); with
 *         --die-with-parent, PDEATHSIG and "no go byte means the launcher is
 *         gone"; makes / rprivate, mounts the overlay root on --rootfs-mount
 *         (layers passed as fds of detached clones, so mountinfo names no
 *         host path; the writable layer is --upper/--work on the host or,
 *         with --upper-tmpfs, a size-limited tmpfs made here), then /proc,
 *         /dev (with a private devpts, --devpts-max),
 *         --bind/--ro-bind/--tmpfs/--ro-copy/--owned-dir (in command-line order) inside
 *         it; sets the hostname; brings lo up; pivot_root + detach old root;
 *     (4) forks pid 2, learns through a close-on-exec pipe whether exec
 *         succeeded (-> "started" or "exec-failed" + 127), then forwards
 *         signals to it, reaps orphans, and when pid 2 ends emits "exit" or
 *         "signaled" and exits with code / 128+signal (the kernel then kills
 *         whatever is left in the namespace).
 *   pid 2 (the command)
 *     (5) keeps the controlling terminal (no setsid); rlimits; drops the
 *         capability bounding set; setgroups/setgid/setuid; clears every
 *         remaining capability set and verifies it; chdir --cwd;
 *         no_new_privs; seccomp filter (last: the deny list, clone's namespace
 *         flags, clone3 as ENOSYS, socket families, ioctls); execvp with the
 *         container env.
 *
 * reg-launch exec --target-pid PID [options] -- CMD [ARGS...]
 *   wipes its argv (the child below is visible inside from its fork on),
 *   opens PID's namespaces, joins --cgroup-procs, setns into all (mnt last),
 *   forks, and the child runs step (5). Events and exit codes as for run.
 *
 * reg-launch insert --target-pid PID --layer DIR [--layer DIR...] --dir D...
 *   mounts a read-only overlay of the layers' D over the container's /D
 *   (insert.c explains the mechanism).
 *
 * reg-launch park --control PATH --cgroup-procs F... [--share-net] [--idle-timeout S]
 *   a launcher started ahead of time (park.c, control.h): steps (0) and (1)
 *   (cgroups; pid/ipc/uts/cgroup[/net] namespaces; the mount namespace waits
 *   for the plan), then a root-only unix socket at PATH that accepts ONE
 *   connection bringing the argv of a run and optionally the caller's stdio
 *   (SCM_RIGHTS, dup2'd onto 0-2). A plan that contradicts the park
 *   (--cgroup-procs, --share-net) is refused as setup-failed, step "plan".
 *   Then step (2) on, exactly as run (run_in_namespaces). With
 *   --die-with-parent in the plan the connection is the parent: the peer
 *   hanging up kills pid 1. Each byte the peer sends is a signal forwarded to
 *   pid 1; at the end the exit code goes back as "<code>\n". A connection
 *   closed before a plan (or --idle-timeout) ends the launcher with 0.
 *
 * reg-launch attach --control PATH [--die-with-parent] [--detach] -- run ...
 *   hands a parked launcher the plan and its own fds 0-2 (so a foreground
 *   caller's stdio reaches the container with no relay), forwards SIGINT,
 *   SIGTERM and SIGHUP, and exits with the code the parked launcher sends
 *   (137 when it was killed before sending one). --detach: exit 0 once the
 *   plan is sent.
 *
 * Exit codes: the command's code, or 128+signal; 125 when setup failed
 * (after {"event":"setup-failed",...} on the status fd and one line on
 * stderr); 127 when exec failed ({"event":"exec-failed",...}).
 * Events are JSON lines on --status-fd only (status.h). */
#define _GNU_SOURCE
#include <stdlib.h>

#include "fds.h"
#include "insert.h"
#include "join.h"
#include "options.h"
#include "park.h"
#include "run.h"

int main(int argc, char **argv)
{
    static struct options o;
    options_parse(&o, argc, argv);
    /* Before any other step: nothing inherited but 0-2 and the status fd. */
    fds_close_inherited(o.status_fd);
    switch (o.mode) {
    case MODE_RUN:
        run_container(&o);
    case MODE_EXEC:
        join_container(&o);
    case MODE_INSERT:
        insert_layers(&o);
    case MODE_PARK:
        park_launcher(&o);
    case MODE_ATTACH:
        attach_plan(&o);
    }
    return EXIT_FAILURE;
}

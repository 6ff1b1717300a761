/* supervise.c: wait for one child, forward signals, reap orphans. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "die.h"
#include "status.h"
#include "supervise.h"

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

static void waited_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGIO); /* a control connection has news (supervise_control) */
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(set, forwarded[i]);
}

void supervise_block_signals(void)
{
    sigset_t set;
    waited_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        die_errno("signals", "sigprocmask");
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        die_errno("signals", "ignore SIGPIPE");
}

/* Reaps what has exited; returns 1 and sets *status once child is among them. */
static int reap(pid_t child, bool reap_orphans, int *status)
{
    int found = 0, st;
    pid_t pid;
    while ((pid = waitpid(reap_orphans ? -1 : child, &st, WNOHANG)) > 0)
        if (pid == child) {
            *status = st;
            found = 1;
        }
    if (pid < 0 && errno != ECHILD)
        die_errno("wait", "waitpid");
    return found;
}

static bool is_forwarded(int sig)
{
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (forwarded[i] == sig)
            return true;
    return false;
}

/* Reads what the control peer sent: each byte a signal to forward. Returns
 * false once the peer has gone (EOF or error). */
static bool control_drain(int ctl, pid_t child)
{
    for (;;) {
        unsigned char buf[64];
        ssize_t n = read(ctl, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (is_forwarded(buf[i]))
                    (void)kill(child, buf[i]);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        return false;
    }
}

int supervise(pid_t child, bool reap_orphans) { return supervise_control(child, reap_orphans, -1, false); }

int supervise_control(pid_t child, bool reap_orphans, int ctl, bool kill_on_hangup)
{
    sigset_t set;
    waited_set(&set);
    int status = 0;
    /* Data or a hangup on the connection raises SIGIO (blocked, so it waits
     * in the set below); a 1 s timeout re-reads it anyway as a backstop. */
    if (ctl >= 0) {
        if (fcntl(ctl, F_SETOWN, getpid()) < 0 || fcntl(ctl, F_SETFL, O_ASYNC | O_NONBLOCK) < 0)
            die_errno("control", "fcntl O_ASYNC");
    }
    for (;;) {
        /* A child that exited before we got here left SIGCHLD pending. */
        if (reap(child, reap_orphans, &status))
            return status;
        if (ctl >= 0 && !control_drain(ctl, child)) {
            /* The peer is gone: for an attached plan that is the parent's death. */
            if (kill_on_hangup)
                (void)kill(child, SIGKILL);
            (void)fcntl(ctl, F_SETFL, O_NONBLOCK); /* no more SIGIO */
            ctl = -1;
        }
        siginfo_t info;
        int sig;
        if (ctl >= 0) {
            struct timespec second = {.tv_sec = 1};
            sig = sigtimedwait(&set, &info, &second);
            if (sig < 0 && errno == EAGAIN)
                continue;
        } else {
            sig = sigwaitinfo(&set, &info);
        }
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            die_errno("wait", "sigwaitinfo");
        }
        if (sig == SIGCHLD || sig == SIGIO)
            continue;
        /* Terminal-generated signals (^C, window resize) already reached the
         * whole foreground process group, the child included: forwarding
         * them too would deliver them twice. A hangup is different: when the
         * pty's master side closes (the host died or closed the terminal) the
         * kernel sends SIGHUP to the session leader only, which is the outer
         * launcher, so it must be passed on or the container never learns. */
        if (info.si_code == SI_KERNEL && sig != SIGHUP)
            continue;
        (void)kill(child, sig); /* ESRCH: it is exiting, SIGCHLD follows */
    }
}

int supervise_exit_code(int wait_status)
{
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return WEXITSTATUS(wait_status);
}

void supervise_finish(int wait_status)
{
    if (WIFSIGNALED(wait_status))
        status_signaled(WTERMSIG(wait_status));
    else
        status_exit(WEXITSTATUS(wait_status));
    exit(supervise_exit_code(wait_status));
}

/* supervise.c: wait for one child, forward signals, reap orphans. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "die.h"
#include "status.h"
#include "supervise.h"

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

static void waited_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
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

int supervise(pid_t child, bool reap_orphans)
{
    sigset_t set;
    waited_set(&set);
    int status = 0;
    /* A child that exited before we got here left SIGCHLD pending. */
    if (reap(child, reap_orphans, &status))
        return status;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            die_errno("wait", "sigwaitinfo");
        }
        if (sig == SIGCHLD) {
            if (reap(child, reap_orphans, &status))
                return status;
            continue;
        }
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

/* supervise.h: the waiting half of the launcher. The outer launcher and the
 * container's pid 1 both wait for one child while forwarding signals to it;
 * pid 1 additionally reaps every orphan of the namespace. */
#ifndef REG_SUPERVISE_H
#define REG_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

/* Blocks SIGCHLD and the forwarded signals (before fork, so no signal is lost
 * between fork and the wait loop) and ignores SIGPIPE. */
void supervise_block_signals(void);

/* Waits for child, forwarding signals; returns its wait status. */
int supervise(pid_t child, bool reap_orphans);

/* The same, also watching a parked launcher's control connection ctl (-1:
 * none): each byte received is a signal number forwarded to child (only the
 * forwarded set); when the peer hangs up and kill_on_hangup, child gets
 * SIGKILL (the connection stands for the parent of --die-with-parent). */
int supervise_control(pid_t child, bool reap_orphans, int ctl, bool kill_on_hangup);

/* Exit code convention for a wait status: code, or 128+signal. */
int supervise_exit_code(int wait_status);

/* Emits exit/signaled for wait_status and exits with supervise_exit_code. */
_Noreturn void supervise_finish(int wait_status);

#endif

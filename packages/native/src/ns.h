/* ns.h: namespace steps: create them (run), join them (exec, insert), and set
 * up the two per-namespace bits that need no mounts (hostname, loopback). */
#ifndef REG_NS_H
#define REG_NS_H

#include <stdbool.h>
#include <sys/types.h>

/* unshare(pid, ipc, uts, cgroup [, net] [, mount]). The caller's children are
 * then born in the new pid namespace. A parked launcher makes its mount
 * namespace only when the plan arrives (park.c). */
void ns_unshare(bool new_net, bool new_mnt);

/* The namespaces of a running container, opened on the host side. */
struct ns_fds {
    int cgroup, ipc, uts, net, pid, mnt;
};

void ns_open(pid_t target_pid, struct ns_fds *fds);

/* setns into every namespace in fds; mnt last, since it changes root and cwd. */
void ns_join(struct ns_fds *fds);

/* setns into one namespace fd (closes it). */
void ns_join_one(int fd, int nstype, const char *name);

void ns_set_hostname(const char *name);

/* Brings "lo" up in the current (new) network namespace. */
void ns_loopback_up(void);

#endif

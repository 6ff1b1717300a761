/* ns.c: create, join and configure namespaces. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "die.h"
#include "ns.h"

void ns_unshare(bool new_net, bool new_mnt)
{
    /* No user namespace: the launcher runs as real root and drops to an
     * unprivileged uid before exec; a cgroup namespace hides the host's
     * cgroup paths (the caller has already joined the container's cgroups). */
    int flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (new_net)
        flags |= CLONE_NEWNET;
    if (new_mnt)
        flags |= CLONE_NEWNS;
    if (unshare(flags) < 0)
        die_errno("unshare", "unshare(0x%x)", flags);
}

static int open_ns(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die_errno("setns", "open %s", path);
    return fd;
}

void ns_open(pid_t target_pid, struct ns_fds *fds)
{
    fds->cgroup = open_ns(target_pid, "cgroup");
    fds->ipc = open_ns(target_pid, "ipc");
    fds->uts = open_ns(target_pid, "uts");
    fds->net = open_ns(target_pid, "net");
    fds->pid = open_ns(target_pid, "pid");
    fds->mnt = open_ns(target_pid, "mnt");
}

void ns_join_one(int fd, int nstype, const char *name)
{
    if (setns(fd, nstype) < 0)
        die_errno("setns", "setns %s", name);
    close(fd);
}

void ns_join(struct ns_fds *fds)
{
    ns_join_one(fds->cgroup, CLONE_NEWCGROUP, "cgroup");
    ns_join_one(fds->ipc, CLONE_NEWIPC, "ipc");
    ns_join_one(fds->uts, CLONE_NEWUTS, "uts");
    ns_join_one(fds->net, CLONE_NEWNET, "net");
    ns_join_one(fds->pid, CLONE_NEWPID, "pid"); /* applies to children only */
    ns_join_one(fds->mnt, CLONE_NEWNS, "mnt");  /* last: moves root and cwd */
}

void ns_set_hostname(const char *name)
{
    if (sethostname(name, strlen(name)) < 0)
        die_errno("hostname", "sethostname '%s'", name);
}

void ns_loopback_up(void)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        die_errno("loopback", "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        die_errno("loopback", "SIOCGIFFLAGS lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
        die_errno("loopback", "SIOCSIFFLAGS lo");
    close(sock);
}

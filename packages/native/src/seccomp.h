/* seccomp.h: the last step before exec: a hand-written BPF deny-list filter. */
#ifndef REG_SECCOMP_H
#define REG_SECCOMP_H

#include <stddef.h>

/* What TypeScript decided (launch/seccomp.ts); the launcher only encodes it. */
struct seccomp_policy {
    const int *syscalls; /* EPERM */
    size_t n_syscalls;
    const int *enosys;   /* ENOSYS: "not implemented", so libc falls back */
    size_t n_enosys;
    unsigned int clone_flags; /* clone(2) with any of these flag bits: EPERM */
    const unsigned int *socket_families; /* socket(2) in each family: EPERM */
    size_t n_socket_families;
    const unsigned int *ioctls; /* ioctl(fd, req) with each req: EPERM */
    size_t n_ioctls;
};

/* Installs a filter that kills the process on a foreign syscall ABI, applies
 * the policy and allows everything else. Needs no_new_privs (or root). */
void seccomp_install(const struct seccomp_policy *policy);

#endif

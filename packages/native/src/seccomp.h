/* seccomp.h: the last step before exec: a hand-written BPF deny-list filter. */
#ifndef REG_SECCOMP_H
#define REG_SECCOMP_H

#include <stddef.h>

/* Installs a filter that kills the process on a foreign syscall ABI, returns
 * EPERM for each listed syscall number and for ioctl(fd, req) with each
 * listed req, and allows everything else. Needs no_new_privs (or root). */
void seccomp_install(const int *syscalls, size_t n_syscalls, const unsigned int *ioctls,
                     size_t n_ioctls);

#endif

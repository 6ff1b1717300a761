/* seccomp.c: build and install the deny-list filter (see seccomp.h).
 *
 * Program shape (each test is followed by its own return, so every jump is
 * 0 or 1 and the lists can be long without overflowing 8-bit jump offsets):
 *
 *   ld arch;  jeq AUDIT_ARCH_<build>, skip ; ret KILL_PROCESS
 *   ld nr;    [x86_64: jge X32 bit, ... ; ret ERRNO(EPERM)]
 *   for each ENOSYS nr:     jeq nr, ... ; ret ERRNO(ENOSYS)
 *   for each denied nr:     jeq nr, ... ; ret ERRNO(EPERM)
 *   [clone flags: jne __NR_clone -> past ; ld args[0] (low 32 bits: the
 *    kernel takes clone's flags as lower_32_bits) ; jset mask ->
 *    ret ERRNO(EPERM) ; ret ALLOW]
 *   [socket families: jne __NR_socket -> past ; ld args[0] ;
 *    for each family: jeq family, ... ; ret ERRNO(EPERM) ; ret ALLOW]
 *   jne __NR_ioctl -> allow
 *   ld args[1] (low 32 bits: the kernel's ioctl cmd is an unsigned int)
 *   for each denied request: jeq req, ... ; ret ERRNO(EPERM)
 *   allow: ret ALLOW
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "die.h"
#include "seccomp.h"

#if defined(__x86_64__)
#define REG_AUDIT_ARCH AUDIT_ARCH_X86_64
#define REG_X32_SYSCALL_BIT 0x40000000u
#elif defined(__aarch64__)
#define REG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "reg-launch: unsupported architecture for the seccomp filter"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW(n) offsetof(struct seccomp_data, args[n])
#else
#define ARG_LOW(n) (offsetof(struct seccomp_data, args[n]) + 4)
#endif
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

#define MAX_INSNS 4096 /* BPF_MAXINSNS */

struct program {
    struct sock_filter insns[MAX_INSNS];
    unsigned short len;
};

static void emit(struct program *p, unsigned short code, unsigned char jt, unsigned char jf,
                 unsigned int k)
{
    if (p->len >= MAX_INSNS)
        die_with("seccomp", E2BIG, "filter longer than %d instructions", MAX_INSNS);
    p->insns[p->len++] = (struct sock_filter){code, jt, jf, k};
}

static void emit_errno_if_eq(struct program *p, unsigned int value, int err)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, value);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(err));
}

/* clone(2) itself stays allowed (fork, threads); only its namespace flags are
 * refused. The arguments of clone3 live in memory a filter cannot read, so it
 * is on the ENOSYS list instead and libc falls back to clone. */
static void emit_clone_flags(struct program *p, unsigned int mask)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 4, __NR_clone);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(0));
    emit(p, BPF_JMP | BPF_JSET | BPF_K, 0, 1, mask);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
}

/* socket(2) in a denied family (AF_VSOCK: the hypervisor's side of a VM,
 * which no namespace separates). */
static void emit_socket_families(struct program *p, const unsigned int *families, size_t n)
{
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (unsigned char)(2 + 2 * n), __NR_socket);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(0));
    for (size_t i = 0; i < n; i++)
        emit_errno_if_eq(p, families[i], EPERM);
    emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
}

void seccomp_install(const struct seccomp_policy *policy)
{
    size_t n_ioctls = policy->n_ioctls;
    if (n_ioctls > 126 || policy->n_socket_families > 126)
        die_with("seccomp", E2BIG, "more than 126 denied ioctl requests or socket families");
    struct program *p = calloc(1, sizeof *p);
    if (p == NULL)
        die_errno("seccomp", "calloc");

    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, REG_AUDIT_ARCH);
    emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
    emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#ifdef REG_X32_SYSCALL_BIT
    /* x32 numbers alias the x86_64 ones with a high bit set: without this,
     * every denied syscall would be reachable through its x32 twin. */
    emit(p, BPF_JMP | BPF_JGE | BPF_K, 0, 1, REG_X32_SYSCALL_BIT);
    emit(p, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
#endif
    for (size_t i = 0; i < policy->n_enosys; i++)
        emit_errno_if_eq(p, (unsigned int)policy->enosys[i], ENOSYS);
    for (size_t i = 0; i < policy->n_syscalls; i++)
        emit_errno_if_eq(p, (unsigned int)policy->syscalls[i], EPERM);
    if (policy->clone_flags != 0)
        emit_clone_flags(p, policy->clone_flags);
    if (policy->n_socket_families > 0)
        emit_socket_families(p, policy->socket_families, policy->n_socket_families);
    if (n_ioctls > 0) {
        emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, (unsigned char)(1 + 2 * n_ioctls), __NR_ioctl);
        emit(p, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(1));
        for (size_t i = 0; i < n_ioctls; i++)
            emit_errno_if_eq(p, policy->ioctls[i], EPERM);
    }
    emit(p, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);

    struct sock_fprog prog = {.len = p->len, .filter = p->insns};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        die_errno("seccomp", "PR_SET_SECCOMP");
    free(p);
}

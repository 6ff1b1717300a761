/* caps.c: capabilities, credentials and no_new_privs (see caps.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "die.h"

void caps_drop_bounding(void)
{
    /* Loop until EINVAL instead of reading cap_last_cap: /proc may not be
     * mounted in the container. */
    for (unsigned long cap = 0;; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
            continue;
        if (errno == EINVAL && cap > 0)
            return;
        die_errno("caps", "PR_CAPBSET_DROP %lu", cap);
    }
}

void creds_switch(uid_t uid, gid_t gid)
{
    if (setgroups(1, &gid) < 0)
        die_errno("credentials", "setgroups [%u]", (unsigned)gid);
    if (setresgid(gid, gid, gid) < 0)
        die_errno("credentials", "setresgid %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        die_errno("credentials", "setresuid %u", (unsigned)uid);
}

void caps_clear_and_verify(void)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        die_errno("caps", "clear ambient capabilities");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
    if (syscall(SYS_capset, &header, data) < 0)
        die_errno("caps", "capset to empty");
    if (syscall(SYS_capget, &header, data) < 0)
        die_errno("caps", "capget");
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            die_with("caps", EPERM, "capabilities still set after dropping");
    if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
        die_with("caps", EPERM, "bounding set still holds CAP_SYS_ADMIN");
}

void nnp_set(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_errno("no-new-privs", "PR_SET_NO_NEW_PRIVS");
}

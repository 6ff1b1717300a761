/* caps.h: drop every privilege before exec: capability bounding set, uid/gid
 * and supplementary groups, remaining capability sets, then no_new_privs. */
#ifndef REG_CAPS_H
#define REG_CAPS_H

#include <sys/types.h>

/* PR_CAPBSET_DROP for every capability the kernel knows. Needs CAP_SETPCAP,
 * so it runs before the uid switch. */
void caps_drop_bounding(void);

/* setgroups([gid]), setresgid, setresuid. */
void creds_switch(uid_t uid, gid_t gid);

/* Clears ambient, inheritable, permitted and effective sets (a uid-0 command
 * under --allow-root would otherwise keep them), then checks that nothing is
 * left, including the bounding set. */
void caps_clear_and_verify(void);

void nnp_set(void);

#endif

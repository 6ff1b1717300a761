/* mounts.h: build the container's filesystem inside a fresh mount namespace.
 *
 * Everything uses the new mount API (fsopen/fsmount/open_tree/move_mount), and
 * every mount destination is resolved with openat2(RESOLVE_IN_ROOT) relative
 * to the container root: the upper dir is written by untrusted code, so a
 * symlink planted there (say /tmp -> /../../etc) must resolve inside the
 * container, never on the host. */
#ifndef REG_MOUNTS_H
#define REG_MOUNTS_H

#include "options.h"

/* mount --make-rprivate /: nothing we mount propagates back to the host. */
void mounts_make_private(void);

/* Overlay of the lowers (+ upper/work if given, or a tmpfs of
 * --upper-tmpfs's size holding them) on o->rootfs_mount. */
void mounts_overlay_root(const struct options *o);

/* O_PATH fd of the container root (the overlay just mounted). */
int mounts_open_root(const char *rootfs_mount);

void mounts_proc(int rootfd);
/* A minimal /dev; devpts_max caps its private devpts instance (0: no cap). */
void mounts_dev(int rootfd, unsigned int devpts_max);
void mounts_apply(int rootfd, const struct mount_op *op);
/* Releases what mounts_apply kept between calls (the --ro-copy tmpfs). */
void mounts_apply_done(void);

/* pivot_root into rootfs_mount, detach the old root, chdir("/"). */
void mounts_pivot_root(const char *rootfs_mount);

#endif

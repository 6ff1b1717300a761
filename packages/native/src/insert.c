/* insert.c: "reg-launch insert" -- make new files appear under /D in a running
 * container without restarting it.
 *
 * Mechanism: for each --dir D, a new read-only overlay is mounted on /D inside
 * the container's mount namespace, with lowers
 *     [LAYER/D for each --layer (topmost first)] + [the container's base /D]
 * Every process sees the new tree on its next lookup; processes keep the files
 * and directories they already hold open (those stay on the covered mount).
 *
 *  - Host layers are captured with open_tree(OPEN_TREE_CLONE) *before* setns:
 *    a detached clone is the only way to name a host directory once we are in
 *    the container's mount namespace, and overlayfs accepts detached mounts as
 *    layers when they are passed by fd (fsconfig FSCONFIG_SET_FD "lowerdir+").
 *  - overlayfs nests at most two levels deep (the root is already an overlay),
 *    so inserts do not stack: if /D is already the root of an overlay mount (a
 *    previous insert), the base is taken from beneath it, i.e. D in a
 *    non-recursive clone of the parent mount. Therefore each call must list
 *    *every* runtime layer wanted on D, topmost first; the new overlay covers
 *    the previous one.
 *  - Writes to /D fail with EROFS afterwards (the inserted view is read-only);
 *    the container's upper dir is not touched. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "die.h"
#include "insert.h"
#include "ns.h"
#include "status.h"

#define STEP "insert"

/* trees[d * n_layers + l]: detached clone of LAYER_l/D_d, or -1 if the layer
 * has no such directory. */
static int *clone_host_layers(const struct options *o)
{
    int *trees = calloc(o->dirs.len * o->layers.len, sizeof *trees);
    if (trees == NULL)
        die_errno(STEP, "calloc");
    for (size_t d = 0; d < o->dirs.len; d++) {
        int found = 0;
        for (size_t l = 0; l < o->layers.len; l++) {
            char path[4096];
            snprintf(path, sizeof path, "%s%s", o->layers.items[l], o->dirs.items[d]);
            int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
            if (tree < 0 && errno != ENOENT)
                die_errno(STEP, "open_tree %s", path);
            trees[d * o->layers.len + l] = tree;
            found |= tree >= 0;
        }
        if (!found)
            die_with(STEP, ENOENT, "no --layer has %s", o->dirs.items[d]);
    }
    return trees;
}

/* The directory the container had at dir before any insert (see above).
 * *tree receives the detached clone the base lives in, or -1: it must stay
 * open until the overlay exists, since closing the last fd of a detached
 * clone dissolves it. */
static int open_base(const char *dir, int *tree_out)
{
    *tree_out = -1;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die_errno(STEP, "open %s in the container", dir);
    struct statfs fs;
    struct statx sx;
    if (fstatfs(fd, &fs) < 0)
        die_errno(STEP, "statfs %s", dir);
    if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx) < 0)
        die_errno(STEP, "statx %s", dir);
    int is_insert = fs.f_type == OVERLAYFS_SUPER_MAGIC && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
    if (!is_insert)
        return fd;
    close(fd);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s/..", dir);
    int tree = open_tree(AT_FDCWD, parent, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        die_errno(STEP, "open_tree %s", parent);
    fd = openat(tree, strrchr(dir, '/') + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die_errno(STEP, "open base of %s", dir);
    *tree_out = tree;
    return fd;
}

static void fs_set_fd(int fs, int fd, const char *what)
{
    if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, fd) < 0)
        die_fs(STEP, fs, "overlay lowerdir+ %s", what);
}

static void insert_dir(const struct options *o, const char *dir, const int *trees)
{
    int base_tree;
    int base = open_base(dir, &base_tree);
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        die_errno(STEP, "fsopen overlay");
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "reg-insert", 0) < 0)
        die_errno(STEP, "fsconfig source");
    for (size_t l = 0; l < o->layers.len; l++)
        if (trees[l] >= 0)
            fs_set_fd(fs, trees[l], o->layers.items[l]);
    fs_set_fd(fs, base, dir);
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        die_fs(STEP, fs, "create overlay on %s", dir);
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mnt < 0)
        die_errno(STEP, "fsmount overlay for %s", dir);
    if (move_mount(mnt, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        die_errno(STEP, "move_mount onto %s", dir);
    close(mnt);
    close(fs);
    close(base);
    if (base_tree >= 0)
        close(base_tree);
    status_inserted(dir);
}

void insert_layers(const struct options *o)
{
    for (size_t d = 0; d < o->dirs.len; d++)
        if (strcmp(o->dirs.items[d], "/") == 0 || strstr(o->dirs.items[d], "..") != NULL ||
            o->dirs.items[d][strlen(o->dirs.items[d]) - 1] == '/')
            die_with("args", EINVAL, "--dir must be a directory below /: '%s'", o->dirs.items[d]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)o->target_pid);
    int mntns = open(path, O_RDONLY | O_CLOEXEC);
    if (mntns < 0)
        die_errno("setns", "open %s", path);
    int *trees = clone_host_layers(o);
    /* From here on, paths are the container's (setns also moved our root). */
    ns_join_one(mntns, CLONE_NEWNS, "mnt");
    for (size_t d = 0; d < o->dirs.len; d++)
        insert_dir(o, o->dirs.items[d], &trees[d * o->layers.len]);
    exit(0);
}

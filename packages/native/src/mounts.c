/* mounts.c: the container's filesystem (see mounts.h for the approach). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "die.h"
#include "mounts.h"

/* Files the minimal /dev gets as bind mounts of the host's nodes. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

void mounts_make_private(void)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die_errno("mount-private", "make / rprivate");
}

static void fs_set(const char *step, int fs, const char *key, const char *value)
{
    int cmd = value == NULL ? FSCONFIG_SET_FLAG : FSCONFIG_SET_STRING;
    if (fsconfig(fs, (unsigned int)cmd, key, value, 0) < 0) {
        die_fs(step, fs, "fsconfig %s=%s", key, value ? value : "");
    }
}

/* Creates the filesystem configured in fs and returns a detached mount fd. */
static int fs_create(const char *step, int fs, unsigned int attrs)
{
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        die_fs(step, fs, "fsconfig create");
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
    if (mnt < 0)
        die_fs(step, fs, "fsmount");
    close(fs);
    return mnt;
}

static int fs_open(const char *step, const char *type)
{
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0)
        die_errno(step, "fsopen %s", type);
    return fs;
}

/* Attaches the detached mount mnt on top of the O_PATH fd target. */
static void attach(const char *step, int mnt, int target, const char *where)
{
    if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        die_errno(step, "move_mount onto %s", where);
    close(mnt);
}

/* Detached trees dissolve when their last fd closes, and overlayfs takes
 * private clones of its layers only at "create": the fds stay open until then.
 * One detached clone per distinct parent directory (the layers share one:
 * REG_HOME/layers), since each clone is a new anonymous mount namespace. */
struct held_fds {
    int *fds;
    size_t len;
    struct clone_of { char *parent; int fd; } *clones;
    size_t n_clones;
};

static void *grow_array(void *items, size_t len, size_t size)
{
    void *p = realloc(items, (len + 1) * size);
    if (p == NULL)
        die_errno("overlay", "realloc");
    return p;
}

static int hold(struct held_fds *held, int fd)
{
    held->fds = grow_array(held->fds, held->len, sizeof *held->fds);
    held->fds[held->len++] = fd;
    return fd;
}

static void release(struct held_fds *held)
{
    for (size_t i = 0; i < held->len; i++)
        close(held->fds[i]);
    for (size_t i = 0; i < held->n_clones; i++)
        free(held->clones[i].parent);
    free(held->fds);
    free(held->clones);
    memset(held, 0, sizeof *held);
}

/* An O_PATH fd of path, opened inside a detached clone of its parent
 * directory: the kernel then names it "/<basename>" (relative to the clone),
 * not by its host location. */
static int open_in_clone(struct held_fds *held, const char *path)
{
    const char *step = "overlay";
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0')
        die_with(step, EINVAL, "not an absolute path to a directory: %s", path);
    size_t plen = slash == path ? 1 : (size_t)(slash - path);
    int tree = -1;
    for (size_t i = 0; i < held->n_clones && tree < 0; i++)
        if (strlen(held->clones[i].parent) == plen && strncmp(held->clones[i].parent, path, plen) == 0)
            tree = held->clones[i].fd;
    if (tree < 0) {
        char *parent = strndup(path, plen);
        if (parent == NULL)
            die_errno(step, "strndup");
        tree = open_tree(AT_FDCWD, parent, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
            die_errno(step, "open_tree %s", parent);
        hold(held, tree);
        held->clones = grow_array(held->clones, held->n_clones, sizeof *held->clones);
        held->clones[held->n_clones++] = (struct clone_of){parent, tree};
    }
    int fd = openat(tree, slash + 1, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        die_errno(step, "open %s", path);
    return hold(held, fd);
}

/* --upper-tmpfs: the writable layer as a tmpfs made here, in the container's
 * own mount namespace. Its size and inode count are the disk quota (a full
 * one is ENOSPC inside the container), its pages are charged to the
 * container's memory cgroup, the host's mount table never sees it, and it
 * vanishes with the namespace: nothing to unmount at rm. upper/ (0755: it
 * becomes the mode of the container's /) and work/ are made in it, on one
 * filesystem as overlayfs wants. Returns the detached mount's fd. */
static int make_upper_tmpfs(const struct options *o)
{
    const char *step = "upper-tmpfs";
    char bytes[32], inodes[32];
    snprintf(bytes, sizeof bytes, "%llu", o->upper_tmpfs_bytes);
    snprintf(inodes, sizeof inodes, "%llu", o->upper_tmpfs_inodes);
    int fs = fs_open(step, "tmpfs");
    fs_set(step, fs, "mode", "0755");
    fs_set(step, fs, "size", bytes);
    fs_set(step, fs, "nr_inodes", inodes);
    int mnt = fs_create(step, fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    /* fchmodat after mkdirat: the modes must not depend on the umask. */
    if (mkdirat(mnt, "upper", 0755) < 0 || fchmodat(mnt, "upper", 0755, 0) < 0)
        die_errno(step, "mkdir upper in the tmpfs");
    if (mkdirat(mnt, "work", 0700) < 0)
        die_errno(step, "mkdir work in the tmpfs");
    return mnt;
}

/* An O_PATH fd of a directory in the writable layer's tmpfs. */
static int open_in_scratch(struct held_fds *held, int scratch, const char *name)
{
    int fd = openat(scratch, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        die_errno("overlay", "open %s in the tmpfs", name);
    return hold(held, fd);
}

/* Gives the layers to overlayfs as fds (Linux >= 6.13), so that
 * /proc/self/mountinfo inside the container reads "lowerdir+=/<layer>,...,
 * upperdir=/upper,workdir=/work" instead of naming REG_HOME's layout. Upper
 * and work share their parent's clone, as overlayfs wants them under one
 * mount. Returns false, having set nothing, on a kernel that takes layers
 * only as paths (EINVAL on the first fsconfig). */
static bool overlay_layers_by_fd(int fs, const struct options *o, int scratch, struct held_fds *held)
{
    const char *step = "overlay";
    for (size_t i = 0; i < o->lowers.len; i++) {
        int layer = open_in_clone(held, o->lowers.items[i]);
        if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layer) < 0) {
            if (i == 0 && errno == EINVAL) {
                release(held);
                return false;
            }
            die_fs(step, fs, "fsconfig lowerdir+ (fd of %s)", o->lowers.items[i]);
        }
    }
    if (scratch >= 0) {
        if (fsconfig(fs, FSCONFIG_SET_FD, "upperdir", NULL, open_in_scratch(held, scratch, "upper")) < 0)
            die_fs(step, fs, "fsconfig upperdir (fd of the tmpfs's upper)");
        if (fsconfig(fs, FSCONFIG_SET_FD, "workdir", NULL, open_in_scratch(held, scratch, "work")) < 0)
            die_fs(step, fs, "fsconfig workdir (fd of the tmpfs's work)");
        return true;
    }
    if (o->upper == NULL)
        return true;
    if (fsconfig(fs, FSCONFIG_SET_FD, "upperdir", NULL, open_in_clone(held, o->upper)) < 0)
        die_fs(step, fs, "fsconfig upperdir (fd of %s)", o->upper);
    if (fsconfig(fs, FSCONFIG_SET_FD, "workdir", NULL, open_in_clone(held, o->work)) < 0)
        die_fs(step, fs, "fsconfig workdir (fd of %s)", o->work);
    return true;
}

void mounts_overlay_root(const struct options *o)
{
    const char *step = "overlay";
    int mnt;
    bool writable = o->upper != NULL || o->upper_tmpfs;
    int scratch = o->upper_tmpfs ? make_upper_tmpfs(o) : -1;
    if (!writable && o->lowers.len == 1) {
        /* overlayfs wants two lowers when there is no upper; one read-only
         * layer is simply a read-only bind of it. */
        mnt = open_tree(AT_FDCWD, o->lowers.items[0], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (mnt < 0)
            die_errno(step, "open_tree %s", o->lowers.items[0]);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
        if (mount_setattr(mnt, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            die_errno(step, "mount_setattr ro %s", o->lowers.items[0]);
    } else {
        int fs = fs_open(step, "overlay");
        fs_set(step, fs, "source", "reg");
        /* lowerdir+ takes one layer per call: no page-size limit on the
         * option string, no escaping of ':' and ','. Topmost first. */
        struct held_fds held = {0};
        if (!overlay_layers_by_fd(fs, o, scratch, &held)) {
            for (size_t i = 0; i < o->lowers.len; i++)
                fs_set(step, fs, "lowerdir+", o->lowers.items[i]);
            if (scratch >= 0) {
                /* Older kernels take paths only: the detached tmpfs is
                 * reachable through our own fd link until "create". */
                char upper[64], work[64];
                snprintf(upper, sizeof upper, "/proc/self/fd/%d/upper", scratch);
                snprintf(work, sizeof work, "/proc/self/fd/%d/work", scratch);
                fs_set(step, fs, "upperdir", upper);
                fs_set(step, fs, "workdir", work);
            } else if (o->upper != NULL) {
                fs_set(step, fs, "upperdir", o->upper);
                fs_set(step, fs, "workdir", o->work);
            }
        }
        /* nosuid/nodev: no setuid binary or device node inside a layer or the
         * upper dir has any power; /dev is provided by --dev. */
        unsigned int attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        if (!writable)
            attrs |= MOUNT_ATTR_RDONLY;
        mnt = fs_create(step, fs, attrs);
        release(&held);
    }
    /* overlayfs holds the tmpfs now; our detached fd of it can go. */
    if (scratch >= 0)
        close(scratch);
    if (move_mount(mnt, "", AT_FDCWD, o->rootfs_mount, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        die_errno(step, "move_mount onto %s", o->rootfs_mount);
    close(mnt);
}

int mounts_open_root(const char *rootfs_mount)
{
    int fd = open(rootfs_mount, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die_errno("overlay", "open %s", rootfs_mount);
    return fd;
}

/* mkdir -p of dst's parents and of dst itself (a directory, or an empty file
 * when !dir), all resolved inside the root. Returns an O_PATH fd of dst. */
static int ensure_target(const char *step, int rootfd, const char *dst, int dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dst) >= (int)sizeof path)
        die_with(step, ENAMETOOLONG, "%s", dst);
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        int last = slash == NULL;
        if (!last)
            *slash = '\0';
        int fd = openat2_in_root(rootfd, path, O_PATH);
        if (fd < 0 && errno == ENOENT) {
            /* Create it in its (already resolved) parent. */
            char *base = strrchr(path, '/');
            *base = '\0';
            int parent = openat2_in_root(rootfd, path[0] ? path : "/", O_PATH | O_DIRECTORY);
            *base = '/';
            if (parent < 0)
                die_errno(step, "open parent of %s", path);
            int made;
            if (!last || dir) {
                made = mkdirat(parent, base + 1, 0755);
            } else {
                made = openat(parent, base + 1, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
                if (made >= 0)
                    made = close(made);
            }
            if (made < 0 && errno != EEXIST)
                die_errno(step, "create mount point %s", path);
            close(parent);
            fd = openat2_in_root(rootfd, path, O_PATH);
        }
        if (fd < 0)
            die_errno(step, "resolve %s", path);
        if (last)
            return fd;
        close(fd);
        *slash = '/';
    }
}

void mounts_proc(int rootfd)
{
    int target = ensure_target("proc", rootfd, "/proc", 1);
    /* The new procfs belongs to the pid namespace of the caller (pid 1). */
    int mnt = fs_create("proc", fs_open("proc", "proc"),
                        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    attach("proc", mnt, target, "/proc");
    close(target);
}

static void bind_host_node(int devfd, const char *name)
{
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", name);
    int file = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (file < 0 || close(file) < 0)
        die_errno("dev", "create /dev/%s", name);
    int tree = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        die_errno("dev", "open_tree %s", host);
    int target = openat(devfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0)
        die_errno("dev", "open /dev/%s", name);
    attach("dev", tree, target, host);
    close(target);
}

static void dev_symlink(int devfd, const char *target, const char *name)
{
    if (symlinkat(target, devfd, name) < 0)
        die_errno("dev", "symlink /dev/%s -> %s", name, target);
}

static void dev_pts(int devfd, unsigned int max)
{
    if (mkdirat(devfd, "pts", 0755) < 0)
        die_errno("dev", "mkdir /dev/pts");
    /* Every devpts mount is a new instance (the flag is kept for old
     * kernels); ptmxmode=0666 so the unprivileged user can open pts/ptmx. */
    int fs = fs_open("dev", "devpts");
    fs_set("dev", fs, "newinstance", NULL);
    fs_set("dev", fs, "ptmxmode", "0666");
    fs_set("dev", fs, "mode", "0620");
    /* A private instance with its own cap: one container cannot take the
     * ptys every other container needs (the kernel-wide pool is shared). */
    if (max > 0) {
        char value[16];
        snprintf(value, sizeof value, "%u", max);
        fs_set("dev", fs, "max", value);
    }
    int mnt = fs_create("dev", fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    int target = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0)
        die_errno("dev", "open /dev/pts");
    attach("dev", mnt, target, "/dev/pts");
    close(target);
    dev_symlink(devfd, "pts/ptmx", "ptmx");
}

void mounts_dev(int rootfd, unsigned int devpts_max)
{
    int target = ensure_target("dev", rootfd, "/dev", 1);
    int fs = fs_open("dev", "tmpfs");
    fs_set("dev", fs, "mode", "0755");
    fs_set("dev", fs, "size", "65536");
    attach("dev", fs_create("dev", fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC), target, "/dev");
    close(target);

    int devfd = openat2_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        die_errno("dev", "open /dev");
    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++)
        bind_host_node(devfd, dev_nodes[i]);
    dev_pts(devfd, devpts_max);
    if (mkdirat(devfd, "shm", 01777) < 0 || fchmodat(devfd, "shm", 01777, 0) < 0)
        die_errno("dev", "mkdir /dev/shm");
    dev_symlink(devfd, "/proc/self/fd", "fd");
    dev_symlink(devfd, "/proc/self/fd/0", "stdin");
    dev_symlink(devfd, "/proc/self/fd/1", "stdout");
    dev_symlink(devfd, "/proc/self/fd/2", "stderr");
    close(devfd);
}

static void mount_tmpfs(int rootfd, const struct mount_op *op)
{
    char size[32];
    snprintf(size, sizeof size, "%llu", op->size);
    int target = ensure_target("tmpfs", rootfd, op->dst, 1);
    int fs = fs_open("tmpfs", "tmpfs");
    fs_set("tmpfs", fs, "mode", "1777");
    fs_set("tmpfs", fs, "size", size);
    attach("tmpfs", fs_create("tmpfs", fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), target, op->dst);
    close(target);
}

static void mount_bind(int rootfd, const struct mount_op *op)
{
    const char *step = op->kind == MOUNT_RO_BIND ? "ro-bind" : "bind";
    struct stat st;
    if (stat(op->src, &st) < 0)
        die_errno(step, "stat %s", op->src);
    int tree = open_tree(AT_FDCWD, op->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        die_errno(step, "open_tree %s", op->src);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
    if (op->kind == MOUNT_RO_BIND)
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        die_errno(step, "mount_setattr %s", op->src);
    int target = ensure_target(step, rootfd, op->dst, S_ISDIR(st.st_mode));
    attach(step, tree, target, op->dst);
    close(target);
}

/* The private tmpfs that holds every --ro-copy (one for all: a tmpfs costs a
 * superblock), detached and closed when the mounts are done. */
static int copies_tmpfs = -1;

/* A read-only copy of a small host file (/etc/passwd): written into a
 * private tmpfs and bound from there, so mountinfo names "/passwd" on a tmpfs
 * where a bind of the host file would name its path on the host. */
static void mount_ro_copy(int rootfd, const struct mount_op *op)
{
    const char *step = "ro-copy";
    int src = open(op->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        die_errno(step, "open %s", op->src);
    char data[65536];
    ssize_t n = read(src, data, sizeof data);
    if (n < 0)
        die_errno(step, "read %s", op->src);
    char more;
    if (n == (ssize_t)sizeof data && read(src, &more, 1) != 0)
        die_with(step, EFBIG, "%s: larger than %zu bytes", op->src, sizeof data);
    close(src);
    if (copies_tmpfs < 0) {
        int fs = fs_open(step, "tmpfs");
        fs_set(step, fs, "mode", "0755");
        fs_set(step, fs, "size", "4194304");
        fs_set(step, fs, "nr_inodes", "256");
        copies_tmpfs = fs_create(step, fs, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    }
    /* Named after the destination's base name; a second copy with the same
     * base name gets a numbered one. */
    const char *slash = strrchr(op->dst, '/');
    if (slash == NULL || slash[1] == '\0')
        die_with(step, EINVAL, "%s: not a file name", op->dst);
    char name[256];
    snprintf(name, sizeof name, "%s", slash + 1);
    int file = openat(copies_tmpfs, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    for (int i = 1; file < 0 && errno == EEXIST && i < 100; i++) {
        snprintf(name, sizeof name, "%s.%d", slash + 1, i);
        file = openat(copies_tmpfs, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    }
    if (file < 0 || write(file, data, (size_t)n) != n || close(file) < 0)
        die_errno(step, "write the copy of %s", op->src);
    int tree = open_tree(copies_tmpfs, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        die_errno(step, "open_tree copy of %s", op->src);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
        die_errno(step, "mount_setattr %s", op->dst);
    int target = ensure_target(step, rootfd, op->dst, 0);
    attach(step, tree, target, op->dst);
    close(target);
}

void mounts_apply_done(void)
{
    if (copies_tmpfs >= 0)
        close(copies_tmpfs);
    copies_tmpfs = -1;
}

/* --owned-dir: a directory in the container's writable layer (the default
 * /work of a container whose layer is a tmpfs), owned by the container's user. */
static void make_owned_dir(int rootfd, const struct mount_op *op)
{
    const char *step = "owned-dir";
    int fd = ensure_target(step, rootfd, op->dst, 1);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die_errno(step, "stat %s", op->dst);
    if (!S_ISDIR(st.st_mode))
        die_with(step, ENOTDIR, "%s exists and is not a directory", op->dst);
    if (fchownat(fd, "", op->uid, op->gid, AT_EMPTY_PATH) < 0)
        die_errno(step, "chown %s", op->dst);
    close(fd);
}

void mounts_apply(int rootfd, const struct mount_op *op)
{
    if (op->kind == MOUNT_OWNED_DIR)
        make_owned_dir(rootfd, op);
    else if (op->kind == MOUNT_TMPFS)
        mount_tmpfs(rootfd, op);
    else if (op->kind == MOUNT_RO_COPY)
        mount_ro_copy(rootfd, op);
    else
        mount_bind(rootfd, op);
}

void mounts_pivot_root(const char *rootfs_mount)
{
    /* pivot_root(".", ".") stacks the old root on top of the new one; the
     * umount2 then detaches it, so the container sees no host path. */
    if (chdir(rootfs_mount) < 0)
        die_errno("pivot-root", "chdir %s", rootfs_mount);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die_errno("pivot-root", "pivot_root %s", rootfs_mount);
    if (umount2(".", MNT_DETACH) < 0)
        die_errno("pivot-root", "detach old root");
    if (chdir("/") < 0)
        die_errno("pivot-root", "chdir /");
}

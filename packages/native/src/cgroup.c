/* cgroup.c: move the launcher into the container's cgroup(s). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "die.h"

static void cgroup_join(const char *procs_file)
{
    int fd = open(procs_file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die_errno("cgroup", "open %s", procs_file);
    /* "0" means "the writing process" on v1 and v2 and is immune to pid
     * namespaces; the launcher is still in the host pid ns here anyway. */
    if (write(fd, "0", 1) != 1)
        die_errno("cgroup", "write %s", procs_file);
    if (close(fd) < 0)
        die_errno("cgroup", "close %s", procs_file);
}

void cgroup_join_all(const struct str_list *procs_files)
{
    for (size_t i = 0; i < procs_files->len; i++)
        cgroup_join(procs_files->items[i]);
}

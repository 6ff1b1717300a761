/* fds.c: close inherited file descriptors (see fds.h). close_range(2) is in
 * every kernel the launcher supports (it needs mount_setattr, Linux 5.12). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "die.h"
#include "fds.h"

static void close_between(unsigned int first, unsigned int last)
{
    if (first > last)
        return;
    if (syscall(SYS_close_range, first, last, 0U) < 0)
        die_errno("fds", "close_range(%u, %u)", first, last);
}

void fds_close_inherited(int keep)
{
    if (keep < 3) {
        close_between(3, ~0U);
        return;
    }
    close_between(3, (unsigned int)keep - 1);
    close_between((unsigned int)keep + 1, ~0U);
}

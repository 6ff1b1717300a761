/* command.h: the last process before the user's program: drop everything and
 * exec. Shared by run (pid 2) and exec (the joined child). */
#ifndef REG_COMMAND_H
#define REG_COMMAND_H

#include "options.h"

/* Never returns. report_fd: the close-on-exec pipe to the parent (report.h).
 * host_proc_fd: an fd of the host's /proc to learn our host pid from, or -1
 * when the parent already knows it. Exit 125 on setup failure, 127 when
 * execvp fails. */
_Noreturn void command_exec(const struct options *o, int report_fd, int host_proc_fd);

#endif

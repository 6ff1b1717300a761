/* control.h: the control socket of a parked launcher (park.c, attach.c).
 *
 * Wire format, one connection per container:
 *   client → park   u32 little-endian length L, then L bytes: the plan, the
 *                   argv of a "run" (first string "run"), each string
 *                   NUL-terminated; optionally 3 fds (stdin, stdout, stderr)
 *                   as SCM_RIGHTS on the first bytes;
 *                   then, while the container runs, one byte per signal to
 *                   forward to its pid 1;
 *   park → client   "<exit code>\n" when the container's pid 1 has ended
 *                   (the command's code, 128+signal, 125 setup failure).
 * Closing before a complete plan means "not needed": the parked launcher
 * exits 0 (that is how a pool shrinks). */
#ifndef REG_CONTROL_H
#define REG_CONTROL_H

#include <stdbool.h>

/* A plan larger than this is refused (the real ones are a few KiB). */
#define CONTROL_PLAN_MAX (1U << 20)

/* Binds PATH.tmp (mode 0600), listens, then renames it to PATH: a path that
 * exists is a launcher ready to accept. Returns the listening fd. */
int control_listen(const char *path);

/* Accepts one connection (close-on-exec); -1 when idle_seconds (0: no
 * limit) passed with none. */
int control_accept(int listen_fd, unsigned int idle_seconds);

/* Reads a plan. Returns its argv (argv[0] "reg-launch", argv[1] "run", …,
 * NULL-terminated, *argc set) or NULL when the peer closed before a whole
 * plan. fds[0..2] receive the passed stdio fds, or -1. */
char **control_recv_plan(int conn, int *argc, int fds[3]);

int control_connect(const char *path);

/* Sends the plan argv (n strings), with our fds 0-2 when with_stdio. */
void control_send_plan(int sock, char *const *argv, bool with_stdio);

/* Best effort: "<code>\n" to the peer (it may be gone). */
void control_send_code(int conn, int code);

#endif

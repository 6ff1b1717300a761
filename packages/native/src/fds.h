/* fds.h: the launcher's first step: close every inherited file descriptor.
 *
 * Whoever spawns the launcher may leak descriptors to it (a pty master of
 * another container's terminal, a socket of the host). Nothing but stdin,
 * stdout, stderr and the status fd may reach a container, so the rest is
 * closed before any other step, in every mode. */
#ifndef REG_FDS_H
#define REG_FDS_H

/* Closes every fd >= 3 except keep (-1: none). */
void fds_close_inherited(int keep);

#endif

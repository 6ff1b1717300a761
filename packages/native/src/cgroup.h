/* cgroup.h: join cgroups created by TypeScript. The launcher never creates,
 * configures or removes a cgroup; it only moves itself in, first, so every
 * process it forks is accounted and limited from birth. */
#ifndef REG_CGROUP_H
#define REG_CGROUP_H

#include "options.h"

/* Writes the caller's pid into each cgroup.procs file (v1 or v2). */
void cgroup_join_all(const struct str_list *procs_files);

#endif

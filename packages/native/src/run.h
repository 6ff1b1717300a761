/* run.h: "reg-launch run": create a container and run a command in it. */
#ifndef REG_RUN_H
#define REG_RUN_H

#include "options.h"

_Noreturn void run_container(const struct options *o);

/* Steps (2) onwards of run, for a launcher already in its cgroups and
 * namespaces (run_container, or a parked launcher once its plan arrived).
 * ctl: the parked launcher's control connection, or -1 (control.h). */
_Noreturn void run_in_namespaces(const struct options *o, int ctl);

#endif

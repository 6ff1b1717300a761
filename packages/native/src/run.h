/* run.h: "reg-launch run": create a container and run a command in it. */
#ifndef REG_RUN_H
#define REG_RUN_H

#include "options.h"

_Noreturn void run_container(const struct options *o);

#endif

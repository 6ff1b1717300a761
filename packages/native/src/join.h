/* join.h: "reg-launch exec": run a command inside a running container. */
#ifndef REG_JOIN_H
#define REG_JOIN_H

#include "options.h"

_Noreturn void join_container(const struct options *o);

#endif

/* park.h: "reg-launch park" and "reg-launch attach" (see main.c). */
#ifndef REG_PARK_H
#define REG_PARK_H

#include "options.h"

_Noreturn void park_launcher(const struct options *park);

_Noreturn void attach_plan(const struct options *o);

#endif

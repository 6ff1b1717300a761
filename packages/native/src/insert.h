/* insert.h: "reg-launch insert": add runtime layers to a running container. */
#ifndef REG_INSERT_H
#define REG_INSERT_H

#include "options.h"

_Noreturn void insert_layers(const struct options *o);

#endif

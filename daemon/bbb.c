/* Placeholder until its owner lands it. */
#include "bbb.h"

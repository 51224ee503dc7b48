/* Placeholder until its owner lands it. */
#include "config.h"

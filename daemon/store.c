/* Placeholder until its owner lands it. */
#include "store.h"

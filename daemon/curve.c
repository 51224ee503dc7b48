/* Placeholder until its owner lands it. */
#include "curve.h"

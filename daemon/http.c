/* Placeholder until its owner lands it. */
#include "http.h"

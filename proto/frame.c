/* Placeholder until the wire helper lands the framing. */
#include "frame.h"

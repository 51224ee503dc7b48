/* The one instance of the daemon's counters (stats.h). */
#include "stats.h"

DaemonStats daemon_stats;

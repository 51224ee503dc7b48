#pragma once
/* The one rule for names that cross the wire and the config: agent ids, BBB server names and experiment
 * names are [A-Za-z0-9._-]{1,ID_MAX}. They appear in URLs, SQLite rows, Prometheus labels and file
 * names, so nothing that needs quoting gets in. */

#include <stdbool.h>

#define ID_MAX 64

bool id_is_valid(const char *s);
